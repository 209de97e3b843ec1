// Decoding for full-attention families (LLaDA, Dream): the `llada`, `dream` and `fast-dllm` strategies.
//
// The generated positions are refined in blocks of B counted from the end of the prompt (LLaDA's
// semi-autoregressive blocks; Dream's reference is one block over the whole generation). Only masked
// positions of the current block are candidates, and later blocks stay masked while it is decoded. With
// shifted logits (Dream), row i - 1 predicts position i.
//
// KV reuse (`cache`):
// - 'none': every step forwards the whole sequence from position 0, as LLaDA's and Dream's own code do.
// - 'prefix' (Fast-dLLM PrefixCache): the first step of a block forwards the whole sequence, which also
//   stores K/V for every position. Later steps forward [blockStart, end) against the stored prefix.
// - 'dual' (Fast-dLLM DualCache): later steps forward only the block, and its queries also see the K/V
//   stored for the positions after it.
// Both caches are approximate, because the stored K/V were computed while the current block was masked.
// With shifted logits the block's first position is predicted by the last prefix row, which the partial
// forwards do not compute. That row is kept from the block's first forward instead of reusing the
// block's own first row, as Fast-dLLM's code does.
import { ConfigError } from '../errors.js';
import type { ForwardEngine, ForwardRequest } from '../models/engine-types.js';
import { Canvas, chooseCommits } from './canvas.js';
import { Rng } from './rng.js';
import { linearSchedule, stepsForBlock, timestepCount, timestepRevealProbability } from './schedule.js';
import { forwardAndScore, forwardWithGuidance, KeptRow, scorerFor } from './scoring.js';
import type { DecodeOutcome, DecodeSettings, StepListener } from './types.js';

/** Generates over the whole sequence with full attention. `prompt` must be non-empty. */
export async function generateFullCanvas(
  engine: ForwardEngine,
  prompt: ArrayLike<number>,
  settings: DecodeSettings,
  onStep?: StepListener,
): Promise<DecodeOutcome> {
  const config = engine.config;
  const B = settings.blockLength;
  const canvas = new Canvas(prompt, config, engine.contextLength, settings, onStep);
  const rng = new Rng(settings.seed);
  const scorer = scorerFor(config, settings, rng);
  const P = canvas.promptLength;
  const T = canvas.length;
  const shift = config.shiftLogits ? 1 : 0;
  const blockCount = Math.ceil(settings.maxTokens / B);
  const kept = new KeptRow(config.vocab);
  if (T > engine.maxRows) {
    throw new ConfigError('INVALID_OPTION',
      `The ${settings.strategy} strategy forwards the whole sequence (${T} positions), but the engine takes at most ` +
        `${engine.maxRows} tokens per forward; lower maxTokens or load the model with a larger maxRows.`);
  }

  for (let block = 0; block < blockCount; block++) {
    const blockStart = P + block * B;
    const blockEnd = Math.min(blockStart + B, T);
    const steps = settings.stepsPerBlock ?? (settings.steps === null ? null : stepsForBlock(settings.steps, block, blockCount));
    const linear = settings.schedule === 'linear' && steps !== null ? linearSchedule(blockEnd - blockStart, steps) : null;
    let blockForwards = 0;

    for (let step = 0; ; step++) {
      const masked = canvas.maskedIn(blockStart, blockEnd);
      if (masked.length === 0) break;

      // How many positions this step must commit. A step that would commit none runs no forward.
      let k = 1;
      let revealed: number[] | null = null;
      if (settings.schedule === 'timestep') {
        const total = steps ?? 1;
        if (settings.selection === 'origin') {
          const p = timestepRevealProbability(step, total, settings.eps);
          revealed = [];
          for (let i = 0; i < masked.length; i++) if (p >= 1 || rng.nextFloat() < p) revealed.push(i);
          if (revealed.length === 0) continue;
        } else {
          k = timestepCount(masked.length, step, total, settings.eps);
          if (k === 0) continue;
        }
      } else if (linear) {
        k = linear[Math.min(step, linear.length - 1)];
      }
      canvas.checkAbort();

      // Forward: the whole sequence, or the part after the prefix that the cache holds.
      const partial = settings.cache !== 'none' && blockForwards > 0;
      const base = partial ? blockStart : 0;
      const request: Omit<ForwardRequest, 'logitRows'> = {
        tokens: partial ? canvas.tokens.subarray(blockStart, settings.cache === 'dual' ? blockEnd : T) : canvas.tokens,
        start: base,
        attention: 'full',
        keys: T,
        temperature: settings.sampling.temperature,
      };
      const rows = new Int32Array(masked.length);
      for (let i = 0; i < masked.length; i++) rows[i] = masked[i] - base - shift;

      let forwards: number;
      if (settings.cfgScale > 0) {
        forwards = await forwardWithGuidance(engine, request, P, canvas.maskId, settings.cfgScale, rows, scorer);
      } else if (rows[0] < 0) {
        // The block's first position, predicted by the last prefix row of the block's first forward.
        if (!kept.valid) throw new Error(`Internal error: no kept row predicts position ${blockStart}`);
        scorer.scoreRows(kept.result, 1, 0);
        forwards = await forwardAndScore(engine, request, rows.subarray(1), scorer, 1);
      } else {
        const keep = shift && settings.cache !== 'none' && masked[0] === blockStart ? { row: kept, index: 0 } : undefined;
        if (keep) kept.valid = false;
        forwards = await forwardAndScore(engine, request, rows, scorer, 0, keep);
      }
      blockForwards += forwards;

      const chosen = revealed ?? chooseCommits(settings, scorer, masked.length, k, rng);
      const committed = canvas.commit(masked, chosen, scorer);
      canvas.afterForward('refine', block, committed, [], forwards);
      if (canvas.stopNow) return canvas.outcome();
    }
    kept.valid = false;
    canvas.markBlockFinished();
    if (canvas.done) break;
  }
  return canvas.outcome();
}
