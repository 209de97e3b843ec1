// The public Model: a forward engine, a tokenizer and a config behind `generate`, `chat` and `logits`.
//
// Chapters: public types -> option defaults and validation -> the Generation handle -> Model.
import { ConfigError, ContextOverflowError } from './errors.js';
import { singleBlockAttention } from './decode/block-diffusion.js';
import { generateTokens } from './decode/generate.js';
import type { DecodeSettings, StepEvent } from './decode/types.js';
import type { ForwardEngine } from './models/engine-types.js';
import type { AttentionKind, Family, ModelConfig } from './models/types.js';
import { TextStream } from './text-stream.js';

export type { StepEvent } from './decode/types.js';

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

export interface GenerateOptions {
  /** Generated positions; the result may be shorter when a stop token ends it. Default 128. */
  maxTokens?: number;
  /** Positions refined together. Default: the checkpoint's block size, or 32 when it has none. */
  blockLength?: number;
  /**
   * Refinement steps over the whole generation, spread evenly over the blocks (LLaDA, Dream and
   * llama.cpp count steps this way). Excludes `stepsPerBlock`.
   */
  steps?: number;
  /** Refinement steps per block (SDAR counts steps this way). Excludes `steps`. */
  stepsPerBlock?: number;
  /**
   * Commit every masked position whose confidence is at least this, in (0, 1]; null disables the
   * threshold. Default: the family's threshold (0.9) when neither `steps` nor `stepsPerBlock` is set,
   * else null. With a step budget as well, a step commits whichever is more: the budget's count or the
   * positions at or above the threshold.
   */
  threshold?: number | null;
  /** Sampling temperature; 0 decodes greedily. Default 0. */
  temperature?: number;
  /** Sample only among the k most likely tokens; 0 disables. Default 0. */
  topK?: number;
  /** Sample only within the top-p nucleus, in (0, 1]; 1 disables. Default 1. */
  topP?: number;
  /** Seed of the sampler; the same seed and options reproduce the same output. Default: random. */
  seed?: number;
  /** Stops the request between forwards; the promise then rejects with AbortError. */
  signal?: AbortSignal;
  /** Called after every forward with the same event that the iterator yields. */
  onStep?: (event: StepEvent) => void;
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
// Defaults and validation

/**
 * Confidence threshold per family when a request sets no step budget. Sources: Fast-dLLM v2's chatbot
 * uses 0.9; SDAR's serving examples (JetEngine, LMDeploy) use 0.9 where its generate.py defaults to
 * 0.85; the Fast-dLLM paper picks 0.9 for LLaDA and Dream. Causal checkpoints cannot generate.
 */
const DEFAULT_THRESHOLD: Record<Family, number> = {
  'sdar': 0.9,
  'fast-dllm-v2': 0.9,
  'llada': 0.9,
  'dream': 0.9,
  'qwen2': 0.9,
  'qwen3': 0.9,
};

const DEFAULT_MAX_TOKENS = 128;
const DEFAULT_BLOCK_LENGTH = 32;

/**
 * Logit rows per forward in `logits`. The wasm engine computes at least 64 rows per forward for any
 * vocabulary (more when the vocabulary is small), so 64 always fits.
 */
const LOGITS_ROWS_PER_FORWARD = 64;

/** Resolves defaults and throws ConfigError, naming the option and its valid range, on invalid input. */
export function resolveSettings(options: GenerateOptions, config: ModelConfig): DecodeSettings {
  const maxTokens = integerOption('maxTokens', options.maxTokens, DEFAULT_MAX_TOKENS, 1);
  const blockLength = integerOption('blockLength', options.blockLength, config.blockSize > 0 ? config.blockSize : DEFAULT_BLOCK_LENGTH, 1);
  const steps = options.steps === undefined ? null : integerOption('steps', options.steps, 0, 1);
  const stepsPerBlock = options.stepsPerBlock === undefined ? null : integerOption('stepsPerBlock', options.stepsPerBlock, 0, 1);
  if (steps !== null && stepsPerBlock !== null) {
    throw new ConfigError('INVALID_OPTION', `Set either steps (${steps}) or stepsPerBlock (${stepsPerBlock}), not both.`);
  }

  let threshold: number | null;
  if (options.threshold === undefined) {
    threshold = steps === null && stepsPerBlock === null ? DEFAULT_THRESHOLD[config.family] ?? 0.9 : null;
  } else if (options.threshold === null) {
    threshold = null;
  } else {
    threshold = options.threshold;
    if (!(threshold > 0 && threshold <= 1)) {
      throw new ConfigError('INVALID_OPTION', `Invalid threshold ${threshold}: expected a number in (0, 1].`);
    }
  }
  // Without a threshold and without a budget, commit one position per step.
  const budgetPerBlock = threshold === null && steps === null && stepsPerBlock === null ? blockLength : stepsPerBlock;

  const temperature = options.temperature ?? 0;
  if (!(temperature >= 0 && Number.isFinite(temperature))) {
    throw new ConfigError('INVALID_OPTION', `Invalid temperature ${temperature}: expected a finite number >= 0 (0 is greedy).`);
  }
  const topK = integerOption('topK', options.topK, 0, 0);
  const topP = options.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) {
    throw new ConfigError('INVALID_OPTION', `Invalid topP ${topP}: expected a number in (0, 1] (1 disables it).`);
  }
  if (options.seed !== undefined && !Number.isInteger(options.seed)) {
    throw new ConfigError('INVALID_OPTION', `Invalid seed ${options.seed}: expected an integer.`);
  }

  return {
    maxTokens,
    blockLength,
    steps,
    stepsPerBlock: budgetPerBlock,
    threshold,
    sampling: { temperature, topK, topP },
    seed: options.seed,
    signal: options.signal,
  };
}

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
   * sequence from position 0; 'causal' runs chunks of 64 positions. A forward returns at most 64 rows, so
   * 'full' (and a block longer than 64) repeats the forward once per 64 rows.
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

  /** Releases the engine's workers and memory. Waits for queued requests first. */
  async dispose(): Promise<void> {
    await this.queue;
    await this.engine.dispose();
  }

  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    const run = this.queue.then(job);
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

    // Forwards [start, end) and copies its rows into `data`. A forward computes at most
    // LOGITS_ROWS_PER_FORWARD rows, so a longer range is forwarded again for the remaining rows.
    const forwardRange = async (start: number, end: number, kind: AttentionKind): Promise<void> => {
      for (let first = 0; first < end - start; first += LOGITS_ROWS_PER_FORWARD) {
        const count = Math.min(LOGITS_ROWS_PER_FORWARD, end - start - first);
        const rows = new Int32Array(count);
        for (let r = 0; r < count; r++) rows[r] = first + r;
        const result = await this.engine.forward({ tokens: tokens.subarray(start, end), start, attention: kind, logitRows: rows });
        data.set(result.logits.subarray(0, count * vocab), (start + first) * vocab);
      }
    };

    if (attention === 'full') {
      if (n > 0) await forwardRange(0, n, 'full');
    } else {
      const step = attention === 'causal' ? LOGITS_ROWS_PER_FORWARD : blockSize;
      const kind = attention === 'causal' ? 'causal' : singleBlockAttention(this.config, blockSize);
      for (let start = 0; start < n; start += step) await forwardRange(start, Math.min(start + step, n), kind);
    }
    return { rows: n, vocab, data };
  }
}
