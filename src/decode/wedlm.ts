// WeDLM streaming decoding: the `wedlm` strategy. Attention is causal and the KV cache is an ordinary
// prefix cache, so no block boundaries exist.
//
// A window of W logical slots follows the committed length `cur`; each slot is a mask or a token filled
// by an earlier step. One step is one forward:
//   1. n = the length of the leading run of filled slots;
//   2. the forward input is the filled slots in ascending order, then the masked slots in ascending
//      order, written at cache indices cur, cur + 1, ..., with RoPE at their logical positions. Under
//      causal attention a masked row then attends to the prefix and every filled slot, including slots
//      logically to its right;
//   3. the first n slots become permanent. They were physically first, so their K/V are already exact;
//   4. each masked row gets a sampled candidate and the entropy H of its raw logits. With the penalty
//      H' = H + positionPenalty · (slot - first masked slot), every slot with H' < entropyThreshold is
//      filled, or the one with the lowest H' when none is.
// The window then slides past the committed slots and refills with masks, up to maxTokens.
import { ConfigError } from '../errors.js';
import type { ForwardEngine } from '../models/engine-types.js';
import { Canvas } from './canvas.js';
import { Rng } from './rng.js';
import { forwardAndScore, scorerFor } from './scoring.js';
import type { DecodeOutcome, DecodeSettings, StepListener } from './types.js';

/** Generates with WeDLM's sliding window. `prompt` must be non-empty. */
export async function generateWedlm(
  engine: ForwardEngine,
  prompt: ArrayLike<number>,
  settings: DecodeSettings,
  onStep?: StepListener,
): Promise<DecodeOutcome> {
  const config = engine.config;
  const canvas = new Canvas(prompt, config, engine.contextLength, settings, onStep);
  const rng = new Rng(settings.seed);
  const scorer = scorerFor(config, settings, rng, 'probability');
  const P = canvas.promptLength;
  const T = canvas.length;
  const W = settings.window;
  if (W > engine.maxRows) {
    throw new ConfigError('INVALID_OPTION', `window ${W} is larger than the ${engine.maxRows} tokens the engine takes per forward; lower window.`);
  }

  // Prefill the prompt causally, without logits.
  for (let start = 0; start < P; start += engine.maxRows) {
    canvas.checkAbort();
    const end = Math.min(start + engine.maxRows, P);
    await engine.forward({ tokens: canvas.tokens.subarray(start, end), start, attention: 'causal', logitRows: new Int32Array(0) });
    canvas.afterForward('prefill', -1, []);
  }

  let cur = P;
  // Ends at a final stop token (with eosEarlyStop) or once every position is filled.
  while (!canvas.stopNow && canvas.maskedIn(cur, T).length > 0) {
    canvas.checkAbort();
    const windowEnd = Math.min(cur + W, T);

    // Topological reorder: filled slots first, then masked ones, each in logical order.
    const filled: number[] = [];
    const masked: number[] = [];
    for (let p = cur; p < windowEnd; p++) (canvas.tokens[p] === canvas.maskId ? masked : filled).push(p);
    let leading = 0;
    while (cur + leading < windowEnd && canvas.tokens[cur + leading] !== canvas.maskId) leading++;

    const order = filled.concat(masked);
    const tokens = Int32Array.from(order, (p) => canvas.tokens[p]);
    const positions = Int32Array.from(order);
    const rows = new Int32Array(masked.length);
    for (let i = 0; i < masked.length; i++) rows[i] = filled.length + i;
    // Temperature 0 in the request makes the entropy records those of the raw logits.
    const forwards = await forwardAndScore(engine, { tokens, start: cur, positions, attention: 'causal', temperature: 0 }, rows, scorer);

    // The leading filled run is now in the cache with exact K/V.
    cur += leading;
    if (leading > 0) canvas.markBlockFinished();

    // Fill the masked slots whose penalised entropy is low enough, at least the lowest one.
    const chosen: number[] = [];
    let best = -1;
    let bestEntropy = Infinity;
    for (let i = 0; i < masked.length; i++) {
      const penalised = scorer.entropies[i] + settings.positionPenalty * (masked[i] - masked[0]);
      const entropy = Number.isFinite(scorer.scores[i]) ? penalised : Infinity;  // a suppressed stop token
      if (entropy < settings.entropyThreshold) chosen.push(i);
      if (entropy < bestEntropy) { bestEntropy = entropy; best = i; }
    }
    if (chosen.length === 0 && masked.length > 0) chosen.push(best < 0 ? 0 : best);
    const committed = canvas.commit(masked, chosen, scorer);
    canvas.afterForward('refine', 0, committed, [], forwards);
  }
  return canvas.outcome();
}
