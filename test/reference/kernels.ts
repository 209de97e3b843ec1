// Scalar references for the wasm kernels in assembly/. They are written from the kernel contracts, not
// from the kernels: plain loops in float64 over whole matrices, with weights decoded element by element.
// Every function returns a fresh array and leaves its inputs unchanged.

// ---------------------------------------------------------------- weight decoding

/** Decodes an IEEE 754 half-precision bit pattern from its sign, exponent and mantissa fields. */
export function halfToNumber(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 31) return mantissa === 0 ? sign * Infinity : NaN;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

/** Decodes a bfloat16 bit pattern: the upper 16 bits of an f32. */
export function bf16ToNumber(bits: number): number {
  const view = new DataView(new ArrayBuffer(4));
  view.setUint32(0, (bits & 0xffff) << 16);
  return view.getFloat32(0);
}

/** Dequantises Q8_0 rows [m,k]: W[o][j] = scales[o*(k/32) + j/32] * qs[o*k + j]. */
export function dequantiseQ8_0(qs: Int8Array, scales: Float32Array, m: number, k: number): Float64Array {
  const w = new Float64Array(m * k);
  for (let o = 0; o < m; o++) {
    for (let j = 0; j < k; j++) w[o * k + j] = scales[o * (k / 32) + Math.floor(j / 32)] * qs[o * k + j];
  }
  return w;
}

/**
 * Dequantises Q4_0 rows [m,k]. Row o has k/2 bytes. In block b, byte i stores element 32b+i in its low
 * nibble and element 32b+16+i in its high nibble, and W = (nibble - 8) * scale.
 */
export function dequantiseQ4_0(qs: Uint8Array, scales: Float32Array, m: number, k: number): Float64Array {
  const w = new Float64Array(m * k);
  for (let o = 0; o < m; o++) {
    for (let j = 0; j < k; j++) {
      const block = Math.floor(j / 32);
      const within = j % 32;
      const byte = qs[o * (k / 2) + block * 16 + (within % 16)];
      const nibble = within < 16 ? byte & 0x0f : byte >> 4;
      w[o * k + j] = (nibble - 8) * scales[o * (k / 32) + block];
    }
  }
  return w;
}

// ---------------------------------------------------------------- matmul and gathers

/** y[n,m] = (accumulate ? y0 : 0) + x[n,k] @ W[m,k]^T (+ bias[m]). */
export function matmul(
  x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null,
  n: number, k: number, m: number, y0: ArrayLike<number> | null,
): Float64Array {
  const y = new Float64Array(n * m);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < m; o++) {
      let sum = 0;
      for (let j = 0; j < k; j++) sum += x[r * k + j] * w[o * k + j];
      if (bias) sum += bias[o];
      if (y0) sum += y0[r * m + o];
      y[r * m + o] = sum;
    }
  }
  return y;
}

/** Returns sum_j |x[r,j] * W[o,j]| for every output: the scale of the rounding error of y[r,o]. */
export function matmulMagnitude(x: ArrayLike<number>, w: ArrayLike<number>, n: number, k: number, m: number): Float64Array {
  const size = new Float64Array(n * m);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < m; o++) {
      let sum = 0;
      for (let j = 0; j < k; j++) sum += Math.abs(x[r * k + j] * w[o * k + j]);
      size[r * m + o] = sum;
    }
  }
  return size;
}

/** y[n,dim] = table[tokens[r]] for a decoded row-major table. */
export function embed(table: ArrayLike<number>, tokens: ArrayLike<number>, dim: number): Float64Array {
  const y = new Float64Array(tokens.length * dim);
  for (let r = 0; r < tokens.length; r++) {
    for (let i = 0; i < dim; i++) y[r * dim + i] = table[tokens[r] * dim + i];
  }
  return y;
}

// ---------------------------------------------------------------- normalisation and elementwise

/** y[r] = x[source[r]] / sqrt(mean(x[source[r]]^2) + eps) * weight, one row per entry of source. */
export function rmsnorm(
  x: ArrayLike<number>, weight: ArrayLike<number>, source: ArrayLike<number>, dim: number, eps: number,
): Float64Array {
  const y = new Float64Array(source.length * dim);
  for (let r = 0; r < source.length; r++) {
    const from = source[r] * dim;
    let squares = 0;
    for (let i = 0; i < dim; i++) squares += x[from + i] * x[from + i];
    const inverse = 1 / Math.sqrt(squares / dim + eps);
    for (let i = 0; i < dim; i++) y[r * dim + i] = x[from + i] * inverse * weight[i];
  }
  return y;
}

/** Row-wise softmax of x[n,dim]. */
export function softmax(x: ArrayLike<number>, n: number, dim: number): Float64Array {
  const y = new Float64Array(n * dim);
  for (let r = 0; r < n; r++) {
    let largest = -Infinity;
    for (let i = 0; i < dim; i++) largest = Math.max(largest, x[r * dim + i]);
    let sum = 0;
    for (let i = 0; i < dim; i++) sum += Math.exp(x[r * dim + i] - largest);
    for (let i = 0; i < dim; i++) y[r * dim + i] = Math.exp(x[r * dim + i] - largest) / sum;
  }
  return y;
}

/** silu(g) * u elementwise, silu(g) = g * sigmoid(g). */
export function siluMul(gate: ArrayLike<number>, up: ArrayLike<number>): Float64Array {
  const y = new Float64Array(gate.length);
  for (let i = 0; i < gate.length; i++) y[i] = (gate[i] / (1 + Math.exp(-gate[i]))) * up[i];
  return y;
}

// ---------------------------------------------------------------- rotary embeddings

/**
 * Applies RoPE to x[n, nHeads*headDim] with tables cos[n,half] and sin[n,half], half = ropeDim/2.
 * 'neox' rotates the pairs (i, i+half); 'norm' rotates (2i, 2i+1). Dims from ropeDim on are copied.
 */
export function rope(
  x: ArrayLike<number>, cos: ArrayLike<number>, sin: ArrayLike<number>,
  n: number, nHeads: number, headDim: number, ropeDim: number, layout: 'neox' | 'norm',
): Float64Array {
  const y = Float64Array.from(x);
  const half = ropeDim / 2;
  for (let r = 0; r < n; r++) {
    for (let h = 0; h < nHeads; h++) {
      const base = (r * nHeads + h) * headDim;
      for (let i = 0; i < half; i++) {
        const ia = layout === 'neox' ? base + i : base + 2 * i;
        const ib = layout === 'neox' ? base + i + half : base + 2 * i + 1;
        const c = cos[r * half + i];
        const s = sin[r * half + i];
        y[ia] = x[ia] * c - x[ib] * s;
        y[ib] = x[ib] * c + x[ia] * s;
      }
    }
  }
  return y;
}

// ---------------------------------------------------------------- attention

/** Whether query index qi sees key j under a mask kind (0 full, 1 causal, 2 block-causal). */
export function keyVisible(maskKind: number, qi: number, j: number, blockSize: number): boolean {
  if (maskKind === 0) return true;
  if (maskKind === 1) return j <= qi;
  return Math.floor(j / blockSize) <= Math.floor(qi / blockSize);
}

export interface AttentionShape {
  n: number;
  nHeads: number;
  nKvHeads: number;
  headDim: number;
  queryStart: number;
  nKeys: number;
  maskKind: number;
  blockSize: number;
  scale: number;
}

/** out[n, nHeads*headDim] = softmax over visible keys of (scale * q.k) times v, per query head. */
export function attention(
  q: ArrayLike<number>, keys: ArrayLike<number>, values: ArrayLike<number>, shape: AttentionShape,
): Float64Array {
  const { n, nHeads, nKvHeads, headDim, queryStart, nKeys, maskKind, blockSize, scale } = shape;
  const out = new Float64Array(n * nHeads * headDim);
  const kvWidth = nKvHeads * headDim;
  for (let r = 0; r < n; r++) {
    const qi = queryStart + r;
    for (let h = 0; h < nHeads; h++) {
      const kvHead = Math.floor(h / (nHeads / nKvHeads));
      const qBase = (r * nHeads + h) * headDim;
      const scores: number[] = [];
      for (let j = 0; j < nKeys; j++) {
        if (!keyVisible(maskKind, qi, j, blockSize)) continue;
        let dot = 0;
        for (let d = 0; d < headDim; d++) dot += q[qBase + d] * keys[j * kvWidth + kvHead * headDim + d];
        scores.push(scale * dot);
      }
      if (scores.length === 0) continue;
      const largest = Math.max(...scores);
      const weights = scores.map((s) => Math.exp(s - largest));
      const total = weights.reduce((a, b) => a + b, 0);
      for (let j = 0; j < weights.length; j++) {
        // Visible keys always form a prefix 0..count-1, so weights[j] belongs to key j.
        for (let d = 0; d < headDim; d++) {
          out[qBase + d] += (weights[j] / total) * values[j * kvWidth + kvHead * headDim + d];
        }
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- mask update

export interface MaskUpdateRecord {
  argmax: number;
  pMax: number;
  pSecond: number;
  entropy: number;
}

/** Statistics of p = softmax(logits / T), T = temperature > 0 ? temperature : 1, in float64. */
export function maskUpdate(logits: ArrayLike<number>, temperature: number): MaskUpdateRecord {
  const t = temperature > 0 ? temperature : 1;
  let argmax = 0;
  for (let i = 1; i < logits.length; i++) if (logits[i] > logits[argmax]) argmax = i;
  const largest = logits[argmax];
  const weights = Array.from(logits, (v) => Math.exp((v - largest) / t));
  const total = weights.reduce((a, b) => a + b, 0);
  const p = weights.map((e) => e / total);
  let second = 0;
  for (let i = 0; i < p.length; i++) if (i !== argmax) second = Math.max(second, p[i]);
  let entropy = 0;
  for (const pi of p) if (pi > 0) entropy -= pi * Math.log(pi);
  return { argmax, pMax: p[argmax], pSecond: second, entropy };
}

// ---------------------------------------------------------------- int8 matmul path

/** Rounds to the nearest integer, halves to even (f32x4.nearest). */
export function nearestEven(value: number): number {
  const floor = Math.floor(value);
  const rest = value - floor;
  if (rest < 0.5) return floor;
  if (rest > 0.5) return floor + 1;
  return floor % 2 === 0 ? floor : floor + 1;
}

export interface QuantisedRowsRef {
  values: Int16Array;   // (n, k)
  scales: Float32Array; // (n, k/32)
  sums: Int32Array;     // (n, k/32)
}

/**
 * Quantises x[n,k] per block of 32 as quantise_rows does, in the same f32 steps (so the result is exact):
 * d = f32(max|x| / 127), q = nearest-even(f32(x * f32(1 / d))), or d = 0 and q = 0 for a block of zeros.
 */
export function quantiseRows(x: ArrayLike<number>, n: number, k: number): QuantisedRowsRef {
  const values = new Int16Array(n * k);
  const scales = new Float32Array(n * k / 32);
  const sums = new Int32Array(n * k / 32);
  for (let b = 0; b < n * k / 32; b++) {
    let largest = 0;
    for (let i = 0; i < 32; i++) largest = Math.max(largest, Math.abs(Math.fround(x[b * 32 + i])));
    const d = Math.fround(largest / 127);
    const inverse = d !== 0 ? Math.fround(1 / d) : 0;
    scales[b] = d;
    for (let i = 0; i < 32; i++) {
      const q = nearestEven(Math.fround(Math.fround(x[b * 32 + i]) * inverse));
      values[b * 32 + i] = q;
      sums[b] += q;
    }
  }
  return { values, scales, sums };
}

/** Decodes GGUF Q8_0 blocks (f16 scale, 32 int8) of an [m,k] matrix: the integers and one scale per block. */
export function decodeGgufQ8_0(bytes: Uint8Array, m: number, k: number): { ints: Int8Array; scales: Float64Array } {
  const ints = new Int8Array(m * k);
  const scales = new Float64Array(m * k / 32);
  for (let b = 0; b < m * k / 32; b++) {
    scales[b] = halfToNumber(bytes[b * 34] | (bytes[b * 34 + 1] << 8));
    for (let i = 0; i < 32; i++) ints[b * 32 + i] = (bytes[b * 34 + 2 + i] << 24) >> 24;
  }
  return { ints, scales };
}

/** Decodes GGUF Q4_0 blocks (f16 scale, byte i: element i low nibble, element i+16 high) to integers u - 8. */
export function decodeGgufQ4_0(bytes: Uint8Array, m: number, k: number): { ints: Int8Array; scales: Float64Array } {
  const ints = new Int8Array(m * k);
  const scales = new Float64Array(m * k / 32);
  for (let b = 0; b < m * k / 32; b++) {
    scales[b] = halfToNumber(bytes[b * 18] | (bytes[b * 18 + 1] << 8));
    for (let i = 0; i < 16; i++) {
      const byte = bytes[b * 18 + 2 + i];
      ints[b * 32 + i] = (byte & 0x0f) - 8;
      ints[b * 32 + 16 + i] = (byte >> 4) - 8;
    }
  }
  return { ints, scales };
}

/**
 * y[n,m] = (y0 when given) + sum over blocks b of (sum_i xq[r,32b+i] * w[o,32b+i]) * dx[r,b] * dw[o,b] (+ bias):
 * the int8 matmul on already quantised activations and integer weights with block scales, in float64.
 * Also returns sum_b |block term| per output, the scale of the f32 rounding error.
 */
export function matmulInt8(
  x: QuantisedRowsRef, w: { ints: Int8Array; scales: Float64Array }, bias: ArrayLike<number> | null,
  n: number, k: number, m: number, y0: ArrayLike<number> | null,
): { y: Float64Array; magnitude: Float64Array } {
  const blocks = k / 32;
  const y = new Float64Array(n * m);
  const magnitude = new Float64Array(n * m);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < m; o++) {
      let sum = 0;
      let size = 0;
      for (let b = 0; b < blocks; b++) {
        let dot = 0;
        for (let i = 0; i < 32; i++) dot += x.values[r * k + b * 32 + i] * w.ints[o * k + b * 32 + i];
        const term = dot * x.scales[r * blocks + b] * w.scales[o * blocks + b];
        sum += term;
        size += Math.abs(term);
      }
      if (bias) sum += bias[o];
      if (y0) sum += y0[r * m + o];
      y[r * m + o] = sum;
      magnitude[r * m + o] = size;
    }
  }
  return { y, magnitude };
}
