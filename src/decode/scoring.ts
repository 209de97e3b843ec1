// Candidates and confidences of the rows of a forward, and the forward helpers every loop shares:
// splitting logit rows over several forwards when the engine caps them, classifier-free guidance, and
// keeping one row of an earlier forward.
//
// Greedy decoding without a top-k or top-p filter reads the engine's candidate records (argmax, its
// probability, the runner-up's, the entropy), so no JavaScript pass over the vocabulary runs. Sampling,
// filters and guidance need the logits row itself.
import type { ForwardEngine, ForwardRequest, ForwardResult } from '../models/engine-types.js';
import type { Rng } from './rng.js';
import { Sampler, type SamplingOptions } from './sampler.js';
import type { ModelConfig } from '../models/types.js';
import type { ConfidenceKind, DecodeSettings } from './types.js';

/** A candidate token and its confidence per scored row. Slots grow on demand and are reused. */
export class Scorer {
  tokens = new Int32Array(64);
  scores = new Float64Array(64);
  /** The engine's entropy record of each scored row (nats, at the forward's temperature). */
  entropies = new Float64Array(64);
  readonly sampler: Sampler;
  private readonly kind: ConfidenceKind;
  private readonly rng: Rng;
  private readonly vocab: number;
  private readonly stopIds: Set<number> | null;

  private readonly maskId: number;

  /**
   * `suppressIds`: candidates with these ids get confidence -Infinity (LLaDA's EOS/EoT suppression).
   * `maskId`: the mask token is never a candidate, because committing it would leave the position masked
   * and the loop would never end; a row whose best token is the mask takes its best other token.
   */
  constructor(vocab: number, sampling: SamplingOptions, kind: ConfidenceKind, rng: Rng, suppressIds: readonly number[] = [], maskId = -1) {
    this.vocab = vocab;
    this.maskId = maskId;
    this.kind = kind;
    this.rng = rng;
    this.sampler = new Sampler(vocab, sampling, rng);
    this.stopIds = suppressIds.length > 0 ? new Set(suppressIds) : null;
  }

  /** Makes room for `count` slots, keeping the first `keep`. */
  reserve(count: number, keep = 0): void {
    if (count <= this.tokens.length) return;
    const tokens = new Int32Array(count);
    const scores = new Float64Array(count);
    const entropies = new Float64Array(count);
    tokens.set(this.tokens.subarray(0, keep));
    scores.set(this.scores.subarray(0, keep));
    entropies.set(this.entropies.subarray(0, keep));
    this.tokens = tokens;
    this.scores = scores;
    this.entropies = entropies;
  }

  /** Scores rows [0, rows) of `result` into slots [at, at + rows). */
  scoreRows(result: ForwardResult, rows: number, at = 0): void {
    this.reserve(at + rows, at);
    const sampler = this.sampler;
    const kind = this.kind;
    // The engine's records contain the greedy candidate whenever no filter reshapes the distribution.
    const fromRecords = sampler.greedy && !sampler.filtered;

    for (let r = 0; r < rows; r++) {
      const slot = at + r;
      const offset = r * this.vocab;
      this.entropies[slot] = result.entropy[r];
      if (fromRecords) {
        this.tokens[slot] = result.argmax[r];
        this.scores[slot] =
          kind === 'margin' ? result.prob[r] - result.secondProb[r]
            : kind === 'entropy' ? -result.entropy[r]
              : kind === 'random' ? this.rng.nextFloat()
                : result.prob[r];
      } else {
        // Picks the token; this leaves the row's filtered distribution in the sampler.
        let token: number;
        if (sampler.greedy) {
          token = result.argmax[r];
          sampler.filterRow(result.logits, offset);
        } else {
          token = sampler.sampleRow(result.logits, offset);
        }
        this.tokens[slot] = token;
        this.scores[slot] = this.scoreFiltered(result.logits, offset, token);
      }
      if (this.tokens[slot] === this.maskId) this.replaceMaskCandidate(result.logits, offset, slot);
      if (this.stopIds?.has(this.tokens[slot])) this.scores[slot] = -Infinity;
    }
  }

  /** Puts the most likely token other than the mask in `slot`, scored by its softmax probability when the kind is one. */
  private replaceMaskCandidate(logits: Float32Array, offset: number, slot: number): void {
    let best = -1;
    let max = -Infinity;
    for (let j = 0; j < this.vocab; j++) {
      const x = logits[offset + j];
      if (j !== this.maskId && x > max) { max = x; best = j; }
    }
    if (best < 0) return;
    let total = 0;
    for (let j = 0; j < this.vocab; j++) total += Math.exp(logits[offset + j] - max);
    this.tokens[slot] = best;
    if (this.kind === 'probability' || this.kind === 'raw-probability') this.scores[slot] = 1 / total;
  }

  /** Confidence of `token` from the filtered distribution that the sampler holds for this row. */
  private scoreFiltered(logits: Float32Array, offset: number, token: number): number {
    const sampler = this.sampler;
    const count = sampler.keptCount;
    switch (this.kind) {
      case 'random':
        return this.rng.nextFloat();
      case 'probability':
        return keptProbabilityOf(sampler, token);
      case 'margin': {
        let first = 0;
        let second = 0;
        for (let i = 0; i < count; i++) {
          const p = sampler.keptProbability(i);
          if (p > first) { second = first; first = p; } else if (p > second) second = p;
        }
        return first - second;
      }
      case 'entropy': {
        let sum = 0;
        for (let i = 0; i < count; i++) {
          const p = sampler.keptProbability(i);
          if (p > 0) sum += p * Math.log(p);
        }
        return sum;
      }
      case 'raw-probability': {
        // softmax at temperature 1 over the kept tokens, whatever temperature drew the token.
        let max = -Infinity;
        for (let i = 0; i < count; i++) max = Math.max(max, logits[offset + sampler.keptId(i)]);
        let total = 0;
        for (let i = 0; i < count; i++) total += Math.exp(logits[offset + sampler.keptId(i)] - max);
        return Math.exp(logits[offset + token] - max) / total;
      }
    }
  }
}

/**
 * Creates the scorer of one request: the request's sampling, the mask token excluded, and stop tokens
 * suppressed when `suppressEos` is set. `kind` overrides the strategy's confidence kind.
 */
export function scorerFor(config: ModelConfig, settings: DecodeSettings, rng: Rng, kind: ConfidenceKind = settings.confidence): Scorer {
  const suppressed = settings.suppressEos ? config.stopTokenIds : [];
  return new Scorer(config.vocab, settings.sampling, kind, rng, suppressed, config.maskTokenId);
}

function keptProbabilityOf(sampler: Sampler, token: number): number {
  for (let i = 0; i < sampler.keptCount; i++) if (sampler.keptId(i) === token) return sampler.keptProbability(i);
  return 0;
}

// ---------------------------------------------------------------------------------------------------
// Forwards

/**
 * Runs `request` and scores the rows `rows` into scorer slots [at, at + rows.length). An engine computes at
 * most `maxLogitRows` rows per forward, so more rows repeat the same forward for the rest. Returns the number
 * of engine forwards. `keep`, when given, receives a copy of the result row at index `keepRow` of `rows`.
 */
export async function forwardAndScore(
  engine: ForwardEngine,
  request: Omit<ForwardRequest, 'logitRows'>,
  rows: Int32Array,
  scorer: Scorer,
  at = 0,
  keep?: { row: KeptRow; index: number },
): Promise<number> {
  const limit = Math.max(1, engine.maxLogitRows);
  let forwards = 0;
  for (let first = 0; first < rows.length || forwards === 0; first += limit) {
    const chunk = rows.subarray(first, Math.min(rows.length, first + limit));
    const result = await engine.forward({ ...request, logitRows: chunk });
    forwards++;
    scorer.scoreRows(result, chunk.length, at + first);
    if (keep && keep.index >= first && keep.index < first + chunk.length) keep.row.copyFrom(result, keep.index - first);
    if (rows.length === 0) break;
  }
  return forwards;
}

/** One logits row of an earlier forward with its candidate record, kept as a one-row ForwardResult. */
export class KeptRow {
  valid = false;
  readonly result: ForwardResult;

  constructor(vocab: number) {
    this.result = {
      logits: new Float32Array(vocab),
      argmax: new Int32Array(1),
      prob: new Float32Array(1),
      secondProb: new Float32Array(1),
      entropy: new Float32Array(1),
    };
  }

  copyFrom(source: ForwardResult, row: number): void {
    const vocab = this.result.logits.length;
    this.result.logits.set(source.logits.subarray(row * vocab, (row + 1) * vocab));
    this.result.argmax[0] = source.argmax[row];
    this.result.prob[0] = source.prob[row];
    this.result.secondProb[0] = source.secondProb[row];
    this.result.entropy[0] = source.entropy[row];
    this.valid = true;
  }
}

/**
 * Classifier-free guidance: runs the conditional forward and the unconditional one (the prompt replaced
 * by the mask token), combines the rows as un + (w + 1)(cond - un), and scores them. Both forwards cover
 * the whole sequence from position 0. Returns the number of engine forwards.
 */
export async function forwardWithGuidance(
  engine: ForwardEngine,
  request: Omit<ForwardRequest, 'logitRows'>,
  promptLength: number,
  maskId: number,
  scale: number,
  rows: Int32Array,
  scorer: Scorer,
): Promise<number> {
  const vocab = engine.config.vocab;
  const limit = Math.max(1, engine.maxLogitRows);
  const unconditional = Int32Array.from(request.tokens);
  unconditional.fill(maskId, 0, promptLength);
  let forwards = 0;
  for (let first = 0; first < rows.length; first += limit) {
    const chunk = rows.subarray(first, Math.min(rows.length, first + limit));
    const conditional = (await engine.forward({ ...request, logitRows: chunk })).logits.slice(0, chunk.length * vocab);
    const plain = (await engine.forward({ ...request, tokens: unconditional, logitRows: chunk })).logits;
    forwards += 2;
    for (let i = 0; i < conditional.length; i++) conditional[i] = plain[i] + (scale + 1) * (conditional[i] - plain[i]);
    scorer.scoreRows(summarizeRows(conditional, chunk.length, vocab, request.temperature ?? 0), chunk.length, first);
  }
  return forwards;
}

/**
 * Builds the candidate records that the engine computes (argmax with the lowest id on ties, its
 * probability and the runner-up's under softmax(logits / T), entropy in nats) for rows computed in JavaScript.
 */
export function summarizeRows(logits: Float32Array, rows: number, vocab: number, temperature: number): ForwardResult {
  const invT = 1 / (temperature > 0 ? temperature : 1);
  const argmax = new Int32Array(rows);
  const prob = new Float32Array(rows);
  const secondProb = new Float32Array(rows);
  const entropy = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const offset = r * vocab;
    let best = 0;
    for (let v = 1; v < vocab; v++) if (logits[offset + v] > logits[offset + best]) best = v;
    const max = logits[offset + best];
    let total = 0;
    for (let v = 0; v < vocab; v++) total += Math.exp((logits[offset + v] - max) * invT);
    let second = 0;
    let h = 0;
    for (let v = 0; v < vocab; v++) {
      const p = Math.exp((logits[offset + v] - max) * invT) / total;
      if (v !== best && p > second) second = p;
      if (p > 0) h -= p * Math.log(p);
    }
    argmax[r] = best;
    prob[r] = 1 / total;
    secondProb[r] = second;
    entropy[r] = h;
  }
  return { logits, argmax, prob, secondProb, entropy };
}
