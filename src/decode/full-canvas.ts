// Decoding for full-attention families (LLaDA, Dream), and for causal checkpoints that have a mask
// token. Every step recomputes the whole sequence [prompt | generated] from position 0, so no K/V is
// reused between steps. This is the reference method of LLaDA's and Dream's own code, without the
// approximate Fast-dLLM prefix or dual cache.
//
// The generated positions are refined in blocks of B counted from the end of the prompt (LLaDA's
// semi-autoregressive blocks): only masked positions of the current block are candidates, and later
// blocks stay masked while the current one is decoded. With shifted logits (Dream), row i - 1 predicts
// position i.
// TODO(prefix cache): Fast-dLLM's PrefixCache would forward only [blockStart, T) against the prefix K/V
// stored by each block's first step. It is faster but approximate, so it belongs behind an option.
import type { ForwardEngine } from '../models/engine-types.js';
import { Canvas } from './canvas.js';
import { Rng } from './rng.js';
import { Sampler } from './sampler.js';
import { linearSchedule, stepsForBlock } from './schedule.js';
import type { DecodeOutcome, DecodeSettings, StepListener } from './types.js';

/** Generates by recomputing the whole sequence every step. `prompt` must be non-empty. */
export async function generateFullCanvas(
  engine: ForwardEngine,
  prompt: ArrayLike<number>,
  settings: DecodeSettings,
  onStep?: StepListener,
): Promise<DecodeOutcome> {
  const config = engine.config;
  const B = settings.blockLength;
  const canvas = new Canvas(prompt, config, engine.contextLength, settings, onStep);
  const sampler = new Sampler(config.vocab, settings.sampling, new Rng(settings.seed));
  const P = canvas.promptLength;
  const T = canvas.length;
  const shift = config.shiftLogits;
  const attention = config.attention === 'causal' ? 'causal' : 'full';
  const blockCount = Math.ceil(settings.maxTokens / B);

  for (let block = 0; block < blockCount; block++) {
    const blockStart = P + block * B;
    const blockEnd = Math.min(blockStart + B, T);
    const steps = settings.stepsPerBlock ?? (settings.steps === null ? null : stepsForBlock(settings.steps, block, blockCount));
    const schedule = steps === null ? null : linearSchedule(blockEnd - blockStart, steps);

    for (let step = 0; ; step++) {
      const masked = canvas.maskedIn(blockStart, blockEnd);
      if (masked.length === 0) break;
      canvas.checkAbort();

      const rows = new Int32Array(masked.length);
      for (let r = 0; r < masked.length; r++) rows[r] = masked[r] - (shift ? 1 : 0);
      const result = await engine.forward({
        tokens: canvas.tokens,
        start: 0,
        attention,
        logitRows: rows,
        temperature: settings.sampling.temperature,
      });
      const minCommit = schedule ? schedule[Math.min(step, schedule.length - 1)] : 1;
      const committed = canvas.commitFromRows(result, masked, sampler, minCommit, settings.threshold);
      canvas.afterForward('refine', block, committed);
      if (canvas.stopped) return canvas.outcome();
    }
    canvas.markBlockFinished();
    if (canvas.done) break;
  }
  return canvas.outcome();
}
