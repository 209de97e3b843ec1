// Plain greedy decoding loops over the mock model, written for clarity rather than speed: every step
// recomputes each needed logits row from the whole current sequence, with no KV cache, no engine and
// no code shared with src/decode. The tests compare the real loops' token trajectories with these.
import type { ModelConfig } from '../../src/models/types.js';
import { mockLogitsRow, softmax } from './mock-engine.js';

export interface ReferenceOptions {
  maxTokens: number;
  blockLength: number;
  threshold: number | null;        // commit all with confidence >= threshold (at least the top one)
  stepsPerBlock: number | null;    // linear schedule: commit at least this block's share per step
  boost?: (q: number) => number;
}

export interface ReferenceResult {
  tokens: number[];                // generated tokens before the first stop token
  stopped: boolean;
}

interface Candidate {
  position: number;
  token: number;
  confidence: number;
}

/** Greedy candidate of position i, from row i (or i - 1 when logits are shifted) of the sequence. */
function candidate(config: ModelConfig, sequence: number[], i: number, options: ReferenceOptions, B: number): Candidate {
  const row = config.shiftLogits ? i - 1 : i;
  const attention = config.attention;
  // A block-causal row attends to keys up to the end of its own block, because later keys do not exist yet.
  const keys = attention === 'block-causal' ? sequence.slice(0, Math.min(sequence.length, (Math.floor(row / B) + 1) * B)) : sequence;
  // The request's block length B is the attention block, whatever the checkpoint's blockSize is.
  const logits = mockLogitsRow(keys, row, attention, B, options.boost);
  let best = 0;
  for (let v = 1; v < logits.length; v++) if (logits[v] > logits[best]) best = v;
  return { position: i, token: best, confidence: Math.fround(softmax(logits)[best]) };
}

function splitSteps(maskCount: number, steps: number): number[] {
  const used = Math.max(1, Math.min(steps, maskCount));
  const counts: number[] = [];
  for (let s = 0; s < used; s++) counts.push(Math.floor(maskCount / used) + (s < maskCount % used ? 1 : 0));
  return counts;
}

/** Returns the generated tokens before the first stop, or null while a mask precedes every stop. */
function finished(config: ModelConfig, sequence: number[], P: number): ReferenceResult | null {
  const generated: number[] = [];
  for (let i = P; i < sequence.length; i++) {
    if (sequence[i] === config.maskTokenId) return null;
    if (config.stopTokenIds.includes(sequence[i])) return { tokens: generated, stopped: true };
    generated.push(sequence[i]);
  }
  return { tokens: generated, stopped: false };
}

/**
 * Block diffusion, greedy. Blocks are aligned to absolute positions for block-causal models and start
 * at the end of the prompt otherwise. With shifted logits, a masked first position of a block whose
 * predicting row lies in an earlier, finished block is committed as soon as that block is finished.
 */
export function referenceGenerate(config: ModelConfig, prompt: number[], options: ReferenceOptions): ReferenceResult {
  const B = options.blockLength;
  const P = prompt.length;
  const sequence = [...prompt, ...new Array<number>(options.maxTokens).fill(config.maskTokenId)];
  const T = sequence.length;
  const blockCausal = config.attention === 'block-causal';

  const blockStarts: number[] = [];
  for (let s = blockCausal ? Math.floor(P / B) * B : P; s < T; s += B) blockStarts.push(s);

  for (const blockStart of blockStarts) {
    const blockEnd = Math.min(blockStart + B, T);

    // Carried first position: its row belongs to the finished block before.
    if (blockCausal && config.shiftLogits && blockStart >= P && sequence[blockStart] === config.maskTokenId) {
      sequence[blockStart] = candidate(config, sequence, blockStart, options, B).token;
      const early = finished(config, sequence, P);
      if (early?.stopped) return early;
    }

    const maskedAt = () => {
      const positions: number[] = [];
      for (let i = Math.max(blockStart, P); i < blockEnd; i++) if (sequence[i] === config.maskTokenId) positions.push(i);
      return positions;
    };
    const schedule = options.stepsPerBlock === null ? null : splitSteps(maskedAt().length, options.stepsPerBlock);

    for (let step = 0; maskedAt().length > 0; step++) {
      const candidates = maskedAt().map((i) => candidate(config, sequence, i, options, B));
      const ranked = [...candidates].sort((a, b) => b.confidence - a.confidence || a.position - b.position);
      const minimum = schedule ? schedule[Math.min(step, schedule.length - 1)] : 1;
      const chosen = ranked.filter((c, rank) => rank < minimum || (options.threshold !== null && c.confidence >= options.threshold));
      for (const c of chosen) sequence[c.position] = c.token;

      const result = finished(config, sequence, P);
      if (result?.stopped) return result;
    }
  }
  return finished(config, sequence, P)!;
}
