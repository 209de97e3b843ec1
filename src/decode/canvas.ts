// The state one request's decoding loop works on: the sequence [prompt | generated], which positions
// are final, the stop check, counters, and the per-forward event. Every loop (full-canvas.ts,
// block-diffusion.ts, wedlm.ts) drives it.
import { AbortError, ContextOverflowError } from '../errors.js';
import type { ModelConfig } from '../models/types.js';
import type { Rng } from './rng.js';
import { sampleCommits, selectCommits, selectLeftmost } from './schedule.js';
import type { Scorer } from './scoring.js';
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
  /**
   * Absolute index from which tokens may still change although unmasked. Token editing sets it to the start
   * of the block being edited, so `finalized` (and the streamed text) never covers an editable token.
   */
  finalLimit: number;
  forwards = 0;
  prefillForwards = 0;

  private readonly stopIds: Set<number>;
  private readonly signal: AbortSignal | undefined;
  private readonly onStep: StepListener | undefined;
  private readonly earlyStop: boolean;
  private readonly startTime = performance.now();
  private prefillMs = 0;
  private firstBlockMs = -1;

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
    this.earlyStop = settings.eosEarlyStop;
    this.finalLimit = total;
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

  /** Writes scorer slot `chosen[i]`'s token at `positions[chosen[i]]`. Returns the absolute positions written. */
  commit(positions: readonly number[], chosen: readonly number[], scorer: Scorer): number[] {
    const written: number[] = [];
    for (const c of chosen) {
      this.tokens[positions[c]] = scorer.tokens[c];
      written.push(positions[c]);
    }
    return written;
  }

  /**
   * Counts one forward, moves `finalized` over the newly completed prefix, detects a stop token there,
   * and emits the step event. `committed` contains absolute positions.
   */
  afterForward(kind: ForwardKind, block: number, committed: number[], edited: number[] = [], engineForwards = 1): void {
    this.forwards += engineForwards;
    if (kind === 'prefill') {
      this.prefillForwards += engineForwards;
      this.prefillMs = performance.now() - this.startTime;
    }

    this.advanceFinalized();
    const P = this.promptLength;

    this.onStep?.({
      type: 'step',
      forward: this.forwards,
      kind,
      block,
      canvas: this.tokens.slice(P),
      maskId: this.maskId,
      committed: committed.map((position) => position - P),
      edited: edited.map((position) => position - P),
      finalized: this.finalized,
    });
  }

  /** Moves `finalized` over committed tokens before `finalLimit`, and detects a stop token there. */
  advanceFinalized(): void {
    const P = this.promptLength;
    while (!this.stopped && this.finalized < this.maxTokens && P + this.finalized < this.finalLimit) {
      const token = this.tokens[P + this.finalized];
      if (token === this.maskId) break;
      if (this.stopIds.has(token)) this.stopped = true;
      else this.finalized++;
    }
  }

  /** A stop token is final and the request ends early (eosEarlyStop). */
  get stopNow(): boolean {
    return this.stopped && this.earlyStop;
  }

  /** Generation ends: a stop token is final (with eosEarlyStop), or every position is committed. */
  get done(): boolean {
    return this.stopNow || this.finalized === this.maxTokens;
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

/**
 * Chooses which of the `count` scored candidates one step commits: at least `k` (at least one), picked
 * by the request's selection rule, plus, for confidence selection, every other one at or above the
 * threshold. Returns scorer slot indices in ascending order.
 */
export function chooseCommits(settings: DecodeSettings, scorer: Scorer, count: number, k: number, rng: Rng): number[] {
  if (count === 0) return [];
  if (settings.selection === 'sequential') return selectLeftmost(count, k);
  if (settings.algTemp > 0) {
    return sampleCommits(scorer.scores, count, k, settings.algTemp, () => rng.nextFloat());
  }
  return selectCommits(scorer.scores, count, k, settings.threshold);
}
