// Expert selection of a mixture-of-experts layer, from the router logits of a chunk of rows to each row's
// experts and weights. Every thread runs it on the same logits and gets the same result, which saves a
// barrier and a shared buffer. The math is in float64; ties go to the lower expert id.
//
// softmax gating (LLaDA-MoE, llama.cpp llada-moe):
//   p = softmax(logits); experts = top-k of p; weights = p[experts]
// sigmoid gating (LLaDA 2.x, llama.cpp bailingmoe2):
//   s = sigmoid(logits); score = s + bias
//   keep the groupsUsed groups with the largest sum of their two best scores, then experts = top-k of score
//   weights = s[experts], divided by their sum when normaliseWeights
// Both then multiply the weights by weightsScale.
import type { MoeConfig } from '../models/types.js';

/** Reusable per-thread work arrays of routeRows, sized for one config. */
export class RouterScratch {
  readonly weights: Float64Array;    // (experts) unbiased gating weights of the current row
  readonly scores: Float64Array;     // (experts) selection scores; -Infinity once excluded or taken
  readonly groupScores: Float64Array;
  readonly keptGroups: Uint8Array;
  constructor(moe: MoeConfig) {
    this.keptGroups = new Uint8Array(moe.groups);
    this.weights = new Float64Array(moe.experts);
    this.scores = new Float64Array(moe.experts);
    this.groupScores = new Float64Array(moe.groups);
  }
}

/** Index of the largest value of values[from, to), the first one on ties; -1 when all are -Infinity. */
function argmax(values: Float64Array, from: number, to: number): number {
  let best = -1;
  let bestValue = -Infinity;
  for (let i = from; i < to; i++) {
    if (values[i] > bestValue) {
      bestValue = values[i];
      best = i;
    }
  }
  return best;
}

/**
 * Routes rows [0, rows) of `logits` (rows, experts): writes each row's expertsUsed expert ids in
 * descending selection score to `experts` (rows, expertsUsed) and their weights to `weights`.
 * `bias` is the per-expert selection bias, or null.
 */
export function routeRows(
  moe: MoeConfig, logits: Float32Array, bias: Float32Array | null, rows: number,
  experts: Int32Array, weights: Float32Array, scratch: RouterScratch,
): void {
  const { experts: count, expertsUsed: k } = moe;
  const gate = scratch.weights;
  const scores = scratch.scores;
  for (let r = 0; r < rows; r++) {
    const row = r * count;

    // gating weights and selection scores
    if (moe.gating === 'softmax') {
      let max = -Infinity;
      for (let e = 0; e < count; e++) max = Math.max(max, logits[row + e]);
      let sum = 0;
      for (let e = 0; e < count; e++) {
        gate[e] = Math.exp(logits[row + e] - max);
        sum += gate[e];
      }
      for (let e = 0; e < count; e++) gate[e] /= sum;
    } else {
      for (let e = 0; e < count; e++) gate[e] = 1 / (1 + Math.exp(-logits[row + e]));
    }
    for (let e = 0; e < count; e++) scores[e] = bias ? gate[e] + bias[e] : gate[e];

    // group-limited selection: exclude every expert outside the best groupsUsed groups
    if (moe.groups > 1 && moe.groupsUsed < moe.groups) {
      const perGroup = count / moe.groups;
      for (let g = 0; g < moe.groups; g++) {
        const best = argmax(scores, g * perGroup, (g + 1) * perGroup);
        let second = -Infinity;
        for (let e = g * perGroup; e < (g + 1) * perGroup; e++) if (e !== best) second = Math.max(second, scores[e]);
        scratch.groupScores[g] = scores[best] + second;
      }
      const kept = scratch.keptGroups;
      kept.fill(0);
      for (let i = 0; i < moe.groupsUsed; i++) {
        const g = argmax(scratch.groupScores, 0, moe.groups);
        kept[g] = 1;
        scratch.groupScores[g] = -Infinity;
      }
      for (let e = 0; e < count; e++) if (!kept[Math.floor(e / perGroup)]) scores[e] = -Infinity;
    }

    // top-k by selection score, then the weights of the chosen experts
    let sum = 0;
    for (let i = 0; i < k; i++) {
      const e = argmax(scores, 0, count);
      scores[e] = -Infinity;
      experts[r * k + i] = e;
      sum += gate[e];
    }
    const factor = (moe.normaliseWeights ? 1 / sum : 1) * moe.weightsScale;
    for (let i = 0; i < k; i++) weights[r * k + i] = gate[experts[r * k + i]] * factor;
  }
}
