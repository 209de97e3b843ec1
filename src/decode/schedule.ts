// How many masked positions a refinement step commits, and which ones.
//
// Two rules combine. The linear schedule of LLaDA and SDAR fixes a count k per step so that a block's
// masks are gone after its step budget. The threshold rule of Fast-dLLM commits every candidate whose
// confidence reaches tau. A step commits the max(k, number at or above tau) most confident candidates.
// With only a threshold, k is 1, which is Fast-dLLM's "at least the most confident one". With both, it
// is SDAR's `low_confidence_dynamic`.

/**
 * Splits `maskCount` masked positions over `steps` steps: maskCount // steps each, and the first
 * maskCount % steps steps one more. Steps beyond maskCount are dropped, so no step commits nothing.
 */
export function linearSchedule(maskCount: number, steps: number): Int32Array {
  const used = Math.max(1, Math.min(steps, maskCount));
  const counts = new Int32Array(used);
  const base = Math.floor(maskCount / used);
  const extra = maskCount % used;
  for (let s = 0; s < used; s++) counts[s] = base + (s < extra ? 1 : 0);
  return counts;
}

/**
 * Returns the step budget of block `blockIndex` (0-based) when `totalSteps` are spread over
 * `blockCount` blocks, as LLaDA, Dream and llama.cpp count `steps`. The remainder goes to the first
 * blocks, and every block gets at least one step.
 */
export function stepsForBlock(totalSteps: number, blockIndex: number, blockCount: number): number {
  const base = Math.floor(totalSteps / blockCount);
  const extra = totalSteps % blockCount;
  return Math.max(1, base + (blockIndex < extra ? 1 : 0));
}

/**
 * Chooses the candidates to commit in one step. `confidences[0, count)` are the scores of the masked
 * positions. Commits the `minCommit` most confident ones plus any others with confidence >= `threshold`
 * (null means no threshold). Ties go to the lower index. Returns candidate indices in ascending order.
 */
export function selectCommits(
  confidences: ArrayLike<number>,
  count: number,
  minCommit: number,
  threshold: number | null,
): number[] {
  const order: number[] = [];
  for (let i = 0; i < count; i++) order.push(i);
  order.sort((a, b) => confidences[b] - confidences[a] || a - b);

  let take = Math.min(Math.max(minCommit, 1), count);
  if (threshold !== null) {
    while (take < count && confidences[order[take]] >= threshold) take++;
  }
  return order.slice(0, take).sort((a, b) => a - b);
}

/** Selects every candidate with confidence >= threshold, and at least the best one (Fast-dLLM's parallel rule). */
export function commitByThreshold(confidences: ArrayLike<number>, count: number, threshold: number): number[] {
  return selectCommits(confidences, count, 1, threshold);
}

/** Selects the k most confident candidates (LLaDA's low-confidence remasking). */
export function commitTopK(confidences: ArrayLike<number>, count: number, k: number): number[] {
  return selectCommits(confidences, count, k, null);
}

/**
 * Dream's timestep schedule: t goes linearly from 1 to `eps` over steps + 1 points, and step i (0-based)
 * of `steps` commits floor(masked * (1 - t[i+1] / t[i])) positions, the last step all that are left.
 * The arithmetic is float32, as in Dream's torch code and llama.cpp, so the counts match theirs where
 * the product lands near an integer.
 */
export function timestepCount(masked: number, step: number, steps: number, eps: number): number {
  if (step >= steps - 1) return masked;
  const f = Math.fround;
  const t = f(1 - f(f(step / steps) * f(1 - eps)));
  const s = f(1 - f(f((step + 1) / steps) * f(1 - eps)));
  return Math.floor(f(masked * f(1 - f(s / t))));
}

/** Probability that Dream's origin algorithm reveals a masked position at step i of `steps`: 1 - t[i+1] / t[i]. */
export function timestepRevealProbability(step: number, steps: number, eps: number): number {
  if (step >= steps - 1) return 1;
  const t = 1 - (step / steps) * (1 - eps);
  const s = 1 - ((step + 1) / steps) * (1 - eps);
  return 1 - s / t;
}

/** Selects the k leftmost candidates (SDAR's sequential remasking). */
export function selectLeftmost(count: number, k: number): number[] {
  const chosen: number[] = [];
  for (let i = 0; i < Math.min(count, Math.max(k, 1)); i++) chosen.push(i);
  return chosen;
}

/**
 * Samples k distinct candidates with probabilities softmax(confidence / temperature), one draw after
 * another without replacement, as Dream does with alg_temp > 0. Candidates with confidence -Infinity are
 * drawn only when nothing else is left. Returns candidate indices in ascending order.
 */
export function sampleCommits(confidences: ArrayLike<number>, count: number, k: number, temperature: number, uniform: () => number): number[] {
  let max = -Infinity;
  for (let i = 0; i < count; i++) if (confidences[i] > max) max = confidences[i];
  const weights = new Float64Array(count);
  for (let i = 0; i < count; i++) weights[i] = Number.isFinite(confidences[i]) ? Math.exp((confidences[i] - max) / temperature) : 0;

  const chosen: number[] = [];
  const taken = new Uint8Array(count);
  const want = Math.min(count, Math.max(k, 1));
  while (chosen.length < want) {
    let total = 0;
    for (let i = 0; i < count; i++) if (!taken[i]) total += weights[i];
    let pick = -1;
    if (total > 0) {
      const target = uniform() * total;
      let sum = 0;
      for (let i = 0; i < count; i++) {
        if (taken[i] || weights[i] <= 0) continue;
        pick = i;
        sum += weights[i];
        if (sum > target) break;
      }
    } else {
      // Only zero-weight candidates are left: take them left to right.
      for (let i = 0; i < count && pick < 0; i++) if (!taken[i]) pick = i;
    }
    taken[pick] = 1;
    chosen.push(pick);
  }
  return chosen.sort((a, b) => a - b);
}
