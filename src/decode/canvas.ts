// The state one request's decoding loop works on: the sequence [prompt | generated], which positions
// are final, the stop check, counters, and the per-forward event. Both loops (block-diffusion.ts and
// full-canvas.ts) drive it.
import { AbortError, ContextOverflowError } from '../errors.js';
import type { ForwardResult } from '../models/engine-types.js';
import type { ModelConfig } from '../models/types.js';
import type { Sampler } from './sampler.js';
import { selectCommits } from './schedule.js';
import type { DecodeOutcome, DecodeSettings, ForwardKind, StepListener } from './types.js';

export class Canvas {
  readonly tokens: Int32Array;       // (promptLength + maxTokens) the whole sequence, maskId where masked
  readonly promptLength: number;
  readonly maxTokens: number;
  readonly maskId: number;
  /** Generated positions [0, finalized) are committed, with no mask and no stop token among them. */
  finalized = 0;
  /** A stop token was committed at canvas index `finalized` with nothing masked before it. */
  stopped = false;
  forwards = 0;
  prefillForwards = 0;

  private readonly stopIds: Set<number>;
  private readonly signal: AbortSignal | undefined;
  private readonly onStep: StepListener | undefined;
  private readonly startTime = performance.now();
  private prefillMs = 0;
  private firstBlockMs = -1;
  // Candidate scratch for one forward: token and confidence per logit row.
  private candidateTokens: Int32Array;
  private candidateConfidences: Float64Array;

  /**
   * Lays out [prompt | maxTokens masks]. Throws ContextOverflowError when that does not fit in
   * `contextLength` positions.
   */
  constructor(prompt: ArrayLike<number>, config: ModelConfig, contextLength: number, settings: DecodeSettings, onStep?: StepListener) {
    const total = prompt.length + settings.maxTokens;
    if (prompt.length > contextLength) {
      throw new ContextOverflowError(prompt.length, contextLength,
        `The prompt has ${prompt.length} tokens but the context holds ${contextLength}; shorten the prompt.`);
    }
    if (total > contextLength) {
      throw new ContextOverflowError(total, contextLength,
        `The prompt (${prompt.length} tokens) plus maxTokens (${settings.maxTokens}) needs ${total} positions ` +
          `but the context holds ${contextLength}; set maxTokens to at most ${contextLength - prompt.length}.`);
    }
    this.tokens = new Int32Array(total);
    this.tokens.set(prompt);
    this.tokens.fill(config.maskTokenId, prompt.length);
    this.promptLength = prompt.length;
    this.maxTokens = settings.maxTokens;
    this.maskId = config.maskTokenId;
    this.stopIds = new Set(config.stopTokenIds);
    this.signal = settings.signal;
    this.onStep = onStep;
    this.candidateTokens = new Int32Array(settings.blockLength);
    this.candidateConfidences = new Float64Array(settings.blockLength);
  }

  get length(): number {
    return this.tokens.length;
  }

  /** Throws AbortError when the request's signal has fired. Called before every forward. */
  checkAbort(): void {
    if (this.signal?.aborted) {
      throw new AbortError('Generation was aborted by its AbortSignal.', { cause: this.signal.reason });
    }
  }

  /** Returns the absolute positions in [from, to) that are still masked. */
  maskedIn(from: number, to: number): number[] {
    const positions: number[] = [];
    for (let i = Math.max(from, this.promptLength); i < to; i++) {
      if (this.tokens[i] === this.maskId) positions.push(i);
    }
    return positions;
  }

  /**
   * Picks a candidate for each masked position from the rows of `result` (row r belongs to
   * `masked[r]`), commits the max(minCommit, number at or above threshold) most confident ones, and
   * returns their absolute positions in ascending order.
   */
  commitFromRows(result: ForwardResult, masked: number[], sampler: Sampler, minCommit: number, threshold: number | null): number[] {
    const count = masked.length;
    if (count > this.candidateTokens.length) {
      this.candidateTokens = new Int32Array(count);
      this.candidateConfidences = new Float64Array(count);
    }
    sampler.pickRows(result, count, this.candidateTokens, this.candidateConfidences);
    const chosen = selectCommits(this.candidateConfidences, count, minCommit, threshold);
    const positions: number[] = [];
    for (const c of chosen) {
      this.tokens[masked[c]] = this.candidateTokens[c];
      positions.push(masked[c]);
    }
    return positions;
  }

  /**
   * Counts one forward, moves `finalized` over the newly completed prefix, detects a stop token there,
   * and emits the step event. `committed` contains absolute positions.
   */
  afterForward(kind: ForwardKind, block: number, committed: number[]): void {
    this.forwards++;
    if (kind === 'prefill') {
      this.prefillForwards++;
      this.prefillMs = performance.now() - this.startTime;
    }

    const P = this.promptLength;
    while (!this.stopped && this.finalized < this.maxTokens) {
      const token = this.tokens[P + this.finalized];
      if (token === this.maskId) break;
      if (this.stopIds.has(token)) this.stopped = true;
      else this.finalized++;
    }

    this.onStep?.({
      type: 'step',
      forward: this.forwards,
      kind,
      block,
      canvas: this.tokens.slice(P),
      maskId: this.maskId,
      committed: committed.map((position) => position - P),
      finalized: this.finalized,
    });
  }

  /** Generation ends: a stop token is final, or every position is committed. */
  get done(): boolean {
    return this.stopped || this.finalized === this.maxTokens;
  }

  /** Records the time at which the first block with generated positions has no masks left. */
  markBlockFinished(): void {
    if (this.firstBlockMs < 0) this.firstBlockMs = performance.now() - this.startTime;
  }

  outcome(): DecodeOutcome {
    if (this.firstBlockMs < 0) this.firstBlockMs = performance.now() - this.startTime;
    return {
      tokens: this.tokens.slice(this.promptLength, this.promptLength + this.finalized),
      stopReason: this.stopped ? 'stop' : 'length',
      forwards: this.forwards,
      prefillForwards: this.prefillForwards,
      prefillMs: this.prefillMs,
      timeToFirstBlockMs: this.firstBlockMs,
    };
  }
}
