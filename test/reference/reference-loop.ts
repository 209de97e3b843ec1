// Plain decoding loops over the mock model, one per strategy, written from the published descriptions
// for clarity rather than speed. The exact strategies recompute every needed logits row from scratch
// over the whole current sequence, with no KV cache and no code shared with src/decode. Fast-dLLM's
// prefix and dual caches are approximations defined by their call pattern, so their loop calls a
// MockEngine in that pattern. Random draws come from the package's Rng in the order the strategies
// document: per scored row the sample, then the random confidence; Dream's origin draws per masked
// position before the forward. Seeded cases use no top-k or top-p filter.
import type { AttentionKind, ModelConfig } from '../../src/models/types.js';
import { Rng } from '../../src/decode/rng.js';
import { MockEngine, mockLogitsRows } from './mock-engine.js';

/**
 * Logits rows `rows` of `tokens` computed from scratch: index i contains tokens[i] at RoPE position
 * positions[i] (default i). The default is the mock model; tests on fixture models pass the engine's.
 */
export type LogitsFn = (tokens: number[], rows: number[], attention: AttentionKind, B: number, positions?: number[]) => Promise<Float32Array[]>;

export function mockLogits(boost?: (q: number) => number): LogitsFn {
  return async (tokens, rows, attention, B, positions) => mockLogitsRows(tokens, rows, attention, B, { positions, boost });
}

export interface Sampling {
  temperature: number;
  topK?: number;  // greedy only: 1 makes every confidence 1
}

export interface ReferenceResult {
  tokens: number[];    // generated tokens before the first stop token
  stopped: boolean;
}

interface Candidate {
  token: number;
  confidence: number;
  margin: number;
  negEntropy: number;
  rawProbability: number;
}

// ---------------------------------------------------------------------------------------------------
// Candidates

function softmax(row: ArrayLike<number>, temperature: number): number[] {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  const invT = 1 / temperature;
  const e = Array.from(row, (x) => Math.exp((x - max) * invT));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

/**
 * Picks a token from one logits row and scores it every way a strategy may ask for. The mask token is
 * never a candidate: a row whose pick is the mask takes its most likely other token, scored by its
 * softmax probability (committing the mask would leave the position masked).
 */
function candidateOf(row: Float32Array, sampling: Sampling, rng: Rng, maskId: number): Candidate {
  const picked = pickCandidate(row, sampling, rng);
  if (picked.token !== maskId) return picked;
  let best = -1;
  for (let v = 0; v < row.length; v++) if (v !== maskId && (best < 0 || row[v] > row[best])) best = v;
  const probability = softmax(row, 1)[best];
  return { ...picked, token: best, confidence: probability, rawProbability: probability };
}

function pickCandidate(row: Float32Array, sampling: Sampling, rng: Rng): Candidate {
  let best = 0;
  for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
  const raw = softmax(row, 1);
  if (sampling.topK === 1) return { token: best, confidence: 1, margin: 1, negEntropy: 0, rawProbability: 1 };

  const T = sampling.temperature > 0 ? sampling.temperature : 1;
  const p = softmax(row, T);
  let token = best;
  if (sampling.temperature > 0) {
    // Inverse CDF over the vocabulary in id order, on unnormalised weights.
    let max = -Infinity;
    for (let v = 0; v < row.length; v++) max = Math.max(max, row[v]);
    const weights = Array.from(row, (x) => Math.exp((x - max) * (1 / T)));
    const total = weights.reduce((a, b) => a + b, 0);
    const target = rng.nextFloat() * total;
    let sum = 0;
    for (let v = 0; v < weights.length; v++) {
      if (weights[v] <= 0) continue;
      token = v;
      sum += weights[v];
      if (sum > target) break;
    }
    const sorted = [...p].sort((a, b) => b - a);
    let negEntropy = 0;
    for (const x of p) if (x > 0) negEntropy += x * Math.log(x);
    return { token, confidence: weights[token] / total, margin: sorted[0] - sorted[1], negEntropy, rawProbability: raw[token] };
  }
  // Greedy: the engine reports these as float32 records.
  const sorted = [...p].sort((a, b) => b - a);
  let entropy = 0;
  for (const x of p) if (x > 0) entropy -= x * Math.log(x);
  return { token, confidence: f32(p[token]), margin: f32(sorted[0]) - f32(sorted[1]), negEntropy: -f32(entropy), rawProbability: f32(raw[token]) };
}

/** Rounds to float32, the precision of the engine's probability records that greedy decoding compares. */
function f32(x: number): number {
  return Math.fround(x);
}

function splitSteps(maskCount: number, steps: number): number[] {
  const used = Math.max(1, Math.min(steps, maskCount));
  const counts: number[] = [];
  for (let s = 0; s < used; s++) counts.push(Math.floor(maskCount / used) + (s < maskCount % used ? 1 : 0));
  return counts;
}

function spreadSteps(total: number, block: number, blocks: number): number {
  return Math.max(1, Math.floor(total / blocks) + (block < total % blocks ? 1 : 0));
}

/** Indices of `scores` ranked by score descending, ties to the lower index. */
function ranked(scores: number[]): number[] {
  return scores.map((_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
}

/** Top max(k, 1) by score plus every other index with score >= threshold. */
function topOrThreshold(scores: number[], k: number, threshold: number | null): number[] {
  return ranked(scores).filter((i, rank) => rank < Math.max(k, 1) || (threshold !== null && scores[i] >= threshold));
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

function cutAtStop(config: ModelConfig, sequence: number[], P: number): ReferenceResult {
  const generated: number[] = [];
  for (let i = P; i < sequence.length; i++) {
    if (sequence[i] === config.maskTokenId) break;
    if (config.stopTokenIds.includes(sequence[i])) return { tokens: generated, stopped: true };
    generated.push(sequence[i]);
  }
  return { tokens: generated, stopped: false };
}

// ---------------------------------------------------------------------------------------------------
// LLaDA and Dream: the whole canvas every step

export interface FullOptions {
  maxTokens: number;
  blockLength: number;
  steps: number;                     // total, spread over the blocks
  schedule: 'linear' | 'timestep';
  score: 'raw' | 'probability' | 'margin' | 'entropy' | 'random' | 'origin';
  threshold?: number | null;
  eps?: number;
  cfgScale?: number;
  suppressEos?: boolean;
  sampling: Sampling;
  seed?: number;
  boost?: (q: number) => number;
}

/** Dream's count for step i of n: floor(masked (1 - s/t)) in float32, all that is left at the last step. */
export function dreamTransferCount(masked: number, i: number, n: number, eps: number): number {
  if (i === n - 1) return masked;
  const f = Math.fround;
  const t = f(1 - f(f(i / n) * f(1 - eps)));
  const s = f(1 - f(f((i + 1) / n) * f(1 - eps)));
  return Math.floor(f(masked * f(1 - f(s / t))));
}

export async function referenceFullCanvas(config: ModelConfig, prompt: number[], o: FullOptions, logitsOf: LogitsFn = mockLogits(o.boost)): Promise<ReferenceResult> {
  const P = prompt.length;
  const seq = [...prompt, ...new Array<number>(o.maxTokens).fill(config.maskTokenId)];
  const shift = config.shiftLogits ? 1 : 0;
  const rng = new Rng(o.seed);
  const blocks = Math.ceil(o.maxTokens / o.blockLength);
  const eps = o.eps ?? 1e-3;

  for (let b = 0; b < blocks; b++) {
    const start = P + b * o.blockLength;
    const end = Math.min(start + o.blockLength, seq.length);
    const steps = spreadSteps(o.steps, b, blocks);
    const linear = splitSteps(end - start, steps);
    for (let step = 0; ; step++) {
      const masked: number[] = [];
      for (let i = start; i < end; i++) if (seq[i] === config.maskTokenId) masked.push(i);
      if (masked.length === 0) break;

      let k = o.schedule === 'linear' ? linear[Math.min(step, linear.length - 1)] : dreamTransferCount(masked.length, step, steps, eps);
      let reveal: boolean[] | null = null;
      if (o.score === 'origin') {
        const last = step >= steps - 1;
        const t = 1 - (step / steps) * (1 - eps);
        const s = 1 - ((step + 1) / steps) * (1 - eps);
        reveal = masked.map(() => last || rng.nextFloat() < 1 - s / t);
        k = reveal.filter(Boolean).length;
      }
      if (k === 0) continue;

      const rows = masked.map((i) => i - shift);
      let logits = await logitsOf(seq, rows, 'full', 0);
      if ((o.cfgScale ?? 0) > 0) {
        const unconditional = seq.map((token, i) => (i < P ? config.maskTokenId : token));
        const plain = await logitsOf(unconditional, rows, 'full', 0);
        logits = logits.map((row, r) => row.map((x, v) => plain[r][v] + (o.cfgScale! + 1) * (x - plain[r][v])));
      }
      const candidates = logits.map((row) => candidateOf(row, o.sampling, rng, config.maskTokenId));
      const scores = candidates.map((c) => {
        switch (o.score) {
          case 'raw': return c.rawProbability;
          case 'probability': return c.confidence;
          case 'margin': return c.margin;
          case 'entropy': return c.negEntropy;
          case 'random': return rng.nextFloat();
          default: return 0;
        }
      });
      if (o.suppressEos) candidates.forEach((c, i) => { if (config.stopTokenIds.includes(c.token)) scores[i] = -Infinity; });

      const chosen = reveal ? masked.map((_, i) => i).filter((i) => reveal![i]) : topOrThreshold(scores, k, o.threshold ?? null);
      for (const i of chosen) seq[masked[i]] = candidates[i].token;
    }
  }
  return cutAtStop(config, seq, P);
}

// ---------------------------------------------------------------------------------------------------
// Fast-dLLM v1: threshold decoding with the prefix or dual cache

export interface FastDllmOptions {
  maxTokens: number;
  blockLength: number;
  threshold: number;
  cache: 'prefix' | 'dual';
}

/**
 * Fast-dLLM's generate loop with a KV cache. Each block starts with a forward of the whole sequence that
 * also stores every K/V; later steps forward the suffix (prefix cache) or only the block (dual cache).
 * With shifted logits the block's first position keeps the row of the block's first forward.
 */
export async function referenceFastDllm(engine: MockEngine, prompt: number[], o: FastDllmOptions): Promise<ReferenceResult> {
  const config = engine.config;
  const P = prompt.length;
  const seq = [...prompt, ...new Array<number>(o.maxTokens).fill(config.maskTokenId)];
  const T = seq.length;
  const shift = config.shiftLogits ? 1 : 0;
  const greedy: Sampling = { temperature: 0 };

  for (let start = P; start < T; start += o.blockLength) {
    const end = Math.min(start + o.blockLength, T);
    let keptFirst: Candidate | null = null;
    for (let step = 0; ; step++) {
      const masked: number[] = [];
      for (let i = start; i < end; i++) if (seq[i] === config.maskTokenId) masked.push(i);
      if (masked.length === 0) break;

      const from = step === 0 ? 0 : start;
      const to = step === 0 || o.cache === 'prefix' ? T : end;
      const candidates: Candidate[] = [];
      const rows: number[] = [];
      for (const i of masked) {
        if (i - shift < from) candidates.push(keptFirst!);
        else rows.push(i - shift - from);
      }
      const out = await engine.forward({ tokens: Int32Array.from(seq.slice(from, to)), start: from, attention: 'full', keys: T, logitRows: Int32Array.from(rows) });
      for (let r = 0; r < rows.length; r++) {
        const row = out.logits.slice(r * config.vocab, (r + 1) * config.vocab);
        const candidate = candidateOf(row, greedy, new Rng(0), config.maskTokenId);
        candidates.push(candidate.token === out.argmax[r] ? { ...candidate, confidence: out.prob[r] } : candidate);
      }
      if (step === 0 && shift && masked[0] === start) keptFirst = candidates[0];

      for (const i of topOrThreshold(candidates.map((c) => c.confidence), 1, o.threshold)) seq[masked[i]] = candidates[i].token;
      const done = finished(config, seq, P);
      if (done?.stopped) return done;
    }
  }
  return cutAtStop(config, seq, P);
}

// ---------------------------------------------------------------------------------------------------
// Block-causal strategies: SDAR, LLaDA 2.x, LLaDA 2.1 editing, Fast-dLLM v2 without the sub-block cache

export interface BlockOptions {
  maxTokens: number;
  blockLength: number;
  subBlockLength?: number;
  stepsPerBlock: number | null;
  threshold: number | null;
  remasking?: 'dynamic' | 'static' | 'sequential';
  editThreshold?: number | null;
  maxPostSteps?: number;
  eosEarlyStop?: boolean;
  sampling?: Sampling;
  seed?: number;
  boost?: (q: number) => number;
}

export async function referenceBlockDiffusion(config: ModelConfig, prompt: number[], o: BlockOptions, logitsOf: LogitsFn = mockLogits(o.boost)): Promise<ReferenceResult> {
  const B = o.blockLength;
  const sub = o.subBlockLength ?? B;
  const P = prompt.length;
  const seq = [...prompt, ...new Array<number>(o.maxTokens).fill(config.maskTokenId)];
  const T = seq.length;
  const shift = config.shiftLogits ? 1 : 0;
  const sampling = o.sampling ?? { temperature: 0 };
  const rng = new Rng(o.seed);
  const editing = o.editThreshold !== undefined && o.editThreshold !== null;
  const earlyStop = o.eosEarlyStop ?? true;

  // Block-causal logits of the current sequence, from scratch.
  const candidatesAt = async (positions: number[]): Promise<Candidate[]> => {
    const rows = await logitsOf(seq, positions.map((i) => i - shift), 'block-causal', B);
    return rows.map((row) => candidateOf(row, sampling, rng, config.maskTokenId));
  };
  const score = (c: Candidate) => c.confidence;

  for (let start = Math.floor(P / B) * B; start < T; start += B) {
    const end = Math.min(start + B, T);

    // With shifted logits the previous block's last row fills the block's first position.
    if (shift && start >= P && seq[start] === config.maskTokenId) seq[start] = (await candidatesAt([start]))[0].token;

    for (let subStart = start; subStart < end; subStart += sub) {
      const subEnd = Math.min(subStart + sub, end);
      let maskCount = 0;
      for (let i = Math.max(subStart, P); i < subEnd; i++) if (seq[i] === config.maskTokenId) maskCount++;
      const schedule = o.stepsPerBlock === null ? null : splitSteps(maskCount, o.stepsPerBlock);
      let post = 0;
      let lastEdits = 0;

      for (let step = 0; ; step++) {
        const masked: number[] = [];
        const filled: number[] = [];
        for (let i = Math.max(subStart, P); i < subEnd; i++) {
          if (seq[i] === config.maskTokenId) masked.push(i);
          else if (editing && i - shift >= start) filled.push(i);
        }
        if (masked.length === 0) {
          if (!editing || lastEdits === 0 || post >= (o.maxPostSteps ?? 16)) break;
          post++;
        }

        const candidates = await candidatesAt([...masked, ...filled]);
        const k = schedule ? schedule[Math.min(step, schedule.length - 1)] : 1;
        const scores = candidates.slice(0, masked.length).map(score);
        let chosen: number[];
        if (masked.length === 0) chosen = [];
        else if (o.remasking === 'sequential') chosen = masked.map((_, i) => i).slice(0, Math.max(k, 1));
        else if (o.remasking === 'static') chosen = topOrThreshold(scores, k, null);
        else chosen = topOrThreshold(scores, k, o.threshold);

        // Both updates read the candidates of the same forward.
        const edits: number[] = [];
        filled.forEach((i, j) => {
          const c = candidates[masked.length + j];
          if (c.token !== seq[i] && score(c) > o.editThreshold!) edits.push(j);
        });
        for (const i of chosen) seq[masked[i]] = candidates[i].token;
        for (const j of edits) seq[filled[j]] = candidates[masked.length + j].token;
        lastEdits = edits.length;
      }
    }
    const done = finished(config, seq, P);
    if (earlyStop && done?.stopped) return done;
  }
  return cutAtStop(config, seq, P);
}

// ---------------------------------------------------------------------------------------------------
// WeDLM

export interface WedlmOptions {
  maxTokens: number;
  window: number;
  entropyThreshold: number;
  positionPenalty: number;
  boost?: (q: number) => number;
}

/**
 * WeDLM's streaming loop, greedy. The physical sequence is the prompt, the committed tokens, then the
 * window's filled slots and its masked slots; RoPE positions are logical. Causal logits from scratch.
 */
export async function referenceWedlm(config: ModelConfig, prompt: number[], o: WedlmOptions, logitsOf: LogitsFn = mockLogits(o.boost)): Promise<ReferenceResult> {
  const P = prompt.length;
  const slotsTotal = o.maxTokens;
  const committed: number[] = [];
  let window: number[] = [];  // tokens of the logical slots after the committed ones, mask where empty

  while (committed.length < slotsTotal) {
    while (window.length < Math.min(o.window, slotsTotal - committed.length)) window.push(config.maskTokenId);
    const done = cutAtStop(config, [...committed, ...window], 0);
    if (done.stopped) return done;
    if (!window.includes(config.maskTokenId) && committed.length + window.length === slotsTotal) return done;

    let leading = 0;
    while (leading < window.length && window[leading] !== config.maskTokenId) leading++;
    const filledSlots = window.map((_, s) => s).filter((s) => window[s] !== config.maskTokenId);
    const maskedSlots = window.map((_, s) => s).filter((s) => window[s] === config.maskTokenId);
    const base = P + committed.length;
    const order = [...filledSlots, ...maskedSlots];
    const tokens = [...prompt, ...committed, ...order.map((s) => window[s])];
    const positions = [...tokens.keys()].map((i) => (i < base ? i : base + order[i - base]));
    const rows = maskedSlots.map((_, j) => base + filledSlots.length + j);
    const logits = await logitsOf(tokens, rows, 'causal', 1, positions);

    const predictions = logits.map((row) => {
      const p = softmax(row, 1);
      let best = 0;
      for (let v = 1; v < row.length; v++) if (row[v] > row[best]) best = v;
      let entropy = 0;
      for (const x of p) if (x > 0) entropy -= x * Math.log(x);
      return { token: best, entropy: f32(entropy) };
    });

    committed.push(...window.slice(0, leading));
    const penalised = predictions.map((c, j) => c.entropy + o.positionPenalty * (maskedSlots[j] - maskedSlots[0]));
    let fill = penalised.map((h, j) => j).filter((j) => penalised[j] < o.entropyThreshold);
    if (fill.length === 0 && penalised.length > 0) fill = [ranked(penalised.map((h) => -h))[0]];
    for (const j of fill) window[maskedSlots[j]] = predictions[j].token;
    window = window.slice(leading);
  }
  return cutAtStop(config, committed, 0);
}
