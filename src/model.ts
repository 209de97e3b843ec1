// The public Model: a forward engine, a tokenizer and a config behind `generate`, `chat` and `logits`.
//
// Chapters: public types -> validation -> the Generation handle -> Model. Request options and their
// defaults are in decode/options.ts.
import { ConfigError, ContextOverflowError, ModelDisposedError } from './errors.js';
import { singleBlockAttention } from './decode/block-diffusion.js';
import { generateTokens } from './decode/generate.js';
import { resolveSettings, type GenerateOptions } from './decode/options.js';
import type { DecodeSettings, StepEvent } from './decode/types.js';
import type { ForwardEngine } from './models/engine-types.js';
import type { AttentionKind, ModelConfig } from './models/types.js';
import { TextStream } from './text-stream.js';

export type { StepEvent, StrategyName, CacheMode } from './decode/types.js';
export { STRATEGY_NAMES } from './decode/types.js';
export type { GenerateOptions, Remasking, DreamAlgorithm } from './decode/options.js';
export { defaultStrategy, resolveSettings } from './decode/options.js';

// ---------------------------------------------------------------------------------------------------
// Public types

export interface ChatMessage {
  role: string;
  content: string;
}

/** The tokenizer methods Model uses; TextTokenizer in tokenizer.ts implements them. */
export interface TokenizerLike {
  encode(text: string, options?: { addSpecialTokens?: boolean }): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  applyChatTemplate(messages: readonly ChatMessage[], options?: { addGenerationPrompt?: boolean }): string;
}

/** Text that became final, in order. Concatenating all pieces gives the result's text. */
export interface TextEvent {
  type: 'text';
  text: string;
}

export type GenerateEvent = StepEvent | TextEvent;

export interface GenerateStats {
  forwards: number;           // every forward of the request, prompt prefill included
  tokensPerForward: number;   // generatedTokens / forwards after the prompt prefill
  tokensPerSecond: number;    // generatedTokens / time after the prompt prefill
  timeToFirstBlockMs: number; // from the start of the request until its first block has no masks
  prefillMs: number;          // prompt prefill forwards (0 when the prompt is shorter than one block)
  totalMs: number;
  promptTokens: number;
  generatedTokens: number;    // tokens in the result, the stop token not included
}

export interface GenerateResult {
  text: string;               // decoded with special tokens skipped ('' without a tokenizer)
  tokens: number[];           // generated ids, ending before the first stop token
  stopReason: 'stop' | 'length';
  stats: GenerateStats;
}

/**
 * One running request. Iterate it for events, or await `result`, or both. The request starts at once
 * (after any request queued before it), whether or not anyone iterates. Events are buffered until read.
 * If the request fails, `result` rejects and iteration throws the same error.
 */
export interface Generation extends AsyncIterable<GenerateEvent> {
  readonly result: Promise<GenerateResult>;
}

/** Rows of `Model.logits`. */
export interface LogitsResult {
  rows: number;
  vocab: number;
  data: Float32Array;  // (rows, vocab) raw LM-head output, no logit shift applied
}

export interface LogitsOptions {
  /** Attention mask of the forward. Default: the checkpoint's own. */
  attention?: AttentionKind;
  /** Block length for 'block-causal'. Default: the checkpoint's block size. */
  blockSize?: number;
}

// ---------------------------------------------------------------------------------------------------
// Validation

function integerOption(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError('INVALID_OPTION', `Invalid ${name} ${value}: expected an integer >= ${min}.`);
  }
  return value;
}

function checkTokenIds(ids: readonly number[], vocab: number, what: string): void {
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocab) {
      throw new ConfigError('INVALID_OPTION', `Invalid token id ${id} at index ${i} of the ${what}: expected an integer in [0, ${vocab - 1}].`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Generation handle

/** Buffers events from the running request and hands them to one async iterator. */
class GenerationHandle implements Generation {
  readonly result: Promise<GenerateResult>;
  private readonly events: GenerateEvent[] = [];
  private finished = false;
  private failure: unknown = null;
  private wake: (() => void) | null = null;

  constructor(run: (emit: (event: GenerateEvent) => void) => Promise<GenerateResult>) {
    this.result = run((event) => this.push(event)).then(
      (result) => { this.finish(null); return result; },
      (error: unknown) => { this.finish(error); throw error; },
    );
    // A caller who only iterates gets the error from the iterator, so an unread `result` must not be reported as
    // an unhandled rejection.
    this.result.catch(() => {});
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerateEvent> {
    for (;;) {
      const event = this.events.shift();
      if (event) {
        yield event;
        continue;
      }
      if (this.finished) {
        if (this.failure !== null) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => { this.wake = resolve; });
    }
  }

  private push(event: GenerateEvent): void {
    this.events.push(event);
    this.notify();
  }

  private finish(error: unknown): void {
    this.finished = true;
    this.failure = error;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

// ---------------------------------------------------------------------------------------------------
// Model

export class Model {
  readonly engine: ForwardEngine;
  readonly tokenizer: TokenizerLike | null;
  readonly config: ModelConfig;
  // Requests share one KV cache, so each waits for the one before it. The tail never rejects.
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  /** `config` defaults to the engine's; the decoding loops always read the engine's. */
  constructor(engine: ForwardEngine, tokenizer: TokenizerLike | null, config: ModelConfig = engine.config) {
    this.engine = engine;
    this.tokenizer = tokenizer;
    this.config = config;
  }

  /**
   * Generates a continuation of `prompt`: text (encoded with the tokenizer's special tokens, such as
   * BOS) or token ids (used as they are). Options are validated before the request is queued.
   */
  generate(prompt: string | readonly number[], options: GenerateOptions = {}): Generation {
    let settings: DecodeSettings;
    let ids: number[];
    try {
      settings = resolveSettings(options, this.config);
      ids = typeof prompt === 'string' ? this.requireTokenizer().encode(prompt, { addSpecialTokens: true }) : [...prompt];
      checkTokenIds(ids, this.config.vocab, 'prompt');
    } catch (error) {
      return new GenerationHandle(() => Promise.reject(error));
    }
    return new GenerationHandle((emit) => this.enqueue(() => this.run(ids, settings, options.onStep, emit)));
  }

  /** Generates the assistant's reply to `messages` through the checkpoint's chat template. */
  chat(messages: readonly ChatMessage[], options: GenerateOptions = {}): Generation {
    let text: string;
    try {
      text = this.requireTokenizer().applyChatTemplate(messages, { addGenerationPrompt: true });
    } catch (error) {
      return new GenerationHandle(() => Promise.reject(error));
    }
    return this.generate(text, options);
  }

  /**
   * Computes the raw logits of every position of `tokens`. 'block-causal' runs one forward per block, in
   * order, so each block attends to the cached K/V of the blocks before it; 'full' forwards the whole
   * sequence from position 0; 'causal' runs chunks of up to the engine's maxLogitRows positions. A forward
   * returns at most maxLogitRows rows, so 'full' (and a longer block) repeats the forward for the rest.
   */
  async logits(tokens: readonly number[], options: LogitsOptions = {}): Promise<LogitsResult> {
    const attention = options.attention ?? this.config.attention;
    checkTokenIds(tokens, this.config.vocab, 'tokens');
    const blockSize = integerOption('blockSize', options.blockSize, this.config.blockSize, 1);
    if (attention === 'block-causal' && blockSize < 1) {
      throw new ConfigError('INVALID_OPTION', 'Block-causal logits need a blockSize >= 1, and the checkpoint has no block size.');
    }
    return this.enqueue(() => this.runLogits(Int32Array.from(tokens), attention, blockSize));
  }

  /**
   * Releases the engine's workers and memory. The running request rejects with ModelDisposedError at its
   * next forward, and queued and later requests reject with it too.
   */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.engine.dispose();
    await this.queue;
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(() => {
      if (this.disposed) throw new ModelDisposedError();
      return job();
    });
    this.queue = run.catch(() => {});
    return run;
  }

  private requireTokenizer(): TokenizerLike {
    if (!this.tokenizer) {
      throw new ConfigError('MISSING_FIELD', 'This model was loaded without a tokenizer; pass token ids instead of text.');
    }
    return this.tokenizer;
  }

  private async run(
    prompt: number[],
    settings: DecodeSettings,
    onStep: ((event: StepEvent) => void) | undefined,
    emit: (event: GenerateEvent) => void,
  ): Promise<GenerateResult> {
    const start = performance.now();
    const textStream = this.tokenizer ? new TextStream(this.tokenizer, { skipSpecialTokens: true }) : null;
    let emittedTokens = 0;

    const outcome = await generateTokens(this.engine, prompt, settings, (event) => {
      emit(event);
      onStep?.(event);
      if (textStream && event.finalized > emittedTokens) {
        const text = textStream.push(event.canvas.subarray(emittedTokens, event.finalized));
        emittedTokens = event.finalized;
        if (text) emit({ type: 'text', text });
      }
    });
    if (textStream) {
      // A loop can finalize tokens without a later event (token editing finalizes its last block at the end).
      if (outcome.tokens.length > emittedTokens) {
        const text = textStream.push(outcome.tokens.subarray(emittedTokens));
        if (text) emit({ type: 'text', text });
      }
      const rest = textStream.flush();
      if (rest) emit({ type: 'text', text: rest });
    }

    const totalMs = performance.now() - start;
    const tokens = Array.from(outcome.tokens);
    const decodeForwards = outcome.forwards - outcome.prefillForwards;
    const decodeSeconds = (totalMs - outcome.prefillMs) / 1000;
    return {
      text: this.tokenizer ? this.tokenizer.decode(tokens, { skipSpecialTokens: true }) : '',
      tokens,
      stopReason: outcome.stopReason,
      stats: {
        forwards: outcome.forwards,
        tokensPerForward: decodeForwards > 0 ? tokens.length / decodeForwards : 0,
        tokensPerSecond: decodeSeconds > 0 ? tokens.length / decodeSeconds : 0,
        timeToFirstBlockMs: outcome.timeToFirstBlockMs,
        prefillMs: outcome.prefillMs,
        totalMs,
        promptTokens: prompt.length,
        generatedTokens: tokens.length,
      },
    };
  }

  private async runLogits(tokens: Int32Array, attention: AttentionKind, blockSize: number): Promise<LogitsResult> {
    const n = tokens.length;
    const vocab = this.config.vocab;
    if (n > this.engine.contextLength) {
      throw new ContextOverflowError(n, this.engine.contextLength,
        `${n} tokens do not fit in the context of ${this.engine.contextLength} positions; pass fewer tokens.`);
    }
    const data = new Float32Array(n * vocab);

    // Forwards [start, end) and copies its rows into `data`. A forward computes at most maxLogitRows
    // rows, so a longer range is forwarded again for the remaining rows.
    const rowsPerForward = Math.max(1, this.engine.maxLogitRows);
    const forwardRange = async (start: number, end: number, kind: AttentionKind): Promise<void> => {
      for (let first = 0; first < end - start; first += rowsPerForward) {
        const count = Math.min(rowsPerForward, end - start - first);
        const rows = new Int32Array(count);
        for (let r = 0; r < count; r++) rows[r] = first + r;
        const result = await this.engine.forward({ tokens: tokens.subarray(start, end), start, attention: kind, logitRows: rows });
        data.set(result.logits.subarray(0, count * vocab), (start + first) * vocab);
      }
    };

    if (attention === 'full') {
      if (n > 0) await forwardRange(0, n, 'full');
    } else {
      const step = attention === 'causal' ? Math.min(rowsPerForward, this.engine.maxRows) : blockSize;
      const kind = attention === 'causal' ? 'causal' : singleBlockAttention(this.config, blockSize);
      for (let start = 0; start < n; start += step) await forwardRange(start, Math.min(start + step, n), kind);
    }
    return { rows: n, vocab, data };
  }
}
