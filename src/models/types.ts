// Shared shapes of a loaded checkpoint: the normalised model config and the tensor records that the
// GGUF and safetensors readers produce. Families differ only in these data, never in code paths.

/** Which keys a query at index q may attend to. Block-causal: key k is visible iff floor(k/B) <= floor(q/B). */
export type AttentionKind = 'full' | 'causal' | 'block-causal';

/** RoPE pairing: 'neox' rotates (i, i + d/2) as HF Qwen/LLaMA do; 'norm' rotates (2i, 2i+1) as llama.cpp's NORM mode. */
export type RopeLayout = 'neox' | 'norm';

/** Model families known to the engine; they fix the defaults below when a checkpoint leaves them out. */
export type Family = 'sdar' | 'fast-dllm-v2' | 'dream' | 'llada' | 'llada-moe' | 'llada2' | 'qwen2' | 'qwen3';

/**
 * Mixture-of-experts FFN of layers [denseLayers, nLayers). Each row's router picks `expertsUsed` of
 * `experts` SwiGLU experts; their outputs, weighted, are added to the residual stream.
 *
 * - 'softmax' (LLaDA-MoE, OLMoE): weights are the softmax over all router logits, and the top-k of them
 *   select the experts.
 * - 'sigmoid' (LLaDA 2.x, Ling 2.0): weights are sigmoid(logits). Selection ranks sigmoid + the per-expert
 *   bias, first keeping the `groupsUsed` best of `groups` groups of consecutive experts (a group scores the
 *   sum of its two best), then the top-k inside them. The bias never enters the weights.
 */
export interface MoeConfig {
  experts: number;
  expertsUsed: number;
  expertFfn: number;         // SwiGLU inner width of one routed expert
  denseLayers: number;       // leading layers with a dense FFN of width ModelConfig.ffn
  gating: 'softmax' | 'sigmoid';
  selectionBias: boolean;    // per-expert bias added to the selection scores (blk.N.exp_probs_b.bias)
  groups: number;            // 1 when selection is not group-limited
  groupsUsed: number;
  normaliseWeights: boolean; // divide the selected weights by their sum
  weightsScale: number;      // then multiply them by this
  sharedFfn: number;         // width of the always-on shared expert, 0 when there is none
}

export interface ModelConfig {
  family: Family;
  architecture: string;      // as written in the file: HF `architectures[0]` or GGUF `general.architecture`
  nLayers: number;
  hidden: number;            // residual width
  nHeads: number;            // query heads
  nKvHeads: number;          // key/value heads (grouped-query attention when < nHeads)
  headDim: number;           // may differ from hidden / nHeads (Qwen3)
  ffn: number;               // SwiGLU inner width
  vocab: number;             // rows of the embedding and LM head (may exceed the tokenizer's vocabulary)
  ropeTheta: number;
  ropeDim: number;           // rotated dims per head (== headDim unless partial RoPE)
  ropeLayout: RopeLayout;
  normEps: number;
  qkNorm: boolean;           // per-head RMSNorm of q and k before RoPE (Qwen3, SDAR)
  qkvBias: boolean;          // biases on q/k/v projections (Qwen2, Dream, Fast-dLLM v2)
  tiedEmbeddings: boolean;   // LM head reuses token_embd.weight
  attention: AttentionKind;  // the family's attention at inference
  blockSize: number;         // block-diffusion block length B (0 for full-canvas families)
  shiftLogits: boolean;      // row i-1 predicts position i (Dream, Fast-dLLM v2)
  maskTokenId: number;       // -1 when the checkpoint has none (plain causal models)
  stopTokenIds: number[];
  bosTokenId: number;        // -1 when none
  addBos: boolean;           // prepend BOS when encoding a prompt
  maxContext: number;
  fusedQkv?: boolean;        // q, k and v stored as one blk.N.attn_qkv.weight (rows q, then k, then v)
  moe?: MoeConfig;           // absent for dense models
}

/** Element types of stored tensors, named as in GGUF. */
export type TensorType =
  | 'F32' | 'F16' | 'BF16'
  | 'Q8_0' | 'Q4_0' | 'Q4_1' | 'Q5_0' | 'Q5_1'
  | 'Q4_K' | 'Q5_K' | 'Q6_K' | 'Q8_K';

/**
 * One stored tensor. Names follow GGUF (`token_embd.weight`, `blk.3.attn_q.weight`, `output_norm.weight`);
 * the safetensors reader maps HF names onto them. `shape` is in row-major HF order: a linear layer's weight
 * is [out, in], so GGUF `ne = {in, out}` becomes [out, in]. `read()` returns exactly the stored bytes,
 * `byteLength` of them, in the file's encoding.
 */
export interface TensorInfo {
  name: string;
  type: TensorType;
  shape: number[];
  byteLength: number;
  read(): Promise<Uint8Array>;
  /**
   * Reads bytes [begin, begin + length) of the stored tensor, into `into` where the source can (see
   * ByteSource.read). Present where the tensor is one range of a file, so that a large tensor can be
   * placed part by part without keeping all of its bytes at once. The readers set it as a property that
   * object spread does not copy, so a record made as `{ ...info, read }` is read through its own `read`.
   */
  readRange?(begin: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
}

/** A checkpoint before it is placed in wasm memory. */
export interface Checkpoint {
  config: ModelConfig;
  tensors: Map<string, TensorInfo>;
  /** tokenizer.json text (HF) or one built from GGUF metadata; null when the source has none. */
  tokenizerJson: string | null;
  /** tokenizer_config.json text or an equivalent built from GGUF metadata; null when absent. */
  tokenizerConfigJson: string | null;
  chatTemplate: string | null;
  /** Every GGUF metadata key and value (tokenizer.ggml.* included) when the source is a GGUF file. */
  ggufMetadata?: Record<string, unknown>;
  close(): Promise<void>;
}
