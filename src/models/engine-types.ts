// The contract between the decoding strategies (src/decode) and the transformer engine (src/runtime).
// A strategy only sees token ids, logits rows and the per-row candidate records; it never sees weights.
import type { AttentionKind, ModelConfig } from './types.js';

export interface ForwardRequest {
  /** Token ids placed at cache indices [start, start + tokens.length). */
  tokens: Int32Array;
  /** Cache index of tokens[0]. Keys [0, start) must already hold valid K/V from earlier forwards. */
  start: number;
  /** RoPE positions of the tokens; defaults to start + i. */
  positions?: Int32Array;
  /** Mask between these queries and the keys at cache indices [0, keys). */
  attention: AttentionKind;
  /** Keys visible to the queries; defaults to start + tokens.length. A larger value lets a block see cached
   *  K/V after it (the Fast-dLLM dual cache). */
  keys?: number;
  /** B of the block-causal mask; defaults to the model's block size. */
  blockSize?: number;
  /** Indices into `tokens` whose logits are computed (the LM head runs only for these rows). */
  logitRows: Int32Array;
  /** Temperature of the candidate records (argmax probability, runner-up, entropy); <= 0 means 1. */
  temperature?: number;
}

/** Output rows of one forward, in the order of `logitRows`. Views stay valid until the next forward. */
export interface ForwardResult {
  logits: Float32Array;      // (rows, vocab) raw LM-head output, no logit shift applied
  argmax: Int32Array;        // (rows) best token, lowest id on ties
  prob: Float32Array;        // (rows) its probability under softmax(logits / T)
  secondProb: Float32Array;  // (rows) the runner-up's probability
  entropy: Float32Array;     // (rows) -sum p ln p, in nats
}

/**
 * A transformer with a KV cache. Each forward writes the K/V of its tokens at their cache indices, so
 * a block's K/V become part of the prefix once the caller moves `start` past it; rewriting the same
 * indices in a later forward replaces them.
 */
export interface ForwardEngine {
  readonly config: ModelConfig;
  /** KV cache capacity in positions. */
  readonly contextLength: number;
  /** Tokens per forward, at most. */
  readonly maxRows: number;
  /** Logit rows per forward (`logitRows.length`), at most. */
  readonly maxLogitRows: number;
  readonly threads: number;
  forward(request: ForwardRequest): Promise<ForwardResult>;
  dispose(): Promise<void>;
}
