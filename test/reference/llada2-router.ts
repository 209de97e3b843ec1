// A plain transcription of LLaDA 2.0's expert router (the `gate` of LLaDA2MoeModelLM) for one row. It is
// written with arrays and sorts, so that it shares no code with src/runtime/moe-router.ts:
//   scores = sigmoid(logits)
//   choice = scores + expert_bias
//   group_scores = sum of the top-2 of choice within each of n_group groups
//   keep the topk_group best groups, mask the others' choice to -inf
//   topk_idx = topk(choice, top_k); topk_weight = scores[topk_idx]
//   if norm_topk_prob: topk_weight /= sum(topk_weight);  topk_weight *= routed_scaling_factor

export interface Llada2RouterParams {
  nGroup: number;
  topkGroup: number;
  topK: number;
  normTopkProb: boolean;
  routedScalingFactor: number;
}

/** Indices of the k largest values, largest first; equal values keep the lower index first. */
function topk(values: number[], k: number): number[] {
  return values
    .map((value, index) => ({ value, index }))
    .sort((a, b) => b.value - a.value || a.index - b.index)
    .slice(0, k)
    .map((entry) => entry.index);
}

export function llada2Router(logits: ArrayLike<number>, expertBias: ArrayLike<number>, params: Llada2RouterParams): { experts: number[]; weights: number[] } {
  const n = logits.length;
  const scores = Array.from(logits, (x) => 1 / (1 + Math.exp(-x)));
  const choice = scores.map((s, e) => s + expertBias[e]);

  const perGroup = n / params.nGroup;
  const groupScores: number[] = [];
  for (let g = 0; g < params.nGroup; g++) {
    const members = choice.slice(g * perGroup, (g + 1) * perGroup);
    groupScores.push(topk(members, 2).reduce((sum, i) => sum + members[i], 0));
  }
  const keptGroups = new Set(topk(groupScores, params.topkGroup));
  const masked = choice.map((value, e) => (keptGroups.has(Math.floor(e / perGroup)) ? value : -Infinity));

  const experts = topk(masked, params.topK);
  let weights = experts.map((e) => scores[e]);
  if (params.topK > 1 && params.normTopkProb) {
    const sum = weights.reduce((a, b) => a + b, 0);
    weights = weights.map((w) => w / sum);
  }
  weights = weights.map((w) => w * params.routedScalingFactor);
  return { experts, weights };
}
