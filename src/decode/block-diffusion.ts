// Block diffusion for block-causal families (SDAR, Fast-dLLM v2) over an exact prefix KV cache.
//
// The sequence [prompt | generated] is cut into blocks aligned to absolute positions: block b covers
// [bB, (b+1)B). A query attends to every key of its own block and of the blocks before it. The loop is:
//   1. prefill the full prompt blocks [0, floor(P/B)·B) into the cache, without logits;
//   2. per block from floor(P/B) on, forward the block against the cache and commit some of its
//      masked positions, until it has none;
//   3. forward the finished block once more, so that the cache holds the K/V of its final tokens;
//   4. stop once a stop token is final, or after the block that holds the last requested position.
// Positions past prompt + maxTokens are not part of the sequence: the last block may be partial, and
// then only its valid prefix is forwarded.
//
// With shifted logits (Fast-dLLM v2), row i - 1 predicts position i. The first position of a block is
// then predicted by the last row of the previous block, whose context is entirely final. Its prediction
// cannot change any more, so it is committed right away from the forward that stores the previous
// block's K/V (or from the last prefill forward), as Fast-dLLM v2's reference decoder does.
import type { ForwardEngine, ForwardResult } from '../models/engine-types.js';
import type { AttentionKind, ModelConfig } from '../models/types.js';
import { Canvas } from './canvas.js';
import { Rng } from './rng.js';
import { Sampler } from './sampler.js';
import { linearSchedule, stepsForBlock } from './schedule.js';
import type { DecodeOutcome, DecodeSettings, StepListener } from './types.js';

/** Positions per prefill forward: the largest multiple of B that is at most this, and at least B. */
const PREFILL_CHUNK = 128;

const NO_ROWS = new Int32Array(0);

/** Generates with block diffusion. `prompt` must be non-empty. */
export async function generateBlockCausal(
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
  const blockAttention = singleBlockAttention(config, B);

  const firstBlock = Math.floor(P / B);
  const lastBlock = Math.floor((T - 1) / B);
  const blockCount = lastBlock - firstBlock + 1;

  // With shifted logits, commits the masked first position `next` of a block from the single logit row
  // of `result`, which is the last row of the block before. Returns the committed positions.
  const commitCarried = (result: ForwardResult, next: number): number[] => {
    if (!shift || next >= T || canvas.tokens[next] !== canvas.maskId) return [];
    return canvas.commitFromRows(result, [next], sampler, 1, null);
  };

  // Prefill. Several blocks go into one forward only when the engine's block-causal mask uses the same
  // block length as this request.
  const prefillEnd = firstBlock * B;
  const chunk = blockAttention === 'block-causal' && config.blockSize === B ? B * Math.max(1, Math.floor(PREFILL_CHUNK / B)) : B;
  for (let start = 0; start < prefillEnd; start += chunk) {
    canvas.checkAbort();
    const end = Math.min(start + chunk, prefillEnd);
    const carries = shift && end === prefillEnd && end < T && canvas.tokens[end] === canvas.maskId;
    const result = await engine.forward({
      tokens: canvas.tokens.subarray(start, end),
      start,
      attention: chunk === B ? blockAttention : 'block-causal',
      logitRows: carries ? Int32Array.of(end - start - 1) : NO_ROWS,
      temperature: settings.sampling.temperature,
    });
    const committed = carries ? commitCarried(result, end) : [];
    canvas.afterForward('prefill', -1, committed);
    if (canvas.done) return canvas.outcome();
  }

  for (let b = firstBlock; b <= lastBlock; b++) {
    const blockStart = b * B;
    const blockEnd = Math.min(blockStart + B, T);
    const block = b - firstBlock;
    const tokens = canvas.tokens.subarray(blockStart, blockEnd);

    // Step budget of this block: null means the threshold alone decides.
    const steps = settings.stepsPerBlock ?? (settings.steps === null ? null : stepsForBlock(settings.steps, block, blockCount));
    const schedule = steps === null ? null : linearSchedule(canvas.maskedIn(blockStart, blockEnd).length, steps);

    // Refine until the block has no masks.
    for (let step = 0; ; step++) {
      const masked = canvas.maskedIn(blockStart, blockEnd);
      if (masked.length === 0) break;
      canvas.checkAbort();

      const rows = new Int32Array(masked.length);
      for (let r = 0; r < masked.length; r++) rows[r] = masked[r] - blockStart - (shift ? 1 : 0);
      if (rows[0] < 0) {
        throw new Error(`Internal error: masked position ${blockStart} has no predicting row in its block`);
      }
      const result = await engine.forward({
        tokens,
        start: blockStart,
        attention: blockAttention,
        logitRows: rows,
        temperature: settings.sampling.temperature,
      });
      const minCommit = schedule ? schedule[Math.min(step, schedule.length - 1)] : 1;
      const committed = canvas.commitFromRows(result, masked, sampler, minCommit, settings.threshold);
      canvas.afterForward('refine', block, committed);
      if (canvas.stopped) return canvas.outcome();
    }
    canvas.markBlockFinished();
    if (canvas.done || b === lastBlock) return canvas.outcome();

    // Store the finished block's K/V. With shifted logits its last row also predicts the next block's
    // first position.
    canvas.checkAbort();
    const result = await engine.forward({
      tokens,
      start: blockStart,
      attention: blockAttention,
      logitRows: shift ? Int32Array.of(blockEnd - blockStart - 1) : NO_ROWS,
      temperature: settings.sampling.temperature,
    });
    canvas.afterForward('cache', block, commitCarried(result, blockEnd));
    if (canvas.done) return canvas.outcome();
  }
  return canvas.outcome();
}

/**
 * Attention kind for a forward of exactly one aligned block. Within one aligned block, block-causal
 * attention and full attention over [0, start + n) are the same mask, so 'full' serves a request whose
 * block length differs from the one the engine's block-causal mask uses (config.blockSize).
 */
export function singleBlockAttention(config: ModelConfig, blockLength: number): AttentionKind {
  return config.attention === 'block-causal' && config.blockSize === blockLength ? 'block-causal' : 'full';
}
