// The wasm kernels against the scalar references in test/reference/kernels.ts. Inputs come from a
// seeded PRNG and live in one shared WebAssembly.Memory, as in the worker pool. Shapes include sizes
// that are not multiples of the SIMD widths (4, 8, 32), and partial [first, end) slices run over
// outputs filled with a sentinel, to show that a slice writes its own range and nothing else.
//
// Tolerances: matmul outputs may differ from float64 by (k + 4) * 2^-24 * sum |x*w|, the bound for f32
// summation of k products plus the rounding of decoding and bias. Other kernels state theirs inline.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  MASK_BLOCK_CAUSAL, MASK_CAUSAL, MASK_FULL, instantiateKernels, loadKernelModule, packF32Panels, packedF32Length,
  type KernelExports,
} from '../src/runtime/kernels.js';
import * as ref from './reference/kernels.js';

const memory = new WebAssembly.Memory({ initial: 128, maximum: 1024, shared: true });
const kernels = instantiateKernels(await loadKernelModule(true), memory);
const SENTINEL = -777.25;

// ---------------------------------------------------------------- memory and random inputs

/** Bump allocator over the test memory. reset() frees everything, and offset 0 stays unused as the null pointer. */
class Arena {
  private offset = 64;
  constructor(private readonly memory: WebAssembly.Memory) {}
  reset(): void { this.offset = 64; }
  alloc(bytes: number): number {
    const at = this.offset;
    this.offset = (at + bytes + 15) & ~15;
    if (this.offset > this.memory.buffer.byteLength) throw new RangeError(`test arena full at ${this.offset} bytes`);
    return at;
  }
  f32(values: ArrayLike<number>): number {
    const at = this.alloc(values.length * 4);
    new Float32Array(this.memory.buffer, at, values.length).set(values);
    return at;
  }
  i32(values: ArrayLike<number>): number {
    const at = this.alloc(values.length * 4);
    new Int32Array(this.memory.buffer, at, values.length).set(values);
    return at;
  }
  bytes(values: Uint8Array | Int8Array | Uint16Array): number {
    const at = this.alloc(values.byteLength);
    new Uint8Array(this.memory.buffer, at, values.byteLength).set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    return at;
  }
  filled(count: number, value: number): number {
    const at = this.alloc(count * 4);
    new Float32Array(this.memory.buffer, at, count).fill(value);
    return at;
  }
  read(at: number, count: number): Float32Array {
    return new Float32Array(this.memory.buffer, at, count).slice();
  }
}

const arena = new Arena(memory);

/** mulberry32: a small seeded generator of uniform numbers in [0, 1). */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function uniformF32(rng: () => number, count: number, low = -1, high = 1): Float32Array {
  return Float32Array.from({ length: count }, () => low + (high - low) * rng());
}

/** Checks |got - want| <= tolerance(i) at every index and reports the first index that fails. */
function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, tolerance: (i: number) => number, label: string): void {
  assert.is(got.length, want.length, `${label}: length`);
  for (let i = 0; i < want.length; i++) {
    if (got[i] === want[i]) continue; // also covers infinities
    const error = Math.abs(got[i] - want[i]);
    if (!(error <= tolerance(i))) {
      assert.unreachable(`${label}: element ${i} is ${got[i]}, expected ${want[i]} (tolerance ${tolerance(i)})`);
    }
  }
}

// ---------------------------------------------------------------- matmuls

/** One weight format: random weights of shape [m,k] placed in memory, their decoded values, and the kernel call. */
interface PlacedWeights {
  decoded: Float64Array;
  run(y: number, x: number, bias: number, n: number, k: number, m: number, accumulate: number, first: number, end: number): void;
}

function placeF32(rng: () => number, m: number, k: number): PlacedWeights {
  const w = uniformF32(rng, m * k);
  const packed = new Float32Array(packedF32Length(m, k));
  packF32Panels(packed, w, m, k);
  const at = arena.f32(packed);
  return { decoded: Float64Array.from(w), run: (y, x, bias, n, kk, mm, acc, first, end) => kernels.matmul_f32(y, x, at, bias, n, kk, mm, acc, first, end) };
}

function randomScales(rng: () => number, count: number): Float32Array {
  return Float32Array.from({ length: count }, () => (rng() < 0.5 ? -1 : 1) * (0.002 + 0.02 * rng()));
}

function placeQ8_0(rng: () => number, m: number, k: number): PlacedWeights {
  const qs = Int8Array.from({ length: m * k }, () => Math.floor(rng() * 256) - 128);
  const scales = randomScales(rng, m * (k / 32));
  const qsAt = arena.bytes(qs);
  const scalesAt = arena.f32(scales);
  return {
    decoded: ref.dequantiseQ8_0(qs, scales, m, k),
    run: (y, x, bias, n, kk, mm, acc, first, end) => kernels.matmul_q8_0(y, x, qsAt, scalesAt, bias, n, kk, mm, acc, first, end),
  };
}

function placeQ4_0(rng: () => number, m: number, k: number): PlacedWeights {
  const qs = Uint8Array.from({ length: (m * k) / 2 }, () => Math.floor(rng() * 256));
  const scales = randomScales(rng, m * (k / 32));
  const qsAt = arena.bytes(qs);
  const scalesAt = arena.f32(scales);
  return {
    decoded: ref.dequantiseQ4_0(qs, scales, m, k),
    run: (y, x, bias, n, kk, mm, acc, first, end) => kernels.matmul_q4_0(y, x, qsAt, scalesAt, bias, n, kk, mm, acc, first, end),
  };
}

/** Random finite half bits: exponents 1..20 (magnitudes 2^-14..32) with some subnormals and zeros. */
function randomHalfBits(rng: () => number, count: number): Uint16Array {
  return Uint16Array.from({ length: count }, () => {
    const sign = rng() < 0.5 ? 0x8000 : 0;
    const exponent = rng() < 0.1 ? 0 : 1 + Math.floor(rng() * 20);
    return sign | (exponent << 10) | Math.floor(rng() * 1024);
  });
}

function placeF16(rng: () => number, m: number, k: number): PlacedWeights {
  const bits = randomHalfBits(rng, m * k);
  const at = arena.bytes(bits);
  return {
    decoded: Float64Array.from(bits, ref.halfToNumber),
    run: (y, x, bias, n, kk, mm, acc, first, end) => kernels.matmul_f16(y, x, at, bias, n, kk, mm, acc, first, end),
  };
}

function placeBF16(rng: () => number, m: number, k: number): PlacedWeights {
  const floats = uniformF32(rng, m * k, -2, 2);
  const bits = Uint16Array.from(new Uint32Array(floats.buffer), (b) => b >>> 16);
  const at = arena.bytes(bits);
  return {
    decoded: Float64Array.from(bits, ref.bf16ToNumber),
    run: (y, x, bias, n, kk, mm, acc, first, end) => kernels.matmul_bf16(y, x, at, bias, n, kk, mm, acc, first, end),
  };
}

/**
 * Runs one matmul over all outputs, with and without bias and accumulation, against the reference, and
 * then over each slice in `slices` on sentinel-filled outputs.
 */
function checkMatmul(
  label: string, place: (rng: () => number, m: number, k: number) => PlacedWeights,
  n: number, k: number, m: number, slices: Array<[number, number]>, seed: number,
): void {
  arena.reset();
  const rng = random(seed);
  const weights = place(rng, m, k);
  const x = uniformF32(rng, n * k);
  const bias = uniformF32(rng, m);
  const y0 = uniformF32(rng, n * m);
  const xAt = arena.f32(x);
  const biasAt = arena.f32(bias);
  const magnitude = ref.matmulMagnitude(x, weights.decoded, n, k, m);

  for (const [useBias, accumulate] of [[false, 0], [true, 0], [false, 1], [true, 1]] as const) {
    const want = ref.matmul(x, weights.decoded, useBias ? bias : null, n, k, m, accumulate ? y0 : null);
    const yAt = arena.f32(y0);
    weights.run(yAt, xAt, useBias ? biasAt : 0, n, k, m, accumulate, 0, m);
    const tolerance = (i: number) =>
      (k + 4) * 2 ** -24 * (magnitude[i] + Math.abs(bias[i % m]) + Math.abs(y0[i])) + 1e-30;
    assertClose(arena.read(yAt, n * m), want, tolerance, `${label} n=${n} k=${k} m=${m} bias=${useBias} accumulate=${accumulate}`);
  }

  const want = ref.matmul(x, weights.decoded, bias, n, k, m, null);
  for (const [first, end] of slices) {
    const yAt = arena.filled(n * m, SENTINEL);
    weights.run(yAt, xAt, biasAt, n, k, m, 0, first, end);
    const got = arena.read(yAt, n * m);
    const expected = Float64Array.from(want, (v, i) => (i % m >= first && i % m < end ? v : SENTINEL));
    const tolerance = (i: number) => (k + 4) * 2 ** -24 * (magnitude[i] + Math.abs(bias[i % m]));
    assertClose(got, expected, tolerance, `${label} n=${n} k=${k} m=${m} slice [${first},${end})`);
  }
}

test('packF32Panels layout', () => {
  const m = 10, k = 3;
  const w = Float32Array.from({ length: m * k }, (_, i) => i + 1);
  const packed = new Float32Array(packedF32Length(m, k)).fill(NaN);
  packF32Panels(packed, w, m, k);
  assert.is(packed.length, 2 * 8 * k);
  for (let o = 0; o < 16; o++) {
    for (let kk = 0; kk < k; kk++) {
      const at = Math.floor(o / 8) * 8 * k + kk * 8 + (o % 8);
      assert.is(packed[at], o < m ? w[o * k + kk] : 0, `W[${o}][${kk}]`);
    }
  }
});

test('matmul_f32 shapes and slices', () => {
  let seed = 1;
  for (const n of [1, 3, 5, 8]) {
    for (const k of [7, 13, 64]) {
      for (const m of [1, 9, 13, 50]) {
        const slices: Array<[number, number]> = m === 50 ? [[8, 24], [48, 50], [0, 8]] : m === 13 ? [[8, 13]] : [];
        checkMatmul('matmul_f32', placeF32, n, k, m, slices, seed++);
      }
    }
  }
});

test('matmul_f32 slices add up to the full call', () => {
  arena.reset();
  const n = 5, k = 13, m = 50;
  const rng = random(77);
  const weights = placeF32(rng, m, k);
  const xAt = arena.f32(uniformF32(rng, n * k));
  const fullAt = arena.filled(n * m, 0);
  weights.run(fullAt, xAt, 0, n, k, m, 0, 0, m);
  const slicedAt = arena.filled(n * m, SENTINEL);
  for (const [first, end] of [[0, 16], [16, 40], [40, 50]]) weights.run(slicedAt, xAt, 0, n, k, m, 0, first, end);
  assert.equal(arena.read(slicedAt, n * m), arena.read(fullAt, n * m));
});

test('matmul_q8_0 shapes and slices', () => {
  let seed = 100;
  for (const n of [1, 3, 5]) {
    for (const k of [32, 96, 160]) {
      for (const m of [1, 9, 13, 50]) {
        const slices: Array<[number, number]> = m >= 9 ? [[3, 8], [4, 9], [m - 1, m]] : [];
        checkMatmul('matmul_q8_0', placeQ8_0, n, k, m, slices, seed++);
      }
    }
  }
});

test('matmul_q4_0 shapes and slices', () => {
  let seed = 200;
  for (const n of [1, 3, 5]) {
    for (const k of [32, 96, 160]) {
      for (const m of [1, 9, 13, 50]) {
        const slices: Array<[number, number]> = m >= 9 ? [[3, 8], [4, 9], [m - 1, m]] : [];
        checkMatmul('matmul_q4_0', placeQ4_0, n, k, m, slices, seed++);
      }
    }
  }
});

test('matmul_f16 shapes and slices', () => {
  let seed = 300;
  for (const n of [1, 3, 5]) {
    for (const k of [7, 13, 64, 96]) {
      for (const m of [1, 9, 13]) {
        const slices: Array<[number, number]> = m >= 9 ? [[3, 8], [m - 1, m]] : [];
        checkMatmul('matmul_f16', placeF16, n, k, m, slices, seed++);
      }
    }
  }
});

test('matmul_bf16 shapes and slices', () => {
  let seed = 400;
  for (const n of [1, 3, 5]) {
    for (const k of [7, 13, 64, 96]) {
      for (const m of [1, 9, 13]) {
        const slices: Array<[number, number]> = m >= 9 ? [[3, 8], [m - 1, m]] : [];
        checkMatmul('matmul_bf16', placeBF16, n, k, m, slices, seed++);
      }
    }
  }
});

test('matmul_f16 propagates inf and nan', () => {
  arena.reset();
  const k = 12;
  const bits = new Uint16Array(3 * k).fill(0x3c00); // 1.0
  bits[5] = 0x7c00; // +inf in the vector part of row 0
  bits[k + 10] = 0xfc00; // -inf in the scalar tail of row 1
  bits[2 * k + 3] = 0x7e00; // NaN in row 2
  const wAt = arena.bytes(bits);
  const xAt = arena.f32(new Float32Array(k).fill(0.5));
  const yAt = arena.filled(3, 0);
  kernels.matmul_f16(yAt, xAt, wAt, 0, 1, k, 3, 0, 0, 3);
  const y = arena.read(yAt, 3);
  assert.is(y[0], Infinity);
  assert.is(y[1], -Infinity);
  assert.ok(Number.isNaN(y[2]), `row 2 is ${y[2]}, expected NaN`);
});

// ---------------------------------------------------------------- embeddings

test('embed_f16 decodes every half value exactly', () => {
  arena.reset();
  const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const tableAt = arena.bytes(bits);
  const tokensAt = arena.i32([0]);
  const yAt = arena.filled(65536, SENTINEL);
  kernels.embed_f16(yAt, tableAt, tokensAt, 1, 65536, 0, 1);
  const y = arena.read(yAt, 65536);
  for (let i = 0; i < 65536; i++) {
    const want = ref.halfToNumber(i);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(y[i]), `half 0x${i.toString(16)} gave ${y[i]}, expected NaN`);
    else assert.ok(Object.is(y[i], want), `half 0x${i.toString(16)} gave ${y[i]}, expected ${want}`);
  }
  // Spot checks of the edge cases named in the f16 format.
  assert.is(y[0x0001], 2 ** -24, 'smallest subnormal');
  assert.is(y[0x03ff], 1023 * 2 ** -24, 'largest subnormal');
  assert.is(y[0x7bff], 65504, 'max');
  assert.is(y[0x7c00], Infinity, 'inf');
  assert.ok(Object.is(y[0x8000], -0), 'negative zero');
});

test('embed_bf16 decodes every bfloat16 value exactly', () => {
  arena.reset();
  const bits = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const tableAt = arena.bytes(bits);
  const tokensAt = arena.i32([0]);
  const yAt = arena.filled(65536, SENTINEL);
  kernels.embed_bf16(yAt, tableAt, tokensAt, 1, 65536, 0, 1);
  const y = arena.read(yAt, 65536);
  for (let i = 0; i < 65536; i++) {
    const want = ref.bf16ToNumber(i);
    if (Number.isNaN(want)) assert.ok(Number.isNaN(y[i]), `bf16 0x${i.toString(16)} gave ${y[i]}, expected NaN`);
    else assert.ok(Object.is(y[i], want), `bf16 0x${i.toString(16)} gave ${y[i]}, expected ${want}`);
  }
});

test('embed gathers of every format', () => {
  const vocab = 11;
  const tokens = [3, 0, 10, 3, 7];
  const n = tokens.length;
  const [first, end] = [1, 4];
  let seed = 500;
  for (const dim of [32, 96, 13]) {
    const formats: Array<[string, (rng: () => number) => { decoded: Float64Array; run: (y: number, t: number) => void }]> = [
      ['embed_f32', (rng) => {
        const table = uniformF32(rng, vocab * dim);
        const at = arena.f32(table);
        return { decoded: Float64Array.from(table), run: (y, t) => kernels.embed_f32(y, at, t, n, dim, first, end) };
      }],
      ['embed_f32_packed', (rng) => {
        const table = uniformF32(rng, vocab * dim);
        const packed = new Float32Array(packedF32Length(vocab, dim));
        packF32Panels(packed, table, vocab, dim);
        const at = arena.f32(packed);
        return { decoded: Float64Array.from(table), run: (y, t) => kernels.embed_f32_packed(y, at, t, n, dim, first, end) };
      }],
      ['embed_f16', (rng) => {
        const bits = randomHalfBits(rng, vocab * dim);
        const at = arena.bytes(bits);
        return { decoded: Float64Array.from(bits, ref.halfToNumber), run: (y, t) => kernels.embed_f16(y, at, t, n, dim, first, end) };
      }],
      ['embed_bf16', (rng) => {
        const bits = Uint16Array.from({ length: vocab * dim }, () => Math.floor(rng() * 0x7f00));
        const at = arena.bytes(bits);
        return { decoded: Float64Array.from(bits, ref.bf16ToNumber), run: (y, t) => kernels.embed_bf16(y, at, t, n, dim, first, end) };
      }],
    ];
    if (dim % 32 === 0) {
      formats.push(['embed_q8_0', (rng) => {
        const qs = Int8Array.from({ length: vocab * dim }, () => Math.floor(rng() * 256) - 128);
        const scales = randomScales(rng, vocab * (dim / 32));
        const qsAt = arena.bytes(qs);
        const scalesAt = arena.f32(scales);
        return { decoded: ref.dequantiseQ8_0(qs, scales, vocab, dim), run: (y, t) => kernels.embed_q8_0(y, qsAt, scalesAt, t, n, dim, first, end) };
      }]);
      formats.push(['embed_q4_0', (rng) => {
        const qs = Uint8Array.from({ length: (vocab * dim) / 2 }, () => Math.floor(rng() * 256));
        const scales = randomScales(rng, vocab * (dim / 32));
        const qsAt = arena.bytes(qs);
        const scalesAt = arena.f32(scales);
        return { decoded: ref.dequantiseQ4_0(qs, scales, vocab, dim), run: (y, t) => kernels.embed_q4_0(y, qsAt, scalesAt, t, n, dim, first, end) };
      }]);
    }
    for (const [label, place] of formats) {
      arena.reset();
      const table = place(random(seed++));
      const tokensAt = arena.i32(tokens);
      const yAt = arena.filled(n * dim, SENTINEL);
      table.run(yAt, tokensAt);
      const want = ref.embed(table.decoded, tokens, dim);
      const expected = Float64Array.from(want, (v, i) => {
        const r = Math.floor(i / dim);
        return r >= first && r < end ? Math.fround(v) : SENTINEL;
      });
      // Exact: a gather only decodes, and scale * q rounds once to f32 in both.
      assertClose(arena.read(yAt, n * dim), expected, () => 0, `${label} dim=${dim}`);
    }
  }
});

// ---------------------------------------------------------------- normalisation and elementwise

test('rmsnorm rows, in place, row index and slices', () => {
  let seed = 600;
  for (const dim of [7, 16, 29, 64]) {
    arena.reset();
    const rng = random(seed++);
    const n = 5;
    const eps = 1e-6;
    const x = uniformF32(rng, n * dim, -3, 3);
    const weight = uniformF32(rng, dim, 0.5, 1.5);
    const xAt = arena.f32(x);
    const weightAt = arena.f32(weight);
    const tolerance = (i: number, want: ArrayLike<number>) => 1e-6 * (1 + Math.abs(want[i]));

    const all = ref.rmsnorm(x, weight, [0, 1, 2, 3, 4], dim, eps);
    const yAt = arena.filled(n * dim, SENTINEL);
    kernels.rmsnorm(yAt, xAt, weightAt, 0, n, dim, eps, 1, 4);
    const expected = Float64Array.from(all, (v, i) => (i >= dim && i < 4 * dim ? v : SENTINEL));
    assertClose(arena.read(yAt, n * dim), expected, (i) => tolerance(i, expected), `rmsnorm dim=${dim} slice [1,4)`);

    const inPlaceAt = arena.f32(x);
    kernels.rmsnorm(inPlaceAt, inPlaceAt, weightAt, 0, n, dim, eps, 0, n);
    assertClose(arena.read(inPlaceAt, n * dim), all, (i) => tolerance(i, all), `rmsnorm dim=${dim} in place`);

    const source = [4, 0, 2];
    const gathered = ref.rmsnorm(x, weight, source, dim, eps);
    const indexAt = arena.i32(source);
    const gatheredAt = arena.filled(source.length * dim, SENTINEL);
    kernels.rmsnorm(gatheredAt, xAt, weightAt, indexAt, source.length, dim, eps, 0, source.length);
    assertClose(arena.read(gatheredAt, source.length * dim), gathered, (i) => tolerance(i, gathered), `rmsnorm dim=${dim} row index`);
  }
});

test('softmax rows and slices', () => {
  let seed = 700;
  for (const dim of [1, 5, 8, 37, 1000]) {
    arena.reset();
    const rng = random(seed++);
    const n = 4;
    const x = uniformF32(rng, n * dim, -20, 20);
    if (dim > 1) x[dim - 1] = -Infinity; // a masked entry
    const xAt = arena.f32(x);
    kernels.softmax(xAt, n, dim, 1, 3);
    const all = ref.softmax(x, n, dim);
    const expected = Float64Array.from(all, (v, i) => (i >= dim && i < 3 * dim ? v : x[i]));
    // exp has a relative error below 5e-7, and the f32 sum adds up to about dim * 2^-24.
    assertClose(arena.read(xAt, n * dim), expected, (i) => (2e-6 + dim * 2 ** -24) * Math.abs(expected[i]) + 1e-12, `softmax dim=${dim}`);
  }
});

test('silu_mul columns slice and aliasing', () => {
  arena.reset();
  const rng = random(800);
  const n = 3, cols = 23;
  const gate = uniformF32(rng, n * cols, -12, 12);
  gate[0] = -100; // exp(100) is past the clamp of the wasm exp
  gate[1] = 100;
  gate[cols + 22] = -90; // the same in a scalar tail
  const up = uniformF32(rng, n * cols, -2, 2);
  const want = ref.siluMul(gate, up);
  const [first, end] = [1, 22];
  const gateAt = arena.f32(gate);
  const upAt = arena.f32(up);
  kernels.silu_mul(gateAt, gateAt, upAt, n, cols, first, end);
  const expected = Float64Array.from(want, (v, i) => (i % cols >= first && i % cols < end ? v : gate[i]));
  assertClose(arena.read(gateAt, n * cols), expected, (i) => 2e-6 * Math.abs(expected[i]) + 1e-30, 'silu_mul');
});

test('add_f32 slice', () => {
  arena.reset();
  const rng = random(900);
  const count = 39;
  const a = uniformF32(rng, count);
  const b = uniformF32(rng, count);
  const yAt = arena.filled(count, SENTINEL);
  kernels.add_f32(yAt, arena.f32(a), arena.f32(b), count, 2, 37);
  const expected = Float64Array.from(a, (v, i) => (i >= 2 && i < 37 ? Math.fround(v + b[i]) : SENTINEL));
  assertClose(arena.read(yAt, count), expected, () => 0, 'add_f32');
});

// ---------------------------------------------------------------- rotary embeddings

test('rope_neox and rope_norm, partial and sliced', () => {
  let seed = 1000;
  for (const layout of ['neox', 'norm'] as const) {
    for (const [headDim, ropeDim] of [[16, 16], [12, 12], [32, 16], [20, 12]]) {
      arena.reset();
      const rng = random(seed++);
      const n = 3, nHeads = 3;
      const half = ropeDim / 2;
      const x = uniformF32(rng, n * nHeads * headDim);
      const angles = Array.from({ length: n * half }, () => rng() * 10);
      const cos = Float32Array.from(angles, Math.cos);
      const sin = Float32Array.from(angles, Math.sin);
      const cosSin = new Float32Array(2 * n * half);
      cosSin.set(cos);
      cosSin.set(sin, n * half);
      const xAt = arena.f32(x);
      const cosSinAt = arena.f32(cosSin);
      const [first, end] = [2, 7];
      const run = layout === 'neox' ? kernels.rope_neox : kernels.rope_norm;
      run(xAt, cosSinAt, n, nHeads, headDim, ropeDim, first, end);
      const all = ref.rope(x, cos, sin, n, nHeads, headDim, ropeDim, layout);
      const expected = Float64Array.from(all, (v, i) => {
        const item = Math.floor(i / headDim);
        return item >= first && item < end ? v : x[i];
      });
      assertClose(arena.read(xAt, x.length), expected, () => 1e-6, `rope_${layout} headDim=${headDim} ropeDim=${ropeDim}`);
    }
  }
});

// ---------------------------------------------------------------- attention

test('attention mask kinds with GQA', () => {
  let seed = 1100;
  const nHeads = 4, nKvHeads = 2;
  for (const headDim of [64, 20, 7]) {
    for (const maskKind of [MASK_FULL, MASK_CAUSAL, MASK_BLOCK_CAUSAL]) {
      for (const [n, queryStart, nKeys] of [[5, 6, 11], [4, 3, 16]]) {
        arena.reset();
        const rng = random(seed++);
        const shape = { n, nHeads, nKvHeads, headDim, queryStart, nKeys, maskKind, blockSize: 4, scale: 1 / Math.sqrt(headDim) };
        const q = uniformF32(rng, n * nHeads * headDim, -2, 2);
        const keys = uniformF32(rng, nKeys * nKvHeads * headDim, -2, 2);
        const values = uniformF32(rng, nKeys * nKvHeads * headDim);
        const outAt = arena.filled(n * nHeads * headDim, SENTINEL);
        const scratchAt = arena.alloc(nKeys * 4);
        const [first, end] = [1, n * nHeads - 2];
        kernels.attention(outAt, arena.f32(q), arena.f32(keys), arena.f32(values), n, nHeads, nKvHeads, headDim,
          queryStart, nKeys, maskKind, 4, shape.scale, scratchAt, first, end);
        const all = ref.attention(q, keys, values, shape);
        const expected = Float64Array.from(all, (v, i) => {
          const item = Math.floor(i / headDim);
          return item >= first && item < end ? v : SENTINEL;
        });
        assertClose(arena.read(outAt, all.length), expected, () => 2e-6,
          `attention headDim=${headDim} mask=${maskKind} n=${n} queryStart=${queryStart} nKeys=${nKeys}`);
      }
    }
  }
});

// ---------------------------------------------------------------- mask update

function readRecords(at: number, n: number): ref.MaskUpdateRecord[] {
  const ints = new Int32Array(memory.buffer, at, 4 * n);
  const floats = new Float32Array(memory.buffer, at, 4 * n);
  return Array.from({ length: n }, (_, r) => ({
    argmax: ints[4 * r], pMax: floats[4 * r + 1], pSecond: floats[4 * r + 2], entropy: floats[4 * r + 3],
  }));
}

function assertRecord(got: ref.MaskUpdateRecord, want: ref.MaskUpdateRecord, label: string): void {
  assert.is(got.argmax, want.argmax, `${label}: argmax`);
  // Relative 2e-5 covers the f32 sums over vocabularies up to 4099 and the error of the wasm exp.
  for (const key of ['pMax', 'pSecond', 'entropy'] as const) {
    const error = Math.abs(got[key] - want[key]);
    assert.ok(error <= 2e-5 * Math.abs(want[key]) + 1e-7, `${label}: ${key} is ${got[key]}, expected ${want[key]}`);
  }
}

test('mask_update against float64 softmax', () => {
  let seed = 1200;
  for (const vocab of [1, 2, 5, 64, 1003, 4099]) {
    for (const temperature of [0, 0.7, 1.5]) {
      arena.reset();
      const rng = random(seed++);
      const n = 3;
      const logits = uniformF32(rng, n * vocab, -8, 8);
      const outAt = arena.alloc(16 * n);
      new Int32Array(memory.buffer, outAt, 4 * n).fill(-1);
      kernels.mask_update(outAt, arena.f32(logits), n, vocab, temperature, 1, 3);
      const records = readRecords(outAt, n);
      assert.is(records[0].argmax, -1, `vocab=${vocab}: row 0 is outside the slice`);
      for (let r = 1; r < 3; r++) {
        const want = ref.maskUpdate(logits.subarray(r * vocab, (r + 1) * vocab), temperature);
        assertRecord(records[r], want, `mask_update vocab=${vocab} T=${temperature} row ${r}`);
      }
    }
  }
});

test('mask_update ties and masked logits', () => {
  arena.reset();
  const vocab = 13;
  const rows = [
    Array.from({ length: vocab }, () => 1), // all equal: argmax 0, entropy ln(13)
    [0, 5, 0, 0, 0, 5, 0, 0, 0, 5, 0, 0, 5], // ties in several lanes and the tail
    [-Infinity, -Infinity, 2, -Infinity, 1, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, 3],
    [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], // a maximum in the tail that ties an earlier one
  ];
  const logits = Float32Array.from(rows.flat());
  const outAt = arena.alloc(16 * rows.length);
  kernels.mask_update(outAt, arena.f32(logits), rows.length, vocab, 0, 0, rows.length);
  const records = readRecords(outAt, rows.length);
  rows.forEach((row, r) => assertRecord(records[r], ref.maskUpdate(row, 0), `row ${r}`));
  assert.is(records[1].argmax, 1);
  assert.is(records[1].pSecond, records[1].pMax);
  assert.is(records[3].argmax, 0);
});

// ---------------------------------------------------------------- builds

/** Every member of KernelExports. `satisfies` makes the type check fail when a name is missing or extra. */
const KERNEL_NAMES = Object.keys({
  matmul_f32: true, matmul_q8_0: true, matmul_q4_0: true, matmul_f16: true, matmul_bf16: true,
  embed_f32: true, embed_f32_packed: true, embed_q8_0: true, embed_q4_0: true, embed_f16: true, embed_bf16: true,
  rmsnorm: true, softmax: true, rope_neox: true, rope_norm: true, silu_mul: true, add_f32: true, attention: true,
  mask_update: true, quantise_rows: true, silu_mul_quantise: true, matmul_q8_0_int8: true, matmul_q4_0_int8: true,
  embed_q8_0x4: true, embed_q4_0x4: true, q4_0x4_order: true,
} satisfies Record<keyof KernelExports, true>);

test('builds have no data segments and import only env.memory', () => {
  for (const name of ['dllm-shared.wasm', 'dllm-shared-relaxed.wasm', 'dllm-single.wasm', 'dllm-single-relaxed.wasm']) {
    const bytes = readFileSync(new URL(`../build/${name}`, import.meta.url));
    const module = new WebAssembly.Module(bytes);
    assert.equal(WebAssembly.Module.imports(module).map((i) => `${i.module}.${i.name}:${i.kind}`), ['env.memory:memory'], name);
    const sections: number[] = [];
    let at = 8;
    while (at < bytes.length) {
      const id = bytes[at++];
      let size = 0;
      for (let shift = 0; ; shift += 7) {
        const byte = bytes[at++];
        size |= (byte & 0x7f) << shift;
        if (!(byte & 0x80)) break;
      }
      sections.push(id);
      at += size;
    }
    assert.not.ok(sections.includes(11), `${name} has a data section`);
    assert.not.ok(sections.includes(12), `${name} has a data count section`);
    const exported = new Set(WebAssembly.Module.exports(module).map((e) => e.name));
    for (const kernel of KERNEL_NAMES) assert.ok(exported.has(kernel), `${name} lacks ${kernel}`);
  }
});

test('single build runs on unshared memory', async () => {
  const plain = new WebAssembly.Memory({ initial: 2, maximum: 16 });
  const single: KernelExports = instantiateKernels(await loadKernelModule(false), plain);
  const n = 3, k = 13, m = 9;
  const rng = random(1300);
  const w = uniformF32(rng, m * k);
  const x = uniformF32(rng, n * k);
  const packed = new Float32Array(packedF32Length(m, k));
  packF32Panels(packed, w, m, k);
  const view = new Float32Array(plain.buffer);
  const [wAt, xAt, yAt] = [64, 64 + packed.length * 4, 64 + (packed.length + x.length) * 4];
  view.set(packed, wAt / 4);
  view.set(x, xAt / 4);
  single.matmul_f32(yAt, xAt, wAt, 0, n, k, m, 0, 0, m);
  const want = ref.matmul(x, w, null, n, k, m, null);
  const magnitude = ref.matmulMagnitude(x, w, n, k, m);
  assertClose(view.slice(yAt / 4, yAt / 4 + n * m), want, (i) => (k + 4) * 2 ** -24 * magnitude[i], 'single matmul_f32');
});

test.run();
