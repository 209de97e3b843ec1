// A deterministic stand-in for the transformer: a ForwardEngine whose logits row for query position q
// is a hash of (q, every visible key position and the token cached there). It keeps a token "KV cache"
// exactly as the real engine keeps K/V, so a decoding loop that skips storing a finished block, or
// reads a stale one, gets different logits than a loop that recomputes everything from scratch.
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

/**
 * Computes the logits of query q over a key sequence, where `keys[k]` is the token at position k and
 * keys beyond its length do not exist. `boost` adds 12 to one token of chosen rows, to force a stop token for example.
 */
export function mockLogitsRow(
  keys: ArrayLike<number>,
  q: number,
  attention: AttentionKind,
  B: number,
  boost?: (q: number) => number,
): Float32Array {
  // FNV-1a over q and the visible (position, token) pairs.
  let h = 0x811c9dc5;
  const mix = (x: number) => {
    h ^= x & 0xffff;
    h = Math.imul(h, 0x01000193);
    h ^= x >>> 16;
    h = Math.imul(h, 0x01000193);
  };
  mix(q);
  for (let k = 0; k < keys.length; k++) {
    if (!visible(attention, B, q, k)) continue;
    mix(k);
    mix(keys[k] + 1);
  }

  // mulberry32 seeded by the hash. A per-row sharpness spreads the argmax probability from near
  // uniform to near one, so threshold decisions vary between rows.
  let s = h >>> 0;
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
  const boosted = boost ? boost(q) : -1;
  if (boosted >= 0) row[boosted] += 12;
  return row;
}

export interface RecordedCall {
  tokens: number[];
  start: number;
  attention: AttentionKind;
  logitRows: number[];
}

export interface MockEngineOptions {
  contextLength?: number;
  delayMs?: number;
  boost?: (q: number) => number;
}

export class MockEngine implements ForwardEngine {
  readonly config: ModelConfig;
  readonly contextLength: number;
  readonly threads = 1;
  readonly calls: RecordedCall[] = [];
  /** Token at each cache index, -1 where nothing was written. */
  readonly cache: Int32Array;
  private readonly delayMs: number;
  private readonly boost?: (q: number) => number;
  private busy = false;

  constructor(config: ModelConfig, options: MockEngineOptions = {}) {
    this.config = config;
    this.contextLength = options.contextLength ?? config.maxContext;
    this.cache = new Int32Array(this.contextLength).fill(-1);
    this.delayMs = options.delayMs ?? 0;
    this.boost = options.boost;
  }

  async forward(request: ForwardRequest): Promise<ForwardResult> {
    if (this.busy) throw new Error('MockEngine.forward called while another forward is running');
    this.busy = true;
    try {
      const { tokens, start, attention, logitRows } = request;
      this.calls.push({ tokens: Array.from(tokens), start, attention, logitRows: Array.from(logitRows) });
      if (start + tokens.length > this.contextLength) throw new Error(`forward past the context: ${start + tokens.length}`);
      if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
      else await Promise.resolve();

      this.cache.set(tokens, start);
      const keys = this.cache.subarray(0, start + tokens.length);
      const rows = logitRows.length;
      const logits = new Float32Array(rows * VOCAB);
      for (let r = 0; r < rows; r++) {
        logits.set(mockLogitsRow(keys, start + logitRows[r], attention, this.config.blockSize, this.boost), r * VOCAB);
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
