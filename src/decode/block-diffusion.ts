// Block diffusion for block-causal families over an exact prefix KV cache: the `sdar`, `llada2`,
// `editing` and `fast-dllm-v2` strategies.
//
// The sequence [prompt | generated] is cut into blocks aligned to absolute positions: block b covers
// [bB, (b+1)B). A query attends to every key of its own block and of the blocks before it. The loop is:
//   1. prefill the full prompt blocks [0, floor(P/B)·B) into the cache, without logits;
//   2. per block from floor(P/B) on, forward the block against the cache and commit some of its
//      masked positions, until it has none (Fast-dLLM v2 visits the block's sub-blocks left to right,
//      and only the current sub-block's masks are candidates);
//   3. forward the finished block once more, so that the cache holds the K/V of its final tokens;
//      without shifted logits or a sub-block cache, that forward is fused with the next block's first
//      refinement: one block-causal forward over both blocks stores the finished block's K/V and scores
//      the next block, which sees exactly the keys it would see after a separate store;
//   4. stop once a stop token is final, or after the block that holds the last requested position.
// Positions past prompt + maxTokens are not part of the sequence: the last block may be partial, and
// then only its valid prefix is forwarded.
//
// With shifted logits (Fast-dLLM v2), row i - 1 predicts position i. The first position of a block is
// then predicted by the last row of the previous block, whose context is entirely final. Its prediction
// cannot change any more, so it is committed right away from the forward that stores the previous
// block's K/V (or from the last prefill forward), as Fast-dLLM v2's reference decoder does.
//
// Token editing (LLaDA 2.1) also scores the block's unmasked generated positions, replaces a token when
// a different candidate beats `editThreshold`, and keeps refining a block without masks while edits
// happen, for at most `maxPostSteps` forwards. Tokens of the block being edited are not final until the
// block is done, so no text is streamed from it before then.
import { ConfigError } from '../errors.js';
import type { ForwardEngine, ForwardRequest, ForwardResult } from '../models/engine-types.js';
import type { AttentionKind, ModelConfig } from '../models/types.js';
import { Canvas, chooseCommits } from './canvas.js';
import { Rng } from './rng.js';
import { linearSchedule, stepsForBlock } from './schedule.js';
import { forwardAndScore, scorerFor } from './scoring.js';
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
  const rng = new Rng(settings.seed);
  const scorer = scorerFor(config, settings, rng);
  const P = canvas.promptLength;
  const T = canvas.length;
  const shift = config.shiftLogits ? 1 : 0;
  const blockAttention = singleBlockAttention(config, B);
  const editThreshold = settings.editThreshold;
  if (B > engine.maxRows) {
    throw new ConfigError('INVALID_OPTION',
      `blockLength ${B} is larger than the ${engine.maxRows} tokens the engine takes per forward; lower blockLength or load the model with a larger maxRows.`);
  }

  // Fusing the K/V store of a finished block into the next block's first forward needs the engine's own
  // block-causal mask over two blocks (2B rows).
  const fuseStore = !shift && settings.cache !== 'dual' && blockAttention === 'block-causal' && 2 * B <= engine.maxRows;
  let pendingStore = -1;  // start of a finished block whose K/V the next forward must store, or -1

  const firstBlock = Math.floor(P / B);
  const lastBlock = Math.floor((T - 1) / B);
  const blockCount = lastBlock - firstBlock + 1;

  // With shifted logits, commits the masked first position `next` of a block from the single logit row
  // of `result`, which is the last row of the block before. Returns the committed positions.
  const commitCarried = (result: ForwardResult, next: number): number[] => {
    if (!shift || next >= T || canvas.tokens[next] !== canvas.maskId) return [];
    scorer.scoreRows(result, 1, 0);
    return canvas.commit([next], [0], scorer);
  };

  // Prefill. Several blocks go into one forward only when the engine's block-causal mask uses the same
  // block length as this request.
  const prefillEnd = firstBlock * B;
  const multiBlock = blockAttention === 'block-causal' && config.blockSize === B;
  const chunk = multiBlock ? B * Math.max(1, Math.floor(Math.min(PREFILL_CHUNK, engine.maxRows) / B)) : B;
  for (let start = 0; start < prefillEnd; start += chunk) {
    canvas.checkAbort();
    const end = Math.min(start + chunk, prefillEnd);
    const carries = shift === 1 && end === prefillEnd && end < T && canvas.tokens[end] === canvas.maskId;
    const result = await engine.forward({
      tokens: canvas.tokens.subarray(start, end),
      start,
      attention: chunk === B ? blockAttention : 'block-causal',
      logitRows: carries ? Int32Array.of(end - start - 1) : NO_ROWS,
      temperature: settings.sampling.temperature,
    });
    const committed = carries ? commitCarried(result, end) : [];
    canvas.afterForward('prefill', -1, committed);
    if (canvas.stopNow) return canvas.outcome();
  }

  for (let b = firstBlock; b <= lastBlock; b++) {
    const blockStart = b * B;
    const blockEnd = Math.min(blockStart + B, T);
    const block = b - firstBlock;
    if (editThreshold !== null) canvas.finalLimit = blockStart;

    // Step budget of this block (of each sub-block): null means the threshold alone decides.
    const steps = settings.stepsPerBlock ?? (settings.steps === null ? null : stepsForBlock(settings.steps, block, blockCount));

    for (let subStart = blockStart; subStart < blockEnd; subStart += settings.subBlockLength) {
      const subEnd = Math.min(subStart + settings.subBlockLength, blockEnd);
      const schedule = steps === null ? null : linearSchedule(canvas.maskedIn(subStart, subEnd).length, steps);
      let subForwards = 0;
      let lastEdits = 0;
      let postSteps = 0;

      // Refine until the sub-block has no masks (and, with editing, no more edits).
      for (let step = 0; ; step++) {
        const masked = canvas.maskedIn(subStart, subEnd);
        if (masked.length === 0) {
          if (editThreshold === null || lastEdits === 0 || postSteps >= settings.maxPostSteps) break;
          postSteps++;
        }
        canvas.checkAbort();

        // Candidates: the masked positions, then (editing) the unmasked generated positions whose row is in the block.
        const positions = masked.slice();
        if (editThreshold !== null) {
          for (let p = Math.max(subStart, P, blockStart + shift); p < subEnd; p++) {
            if (canvas.tokens[p] !== canvas.maskId) positions.push(p);
          }
        }

        // The sub-block cache feeds only the sub-block (with shifted logits also the position before it,
        // whose row predicts the sub-block's first position) against the K/V stored for the rest of the block.
        const partial = settings.cache === 'dual' && subForwards > 0;
        const from = partial ? Math.max(blockStart, subStart - shift) : pendingStore >= 0 ? pendingStore : blockStart;
        const request: Omit<ForwardRequest, 'logitRows'> = partial
          ? { tokens: canvas.tokens.subarray(from, subEnd), start: from, attention: 'full', keys: blockEnd, temperature: settings.sampling.temperature }
          : { tokens: canvas.tokens.subarray(from, blockEnd), start: from, attention: blockAttention, temperature: settings.sampling.temperature };
        const rows = new Int32Array(positions.length);
        for (let i = 0; i < positions.length; i++) {
          rows[i] = positions[i] - shift - from;
          if (rows[i] < 0) throw new Error(`Internal error: position ${positions[i]} has no predicting row in its block`);
        }
        const forwards = await forwardAndScore(engine, request, rows, scorer);
        subForwards += forwards;
        pendingStore = -1;

        // Mask to token: the schedule's count or the threshold, at least one.
        const k = schedule ? schedule[Math.min(step, schedule.length - 1)] : 1;
        const chosen = chooseCommits(settings, scorer, masked.length, k, rng);
        const committed = canvas.commit(masked, chosen, scorer);

        // Token to token: a different candidate above the edit threshold replaces the token.
        const edited: number[] = [];
        if (editThreshold !== null) {
          for (let i = masked.length; i < positions.length; i++) {
            const p = positions[i];
            if (scorer.tokens[i] !== canvas.tokens[p] && scorer.scores[i] > editThreshold) {
              canvas.tokens[p] = scorer.tokens[i];
              edited.push(p);
            }
          }
          lastEdits = edited.length;
        }
        canvas.afterForward('refine', block, committed, edited, forwards);
        if (canvas.stopNow) return canvas.outcome();
      }
    }
    if (editThreshold !== null) {
      canvas.finalLimit = T;
      canvas.advanceFinalized();
      if (canvas.stopNow) return canvas.outcome();
    }
    canvas.markBlockFinished();
    if (canvas.done || b === lastBlock) return canvas.outcome();

    // Store the finished block's K/V: in the next block's first forward when fused, else now (together
    // with a block still pending when this block ran no forward). With shifted logits its last row also
    // predicts the next block's first position.
    if (fuseStore && pendingStore < 0) {
      pendingStore = blockStart;
      continue;
    }
    canvas.checkAbort();
    const storeFrom = pendingStore >= 0 ? pendingStore : blockStart;
    pendingStore = -1;
    const result = await engine.forward({
      tokens: canvas.tokens.subarray(storeFrom, blockEnd),
      start: storeFrom,
      attention: blockAttention,
      logitRows: shift ? Int32Array.of(blockEnd - storeFrom - 1) : NO_ROWS,
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
