// A deterministic stand-in for the transformer with two "layers". The state that a forward stores at a
// cache index is a hash of that index's RoPE position and token and of the (position, token) pairs it
// attends to. The logits row of a query is a hash of its position and token and of the stored states it
// attends to. A cache index therefore carries what it saw when it was written, as real K/V do: a loop that
// skips storing a finished block, or reads a stale one, gets different logits than a loop that
// recomputes everything from scratch, and an approximate cache (Fast-dLLM's prefix or dual cache) is
// visible too.
import type { ForwardEngine, ForwardRequest, ForwardResult } from '../../src/models/engine-types.js';
import type { AttentionKind, ModelConfig } from '../../src/models/types.js';

export const VOCAB = 24;
export const MASK_ID = 23;
export const STOP_ID = 22;

/** Builds a config for the mock. Only the fields that the decoding loops read matter. */
export function mockConfig(overrides: Partial<ModelConfig> = {}): ModelConfig {
  return {
    family: 'sdar',
    architecture: 'MockForDiffusion',
    nLayers: 1,
    hidden: 8,
    nHeads: 1,
    nKvHeads: 1,
    headDim: 8,
    ffn: 16,
    vocab: VOCAB,
    ropeTheta: 10000,
    ropeDim: 8,
    ropeLayout: 'neox',
    normEps: 1e-6,
    qkNorm: false,
    qkvBias: false,
    tiedEmbeddings: false,
    attention: 'block-causal',
    blockSize: 4,
    shiftLogits: false,
    maskTokenId: MASK_ID,
    stopTokenIds: [STOP_ID],
    bosTokenId: -1,
    addBos: false,
    maxContext: 256,
    ...overrides,
  };
}

/** Returns whether query q may attend to key k under `attention` with block length B. */
export function visible(attention: AttentionKind, B: number, q: number, k: number): boolean {
  if (attention === 'full') return true;
  if (attention === 'causal') return k <= q;
  return Math.floor(k / B) <= Math.floor(q / B);
}

/** FNV-1a over 32-bit words. */
function hashWords(words: ArrayLike<number>, length = words.length): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < length; i++) {
    const x = words[i];
    h ^= x & 0xffff;
    h = Math.imul(h, 0x01000193);
    h ^= x >>> 16;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** Logits row from a hash: a per-row sharpness spreads the argmax probability from near uniform to near one. */
function rowFromHash(hash: number, position: number, boost?: (q: number) => number): Float32Array {
  // mulberry32 seeded by the hash.
  let s = hash >>> 0;
  const uniform = () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const sharpness = 0.5 + 10 * uniform();
  const row = new Float32Array(VOCAB);
  for (let v = 0; v < VOCAB; v++) row[v] = sharpness * (uniform() * 2 - 1);
  row[MASK_ID] = -30;
  row[STOP_ID] -= 3;  // stop tokens are rare unless boosted
  const boosted = boost ? boost(position) : -1;
  if (boosted >= 0) row[boosted] += 12;
  return row;
}

/** The model over cache slots. `tokens` and `positions` hold what was written at each index. */
class MockModel {
  readonly tokens: Int32Array;
  readonly positions: Int32Array;
  readonly states: Int32Array;
  private readonly scratch: Int32Array;

  constructor(length: number) {
    this.tokens = new Int32Array(length).fill(-1);
    this.positions = new Int32Array(length).fill(-1);
    this.states = new Int32Array(length);
    this.scratch = new Int32Array(2 * length + 2);
  }

  /** Stores the state of index i from the (position, token) pairs of indices [0, keys) that it attends to. */
  writeState(i: number, keys: number, attention: AttentionKind, B: number): void {
    let n = 0;
    this.scratch[n++] = this.positions[i];
    this.scratch[n++] = this.tokens[i] + 1;
    for (let k = 0; k < keys; k++) {
      if (!visible(attention, B, i, k)) continue;
      this.scratch[n++] = this.positions[k];
      this.scratch[n++] = this.tokens[k] + 1;
    }
    this.states[i] = hashWords(this.scratch, n);
  }

  /** Logits of query index q from the states of indices [0, keys) that it attends to. */
  row(q: number, keys: number, attention: AttentionKind, B: number, boost?: (q: number) => number): Float32Array {
    let n = 0;
    this.scratch[n++] = this.positions[q];
    this.scratch[n++] = this.tokens[q] + 1;
    for (let k = 0; k < keys; k++) if (visible(attention, B, q, k)) this.scratch[n++] = this.states[k];
    return rowFromHash(hashWords(this.scratch, n), this.positions[q], boost);
  }
}

/**
 * Computes from scratch, with no cache, the logits rows `rows` of a sequence whose index i holds
 * `tokens[i]` at RoPE position `positions[i]` (default i). This is what a forward of the whole sequence
 * from index 0 returns.
 */
export function mockLogitsRows(
  tokens: ArrayLike<number>,
  rows: ArrayLike<number>,
  attention: AttentionKind,
  B: number,
  options: { positions?: ArrayLike<number>; boost?: (q: number) => number } = {},
): Float32Array[] {
  const model = new MockModel(tokens.length);
  model.tokens.set(tokens);
  for (let i = 0; i < tokens.length; i++) model.positions[i] = options.positions ? options.positions[i] : i;
  for (let i = 0; i < tokens.length; i++) model.writeState(i, tokens.length, attention, B);
  return Array.from(rows, (q) => model.row(q, tokens.length, attention, B, options.boost));
}

export interface RecordedCall {
  tokens: number[];
  start: number;
  attention: AttentionKind;
  logitRows: number[];
  keys: number;
  positions: number[] | null;
}

export interface MockEngineOptions {
  contextLength?: number;
  maxRows?: number;
  maxLogitRows?: number;
  delayMs?: number;
  boost?: (q: number) => number;
}

export class MockEngine implements ForwardEngine {
  readonly config: ModelConfig;
  readonly contextLength: number;
  readonly threads = 1;
  readonly maxRows: number;
  readonly maxLogitRows: number;
  readonly calls: RecordedCall[] = [];
  /** Token at each cache index, -1 where nothing was written. */
  readonly cache: Int32Array;
  private readonly model: MockModel;
  private readonly delayMs: number;
  private readonly boost?: (q: number) => number;
  private busy = false;

  constructor(config: ModelConfig, options: MockEngineOptions = {}) {
    this.config = config;
    this.contextLength = options.contextLength ?? config.maxContext;
    this.model = new MockModel(this.contextLength);
    this.cache = this.model.tokens;
    this.maxRows = options.maxRows ?? this.contextLength;
    this.maxLogitRows = options.maxLogitRows ?? 64;
    this.delayMs = options.delayMs ?? 0;
    this.boost = options.boost;
  }

  async forward(request: ForwardRequest): Promise<ForwardResult> {
    if (this.busy) throw new Error('MockEngine.forward called while another forward is running');
    this.busy = true;
    try {
      const { tokens, start, attention, logitRows } = request;
      const n = tokens.length;
      const keys = request.keys ?? start + n;
      const B = request.blockSize ?? this.config.blockSize;
      this.calls.push({ tokens: Array.from(tokens), start, attention, logitRows: Array.from(logitRows), keys, positions: request.positions ? Array.from(request.positions) : null });
      if (keys > this.contextLength || keys < start + n) throw new Error(`forward past the context or with too few keys: ${start}+${n}, keys ${keys}`);
      if (n > this.maxRows) throw new Error(`forward of ${n} tokens, more than maxRows ${this.maxRows}`);
      if (logitRows.length > this.maxLogitRows) throw new Error(`${logitRows.length} logit rows, more than maxLogitRows ${this.maxLogitRows}`);
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      else await Promise.resolve();

      const model = this.model;
      model.tokens.set(tokens, start);
      for (let i = 0; i < n; i++) model.positions[start + i] = request.positions ? request.positions[i] : start + i;
      for (let i = 0; i < n; i++) model.writeState(start + i, keys, attention, B);
      const rows = logitRows.length;
      const logits = new Float32Array(rows * VOCAB);
      for (let r = 0; r < rows; r++) {
        if (!(logitRows[r] >= 0 && logitRows[r] < n)) throw new Error(`logit row ${logitRows[r]} outside the ${n} rows`);
        logits.set(model.row(start + logitRows[r], keys, attention, B, this.boost), r * VOCAB);
      }
      return summarize(logits, rows, request.temperature ?? 0);
    } finally {
      this.busy = false;
    }
  }

  async dispose(): Promise<void> {}
}

/** Builds the candidate records of a ForwardResult as the engine's mask-update kernel would. */
function summarize(logits: Float32Array, rows: number, temperature: number): ForwardResult {
  const T = temperature > 0 ? temperature : 1;
  const argmax = new Int32Array(rows);
  const prob = new Float32Array(rows);
  const secondProb = new Float32Array(rows);
  const entropy = new Float32Array(rows);
  for (let r = 0; r < rows; r++) {
    const row = logits.subarray(r * VOCAB, (r + 1) * VOCAB);
    let best = 0;
    for (let v = 1; v < VOCAB; v++) if (row[v] > row[best]) best = v;
    const p = softmax(row, T);
    let second = 0;
    let h = 0;
    for (let v = 0; v < VOCAB; v++) {
      if (v !== best && p[v] > second) second = p[v];
      if (p[v] > 0) h -= p[v] * Math.log(p[v]);
    }
    argmax[r] = best;
    prob[r] = p[best];
    secondProb[r] = second;
    entropy[r] = h;
  }
  return { logits, argmax, prob, secondProb, entropy };
}

export function softmax(row: ArrayLike<number>, temperature = 1): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) max = Math.max(max, row[i]);
  const p = new Float64Array(row.length);
  let sum = 0;
  for (let i = 0; i < row.length; i++) {
    p[i] = Math.exp((row[i] - max) / temperature);
    sum += p[i];
  }
  for (let i = 0; i < row.length; i++) p[i] /= sum;
  return p;
}
