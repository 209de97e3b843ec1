// Per-row candidate selection: from one logits row, pick the token that a masked position would take and
// score how confident the model is in it.
//
// Greedy (temperature 0) takes the engine's argmax and its probability under softmax(logits), both of
// which the forward already computed, so no JavaScript pass over the vocabulary runs. Sampling follows
// Dream's `sample_tokens`: divide by the temperature, keep the top-p nucleus, keep the top-k, renormalise
// and draw. The confidence of a sampled token is its probability in that filtered distribution.
import type { ForwardResult } from '../models/engine-types.js';
import type { Rng } from './rng.js';

export interface SamplingOptions {
  temperature: number;  // 0 selects greedy decoding
  topK: number;         // keep the k most likely tokens (ties with the k-th kept); 0 disables
  topP: number;         // keep the smallest prefix, by probability, whose mass exceeds p; 1 disables
}

/** Rows of the selection pass below which the partitioning loops switch to a plain sort. */
const SMALL_RANGE = 32;

/**
 * Candidate picker for one request. It owns vocabulary-sized scratch buffers, allocated once here, so
 * picking a row allocates nothing.
 */
export class Sampler {
  readonly greedy: boolean;
  /** A top-k or top-p filter is set. */
  readonly filtered: boolean;
  /** Greedy with a top-k or top-p filter: the confidence is the argmax's probability after filtering. */
  private readonly greedyFiltered: boolean;
  /** Probability of the token returned by the last sampleRow call, under the filtered distribution. */
  lastConfidence = 0;

  private readonly vocab: number;
  private readonly options: SamplingOptions;
  private readonly rng: Rng;
  private readonly weights: Float64Array;  // (vocab) exp((logit - max) / T), unnormalised
  private readonly ids: Int32Array;        // (vocab) token ids of the filtered set in [0, kept)
  private kept = 0;
  private keptMass = 0;                    // sum of weights over the kept ids
  private allKept = false;                 // no filter ran: ids is not filled and every token is kept

  constructor(vocab: number, options: SamplingOptions, rng: Rng) {
    this.vocab = vocab;
    this.options = options;
    this.rng = rng;
    this.greedy = options.temperature <= 0;
    this.filtered = (options.topK > 0 && options.topK < vocab) || (options.topP > 0 && options.topP < 1);
    this.greedyFiltered = this.greedy && this.filtered;
    const scratch = !this.greedy || this.greedyFiltered ? vocab : 0;
    this.weights = new Float64Array(scratch);
    this.ids = new Int32Array(scratch);
  }

  /**
   * Picks a candidate for each of the first `rows` rows of a forward result, writing the token to
   * `tokens[at + r]` and its confidence to `confidences[at + r]`.
   */
  pickRows(result: ForwardResult, rows: number, tokens: Int32Array, confidences: Float64Array, at = 0): void {
    for (let r = 0; r < rows; r++) {
      if (this.greedyFiltered) {
        // Dream and llama.cpp filter before the softmax even at temperature 0, so top-k 1 gives every
        // candidate confidence 1 and positions commit left to right.
        const token = result.argmax[r];
        this.filterRow(result.logits, r * this.vocab);
        tokens[at + r] = token;
        confidences[at + r] = this.weights[token] / this.keptMass;
      } else if (this.greedy) {
        tokens[at + r] = result.argmax[r];
        confidences[at + r] = result.prob[r];
      } else {
        tokens[at + r] = this.sampleRow(result.logits, r * this.vocab);
        confidences[at + r] = this.lastConfidence;
      }
    }
  }

  /** Draws a token from the filtered distribution of the row `logits[offset, offset + vocab)`. */
  sampleRow(logits: Float32Array, offset: number): number {
    this.filterRow(logits, offset);
    const weights = this.weights;
    const threshold = this.rng.nextFloat() * this.keptMass;

    // Inverse-CDF walk. The last token with nonzero weight catches the rounding when the running sum
    // ends just below the threshold.
    let sum = 0;
    let chosen = -1;
    for (let i = 0; i < this.kept; i++) {
      const id = this.allKept ? i : this.ids[i];
      const w = weights[id];
      if (w <= 0) continue;
      chosen = id;
      sum += w;
      if (sum > threshold) break;
    }
    if (chosen < 0) throw new RangeError(`Logits row at offset ${offset} has no finite value to sample from`);
    this.lastConfidence = weights[chosen] / this.keptMass;
    return chosen;
  }

  /**
   * Computes the filtered distribution of one row: temperature, then top-p, then top-k. Returns the
   * number of kept tokens (also `keptCount`). Their ids and probabilities are read with keptId and keptProbability.
   */
  filterRow(logits: Float32Array, offset: number): number {
    const { temperature, topK, topP } = this.options;
    const weights = this.weights;
    const vocab = this.vocab;
    const invT = 1 / (temperature > 0 ? temperature : 1);

    let max = -Infinity;
    for (let j = 0; j < vocab; j++) {
      const x = logits[offset + j];
      if (x > max) max = x;
    }
    let total = 0;
    for (let j = 0; j < vocab; j++) {
      const w = Math.exp((logits[offset + j] - max) * invT);
      weights[j] = w > 0 ? w : 0;  // NaN logits get weight 0
      total += weights[j];
    }

    const filterTopP = topP > 0 && topP < 1;
    const filterTopK = topK > 0 && topK < vocab;
    this.allKept = !filterTopP && !filterTopK;
    let count = vocab;
    if (!this.allKept) {
      for (let j = 0; j < vocab; j++) this.ids[j] = j;
      if (filterTopP) count = selectNucleus(this.ids, weights, vocab, topP * total);
      if (filterTopK && topK < count) count = keepTopK(this.ids, weights, count, topK);
    }

    let mass = total;
    if (!this.allKept) {
      mass = 0;
      for (let i = 0; i < count; i++) mass += weights[this.ids[i]];
    }
    this.kept = count;
    this.keptMass = mass;
    return count;
  }

  /** Number of tokens kept by the last filterRow or sampleRow call. */
  get keptCount(): number {
    return this.kept;
  }

  /** Token id of the i-th kept token after filterRow (the order is not by probability). */
  keptId(i: number): number {
    return this.allKept ? i : this.ids[i];
  }

  /** Probability of the i-th kept token in the renormalised filtered distribution. */
  keptProbability(i: number): number {
    return this.weights[this.keptId(i)] / this.keptMass;
  }
}

// ---------------------------------------------------------------------------------------------------
// Selection over an index array
//
// Both filters reorder `ids` in place, so that the kept tokens come first, without sorting the whole
// vocabulary: a three-way quickselect partitions by weight until the boundary falls in a small range,
// and only that range is sorted. Order inside a range is by weight descending, then id ascending.

/**
 * Moves the top-p nucleus to ids[0, count) and returns count. The nucleus is Dream's: sort by weight
 * descending and keep every token whose preceding cumulative weight is at most `target` (= p times the
 * total), so the first token is always kept and the token that crosses the target is kept too.
 */
function selectNucleus(ids: Int32Array, weights: Float64Array, n: number, target: number): number {
  let lo = 0;
  let hi = n;
  let before = 0;  // weight of ids[0, lo), all of which are in the nucleus

  // Invariant: every weight in [0, lo) >= every weight in [lo, hi) >= every weight in [hi, n), and the
  // token that crosses the target lies in [lo, hi).
  while (hi - lo > SMALL_RANGE) {
    const pivot = medianOfThree(weights[ids[lo]], weights[ids[(lo + hi) >>> 1]], weights[ids[hi - 1]]);
    const { lt, gt, greaterMass, equalMass } = partition(ids, weights, lo, hi, pivot);
    if (before + greaterMass > target) {
      hi = lt;
    } else if (before + greaterMass + equalMass > target) {
      // The crossing token has the pivot's weight, and so do all of [lt, gt). The sort below orders
      // them by id.
      before += greaterMass;
      lo = lt;
      hi = gt;
      break;
    } else {
      before += greaterMass + equalMass;
      lo = gt;
    }
  }

  sortRange(ids, weights, lo, hi);
  let sum = before;
  for (let i = lo; i < hi; i++) {
    sum += weights[ids[i]];
    if (sum > target) return i + 1;
  }
  // Only reached when rounding puts the whole mass at or below the target.
  return hi;
}

/**
 * Keeps, among ids[0, count), the tokens whose weight is at least the k-th largest (ties with it are
 * kept, as `logits < topk(logits, k).values[-1]` removes only strictly smaller ones). Returns the new count.
 */
function keepTopK(ids: Int32Array, weights: Float64Array, count: number, k: number): number {
  // Quickselect the weight of rank k - 1.
  let lo = 0;
  let hi = count;
  const rank = k - 1;
  let kth = 0;
  for (;;) {
    if (hi - lo <= SMALL_RANGE) {
      sortRange(ids, weights, lo, hi);
      kth = weights[ids[rank]];
      break;
    }
    const pivot = medianOfThree(weights[ids[lo]], weights[ids[(lo + hi) >>> 1]], weights[ids[hi - 1]]);
    const { lt, gt } = partition(ids, weights, lo, hi, pivot);
    if (rank < lt) hi = lt;
    else if (rank < gt) { kth = pivot; break; }
    else lo = gt;
  }

  let kept = 0;
  for (let i = 0; i < count; i++) {
    const id = ids[i];
    if (weights[id] >= kth) ids[kept++] = id;
  }
  return kept;
}

/**
 * Three-way partition of ids[lo, hi) by weight: greater than the pivot to [lo, lt), equal to [lt, gt),
 * smaller to [gt, hi).
 */
function partition(ids: Int32Array, weights: Float64Array, lo: number, hi: number, pivot: number) {
  let lt = lo;
  let i = lo;
  let gt = hi;
  let greaterMass = 0;
  let equalMass = 0;
  while (i < gt) {
    const id = ids[i];
    const w = weights[id];
    if (w > pivot) {
      ids[i] = ids[lt];
      ids[lt] = id;
      lt++;
      i++;
      greaterMass += w;
    } else if (w < pivot) {
      gt--;
      ids[i] = ids[gt];
      ids[gt] = id;
    } else {
      equalMass += w;
      i++;
    }
  }
  return { lt, gt, greaterMass, equalMass };
}

function sortRange(ids: Int32Array, weights: Float64Array, lo: number, hi: number): void {
  ids.subarray(lo, hi).sort((a, b) => weights[b] - weights[a] || a - b);
}

function medianOfThree(a: number, b: number, c: number): number {
  return Math.max(Math.min(a, b), Math.min(Math.max(a, b), c));
}
