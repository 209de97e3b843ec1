// The int8 matmul path: activation quantisation, the Q8_0x4/Q4_0x4 packers and gathers, the int8
// matmuls against their scalar references (test/reference/kernels.ts), and whole models loaded with
// `int8: true` against the float64 forwards on their dequantised weights. Kernel tests run on the
// baseline build and, where the runtime runs it, the relaxed-SIMD build, whose Q4_0 kernel and byte order
// differ.
//
// Tolerances: quantisation is compared exactly, because the reference repeats the kernel's f32 steps.
// A matmul output may differ from float64 by (blocks + 3) * 2^-24 * sum_b |block term|: the f32 rounding
// of each block's scale product and of the running sum. Model logits differ from the f32 references by
// the int8 rounding of the activations. They must stay within 0.15, the tolerance used against
// llama.cpp, because llama.cpp also quantises activations to 8 bits.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openCheckpoint } from '../src/models/load-checkpoint.js';
import type { AttentionKind } from '../src/models/types.js';
import { WasmEngine } from '../src/runtime/engine.js';
import { planLayout } from '../src/runtime/layout.js';
import { chooseKernelBuild } from '../src/runtime/kernel-build.js';
import { instantiateKernels, packQ4_0x4, packQ8_0x4, q4Order, x4Bytes, type KernelExports } from '../src/runtime/kernels.js';
import * as ref from './reference/kernels.js';

const memory = new WebAssembly.Memory({ initial: 256, maximum: 1024, shared: true });
const builds = new Map<string, KernelExports>();
builds.set('baseline', instantiateKernels((await chooseKernelBuild(true, 'baseline', () => {})).module, memory));
const auto = await chooseKernelBuild(true, 'auto', () => {});
if (auto.build === 'relaxed') builds.set('relaxed', instantiateKernels(auto.module, memory));
/** The kernels of the build the running test covers. */
let kernels = builds.get('baseline')!;

/** Registers `body` once per kernel build, with that build's exports in `kernels`. */
function kernelTest(name: string, body: () => void): void {
  for (const [build, exports] of builds) {
    test(`${name} (${build} build)`, () => {
      kernels = exports;
      body();
    });
  }
}
const SENTINEL = -777.25;

class Arena {
  private offset = 64;
  reset(): void { this.offset = 64; }
  alloc(bytes: number): number {
    const at = this.offset;
    this.offset = (at + bytes + 15) & ~15;
    if (this.offset > memory.buffer.byteLength) throw new RangeError(`test arena full at ${this.offset} bytes`);
    return at;
  }
  f32(values: ArrayLike<number>): number {
    const at = this.alloc(values.length * 4);
    new Float32Array(memory.buffer, at, values.length).set(values);
    return at;
  }
  filled(count: number, value: number): number {
    const at = this.alloc(count * 4);
    new Float32Array(memory.buffer, at, count).fill(value);
    return at;
  }
  read(at: number, count: number): Float32Array {
    return new Float32Array(memory.buffer, at, count).slice();
  }
}
const arena = new Arena();

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

/** GGUF Q8_0 or Q4_0 blocks of an [m,k] matrix with random quants and f16 scales around 0.01. */
function randomGgufBlocks(rng: () => number, type: 'Q8_0' | 'Q4_0', m: number, k: number): Uint8Array {
  const blockBytes = type === 'Q8_0' ? 34 : 18;
  const bytes = Uint8Array.from({ length: (m * k / 32) * blockBytes }, () => Math.floor(rng() * 256));
  for (let b = 0; b < m * k / 32; b++) {
    // f16 with exponent 7..9 (2^-8..2^-6) and a random sign and mantissa
    const bits = (rng() < 0.5 ? 0x8000 : 0) | ((7 + Math.floor(rng() * 3)) << 10) | Math.floor(rng() * 1024);
    bytes[b * blockBytes] = bits & 0xff;
    bytes[b * blockBytes + 1] = bits >> 8;
  }
  return bytes;
}

interface PlacedX4 {
  data: number;
  scales: number;
  decoded: { ints: Int8Array; scales: Float64Array };
}

function placeX4(type: 'Q8_0' | 'Q4_0', blocks: Uint8Array, m: number, k: number): PlacedX4 {
  const format = type === 'Q8_0' ? 'q8_0' : 'q4_0';
  const sizes = x4Bytes(format, m, k);
  const data = arena.alloc(sizes.data);
  const scales = arena.alloc(sizes.scales);
  const dataView = new Uint8Array(memory.buffer, data, sizes.data);
  const scaleView = new Float32Array(memory.buffer, scales, sizes.scales / 4);
  if (type === 'Q8_0') packQ8_0x4(dataView, scaleView, blocks, m, k);
  else packQ4_0x4(dataView, scaleView, blocks, m, k, q4Order(kernels));
  const decoded = type === 'Q8_0' ? ref.decodeGgufQ8_0(blocks, m, k) : ref.decodeGgufQ4_0(blocks, m, k);
  return { data, scales, decoded };
}

/** Places x[n,k] and runs quantise_rows over all columns; returns the buffers. */
function quantiseInMemory(x: Float32Array, n: number, k: number, first = 0, end = k) {
  const xAt = arena.f32(x);
  const values = arena.alloc(n * k * 2);
  const bytes = arena.alloc(n * k);
  const scales = arena.alloc(n * k / 8);
  const sums = arena.alloc(n * k / 8);
  new Uint8Array(memory.buffer, values, n * k * 2).fill(0x55);
  new Uint8Array(memory.buffer, bytes, n * k).fill(0x55);
  kernels.quantise_rows(values, bytes, scales, sums, xAt, n, k, first, end);
  return {
    xAt, values, bytes, scales, sums,
    read: () => ({
      values: new Int16Array(memory.buffer, values, n * k).slice(),
      bytes: new Int8Array(memory.buffer, bytes, n * k).slice(),
      scales: new Float32Array(memory.buffer, scales, n * k / 32).slice(),
      sums: new Int32Array(memory.buffer, sums, n * k / 32).slice(),
    }),
  };
}

// ---------------------------------------------------------------- quantisation

kernelTest('quantise_rows matches the reference exactly', () => {
  for (const [n, k, seed] of [[1, 32, 1], [3, 96, 2], [5, 896, 3]] as const) {
    arena.reset();
    const rng = random(seed);
    const x = uniformF32(rng, n * k, -3, 3);
    x.fill(0, 32, 64); // a block of zeros when n * k > 64
    if (n * k >= 128) x[100] = 1e-30; // a block whose scale is subnormal-adjacent
    const got = quantiseInMemory(x, n, k).read();
    const want = ref.quantiseRows(x, n, k);
    assert.equal(Array.from(got.values), Array.from(want.values), `values n=${n} k=${k}`);
    assert.equal(Array.from(got.scales), Array.from(want.scales), `scales n=${n} k=${k}`);
    assert.equal(Array.from(got.sums), Array.from(want.sums), `sums n=${n} k=${k}`);
    for (const q of got.values) assert.ok(q >= -127 && q <= 127, `value ${q} outside [-127, 127]`);
    if (q4Order(kernels) === 'quads') assert.equal(Array.from(got.bytes), Array.from(got.values), `int8 copy n=${n} k=${k}`);
  }
});

kernelTest('quantise_rows column slice leaves other columns', () => {
  arena.reset();
  const n = 3, k = 128;
  const x = uniformF32(random(7), n * k);
  const got = quantiseInMemory(x, n, k, 32, 96).read();
  const want = ref.quantiseRows(x, n, k);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const inside = c >= 32 && c < 96;
      assert.is(got.values[r * k + c], inside ? want.values[r * k + c] : 0x5555, `row ${r} column ${c}`);
    }
  }
});

kernelTest('silu_mul_quantise equals silu_mul then quantise_rows', () => {
  arena.reset();
  const n = 3, cols = 160;
  const rng = random(11);
  const gate = uniformF32(rng, n * cols, -6, 6);
  const up = uniformF32(rng, n * cols, -2, 2);
  const gateAt = arena.f32(gate), upAt = arena.f32(up);
  const plainAt = arena.filled(n * cols, 0);
  kernels.silu_mul(plainAt, gateAt, upAt, n, cols, 0, cols);
  const plain = arena.read(plainAt, n * cols);

  const yAt = arena.filled(n * cols, SENTINEL);
  const values = arena.alloc(n * cols * 2), bytes = arena.alloc(n * cols), scales = arena.alloc(n * cols / 8), sums = arena.alloc(n * cols / 8);
  kernels.silu_mul_quantise(values, bytes, scales, sums, yAt, gateAt, upAt, n, cols, 32, 128);
  kernels.silu_mul_quantise(values, bytes, scales, sums, yAt, gateAt, upAt, n, cols, 0, 32);
  kernels.silu_mul_quantise(values, bytes, scales, sums, yAt, gateAt, upAt, n, cols, 128, 160);
  assert.equal(Array.from(arena.read(yAt, n * cols)), Array.from(plain), 'f32 output');
  const want = ref.quantiseRows(plain, n, cols);
  assert.equal(Array.from(new Int16Array(memory.buffer, values, n * cols)), Array.from(want.values), 'values');
  assert.equal(Array.from(new Float32Array(memory.buffer, scales, n * cols / 32)), Array.from(want.scales), 'scales');
  assert.equal(Array.from(new Int32Array(memory.buffer, sums, n * cols / 32)), Array.from(want.sums), 'sums');
  if (q4Order(kernels) === 'quads') assert.equal(Array.from(new Int8Array(memory.buffer, bytes, n * cols)), Array.from(want.values), 'int8 copy');
});

// ---------------------------------------------------------------- matmuls

function checkInt8Matmul(type: 'Q8_0' | 'Q4_0', n: number, k: number, m: number, slices: Array<[number, number]>, seed: number): void {
  arena.reset();
  const rng = random(seed);
  const w = placeX4(type, randomGgufBlocks(rng, type, m, k), m, k);
  const x = uniformF32(rng, n * k);
  const bias = uniformF32(rng, m);
  const y0 = uniformF32(rng, n * m);
  const xq = quantiseInMemory(x, n, k);
  const quantised = xq.read();
  const biasAt = arena.f32(bias);
  const run = (y: number, biasAt: number, accumulate: number, first: number, end: number) => type === 'Q8_0'
    ? kernels.matmul_q8_0_int8(y, xq.values, xq.scales, xq.sums, w.data, w.scales, biasAt, n, k, m, accumulate, first, end)
    : kernels.matmul_q4_0_int8(y, xq.values, xq.bytes, xq.scales, xq.sums, w.data, w.scales, biasAt, n, k, m, accumulate, first, end);
  const label = `${type} int8 n=${n} k=${k} m=${m}`;

  for (const [useBias, accumulate] of [[false, 0], [true, 0], [false, 1], [true, 1]] as const) {
    const { y: want, magnitude } = ref.matmulInt8(quantised, w.decoded, useBias ? bias : null, n, k, m, accumulate ? y0 : null);
    const yAt = arena.f32(y0);
    run(yAt, useBias ? biasAt : 0, accumulate, 0, m);
    const got = arena.read(yAt, n * m);
    for (let i = 0; i < n * m; i++) {
      const tolerance = (k / 32 + 3) * 2 ** -24 * (magnitude[i] + Math.abs(bias[i % m]) + Math.abs(y0[i])) + 1e-30;
      if (!(Math.abs(got[i] - want[i]) <= tolerance)) {
        assert.unreachable(`${label} bias=${useBias} accumulate=${accumulate}: element ${i} is ${got[i]}, expected ${want[i]} (tolerance ${tolerance})`);
      }
    }
  }

  const { y: want, magnitude } = ref.matmulInt8(quantised, w.decoded, bias, n, k, m, null);
  for (const [first, end] of slices) {
    const yAt = arena.filled(n * m, SENTINEL);
    run(yAt, biasAt, 0, first, end);
    const got = arena.read(yAt, n * m);
    for (let i = 0; i < n * m; i++) {
      const inside = i % m >= first && i % m < end;
      if (!inside) {
        assert.is(got[i], SENTINEL, `${label} slice [${first},${end}) wrote element ${i}`);
        continue;
      }
      const tolerance = (k / 32 + 3) * 2 ** -24 * (magnitude[i] + Math.abs(bias[i % m])) + 1e-30;
      assert.ok(Math.abs(got[i] - want[i]) <= tolerance, `${label} slice [${first},${end}) element ${i}: ${got[i]} vs ${want[i]}`);
    }
  }
}

kernelTest('matmul_q8_0_int8 shapes and slices', () => {
  let seed = 500;
  for (const n of [1, 2, 3, 4, 5, 7, 9]) {
    for (const k of [32, 96]) {
      for (const m of [1, 3, 4, 9, 13, 50]) {
        const slices: Array<[number, number]> = m >= 13 ? [[4, 8], [8, m], [0, 12]] : m >= 9 ? [[4, 9]] : [];
        checkInt8Matmul('Q8_0', n, k, m, slices, seed++);
      }
    }
  }
});

kernelTest('matmul_q4_0_int8 shapes and slices', () => {
  let seed = 600;
  for (const n of [1, 2, 3, 4, 7]) {
    for (const k of [32, 160]) {
      for (const m of [1, 3, 4, 9, 13, 50]) {
        const slices: Array<[number, number]> = m >= 13 ? [[4, 8], [8, m], [0, 12]] : m >= 9 ? [[4, 9]] : [];
        checkInt8Matmul('Q4_0', n, k, m, slices, seed++);
      }
    }
  }
});

kernelTest('int8 matmul of an exact input is exact', () => {
  // x = one block of integers whose max is 127: the scale is 1, so the quantisation is lossless and the
  // result equals the dequantised product.
  arena.reset();
  const n = 2, k = 32, m = 5;
  const x = Float32Array.from({ length: n * k }, (_, i) => (i % 32 === 0 ? 127 : ((i * 37) % 255) - 127));
  const rng = random(42);
  const w = placeX4('Q8_0', randomGgufBlocks(rng, 'Q8_0', m, k), m, k);
  const xq = quantiseInMemory(x, n, k);
  const yAt = arena.filled(n * m, 0);
  kernels.matmul_q8_0_int8(yAt, xq.values, xq.scales, xq.sums, w.data, w.scales, 0, n, k, m, 0, 0, m);
  const got = arena.read(yAt, n * m);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < m; o++) {
      let dot = 0;
      for (let i = 0; i < k; i++) dot += x[r * k + i] * w.decoded.ints[o * k + i];
      assert.is(got[r * m + o], Math.fround(dot * w.decoded.scales[o]), `row ${r} output ${o}`);
    }
  }
});

kernelTest('Q4_0 int8 sums at the limit of 16-bit partial sums are exact', () => {
  // Rows of +-127 (scale 1, lossless) against nibbles 15 and 0 (weights 7 and -8, scale 1): the relaxed
  // kernel's i16 lanes reach 16 * 15 * 127 = 30480, its largest possible partial sum.
  arena.reset();
  const n = 4, k = 64, m = 8;
  const x = Float32Array.from({ length: n * k }, (_, i) => ((i >> 6) % 2 === 0 ? 127 : -127) * ((i >> 7) === 1 && i % 3 === 0 ? -1 : 1));
  const blocks = new Uint8Array((m * k / 32) * 18);
  for (let b = 0; b < m * k / 32; b++) {
    blocks[b * 18 + 1] = 0x3c; // f16 1.0
    const o = Math.floor(b / (k / 32));
    blocks.fill(o % 2 === 0 ? 0xff : (o === 1 ? 0x00 : 0x0f), b * 18 + 2, b * 18 + 18);
  }
  const w = placeX4('Q4_0', blocks, m, k);
  const xq = quantiseInMemory(x, n, k);
  const yAt = arena.filled(n * m, 0);
  kernels.matmul_q4_0_int8(yAt, xq.values, xq.bytes, xq.scales, xq.sums, w.data, w.scales, 0, n, k, m, 0, 0, m);
  const got = arena.read(yAt, n * m);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < m; o++) {
      let dot = 0;
      for (let i = 0; i < k; i++) dot += x[r * k + i] * w.decoded.ints[o * k + i];
      assert.is(got[r * m + o], dot, `row ${r} output ${o}`);
    }
  }
});

kernelTest('x4 gathers decode every row exactly', () => {
  for (const type of ['Q8_0', 'Q4_0'] as const) {
    arena.reset();
    const vocab = 13, dim = 64;
    const blocks = randomGgufBlocks(random(type === 'Q8_0' ? 3 : 4), type, vocab, dim);
    const table = placeX4(type, blocks, vocab, dim);
    const tokens = Int32Array.from({ length: vocab }, (_, i) => vocab - 1 - i);
    const tokensAt = arena.alloc(vocab * 4);
    new Int32Array(memory.buffer, tokensAt, vocab).set(tokens);
    const yAt = arena.filled(vocab * dim, SENTINEL);
    const gather = type === 'Q8_0' ? kernels.embed_q8_0x4 : kernels.embed_q4_0x4;
    gather(yAt, table.data, table.scales, tokensAt, vocab, dim, 1, vocab);
    const got = arena.read(yAt, vocab * dim);
    for (let r = 0; r < vocab; r++) {
      for (let e = 0; e < dim; e++) {
        const want = r === 0 ? SENTINEL : Math.fround(table.decoded.ints[tokens[r] * dim + e] * table.decoded.scales[tokens[r] * dim / 32 + (e >> 5)]);
        assert.is(got[r * dim + e], want, `${type} row ${r} element ${e}`);
      }
    }
  }
});

test('x4 packers reject a wrong byte count', () => {
  const data = new Uint8Array(1024), scales = new Float32Array(64);
  assert.throws(() => packQ8_0x4(data, scales, new Uint8Array(33), 1, 32), /expected 34/);
  assert.throws(() => packQ4_0x4(data, scales, new Uint8Array(18), 1, 48, 'quads'), /multiple of 32/);
});

// ---------------------------------------------------------------- whole models

const FIXTURES = new URL('./fixtures/', import.meta.url);
const fixture = (relative: string) => new URL(relative, FIXTURES).pathname;

const modelCases: { model: string; reference: string; attention: AttentionKind }[] = [
  { model: 'small-qwen3/small-qwen3-Q8_0.gguf', reference: 'small-qwen3/reference-dequantized-Q8_0.json', attention: 'causal' },
  { model: 'small-qwen3/small-qwen3-Q4_0.gguf', reference: 'small-qwen3/reference-dequantized-Q4_0.json', attention: 'causal' },
  { model: 'small-dream/small-dream-Q8_0.gguf', reference: 'small-dream/reference-dequantized-Q8_0.json', attention: 'full' },
  { model: 'small-llada/small-llada-Q4_0.gguf', reference: 'small-llada/reference-dequantized-Q4_0.json', attention: 'full' },
  // K-quants are requantised to Q8_0 for the int8 matmuls.
  { model: 'small-qwen3/small-qwen3-Q4_K_M.gguf', reference: 'small-qwen3/reference-dequantized-Q4_K_M.json', attention: 'causal' },
];

async function int8Logits(model: string, ids: number[], attention: AttentionKind, threads: number): Promise<{ logits: Float32Array; argmax: Int32Array; vocab: number }> {
  const checkpoint = await openCheckpoint(fixture(model));
  const engine = await WasmEngine.load(checkpoint, { threads, contextLength: 64, int8: true, log: () => {} });
  try {
    const tokens = Int32Array.from(ids);
    const result = await engine.forward({ tokens, start: 0, attention, logitRows: Int32Array.from(tokens, (_, i) => i) });
    return { logits: result.logits.slice(), argmax: result.argmax.slice(), vocab: engine.config.vocab };
  } finally {
    await engine.dispose();
    await checkpoint.close();
  }
}

for (const c of modelCases) {
  test(`${c.model.split('/')[1]} int8 near dequantised logits`, async () => {
    const reference = JSON.parse(readFileSync(fixture(c.reference), 'utf8')) as { ids: number[]; logits: number[][] };
    const { logits, argmax, vocab } = await int8Logits(c.model, reference.ids, c.attention, 1);
    let worst = 0;
    let argmaxAgree = 0;
    reference.logits.forEach((row, r) => {
      let best = 0;
      for (let j = 0; j < vocab; j++) {
        worst = Math.max(worst, Math.abs(logits[r * vocab + j] - row[j]));
        if (row[j] > row[best]) best = j;
      }
      if (argmax[r] === best) argmaxAgree++;
    });
    assert.ok(worst <= 0.15, `max |diff| ${worst} exceeds 0.15`);
    assert.ok(worst > 1e-6, `max |diff| ${worst}: the int8 path did not run`);
    assert.ok(argmaxAgree >= reference.logits.length - 1, `argmax agrees on ${argmaxAgree} of ${reference.logits.length} rows`);
  });
}

test('K-quants load as Q8_0 under int8', async () => {
  const checkpoint = await openCheckpoint(fixture('small-qwen3/small-qwen3-Q4_K_M.gguf'));
  try {
    const exact = planLayout(checkpoint.config, checkpoint.tensors, { threads: 1, contextLength: 64, maxRows: 64, maxLogitRows: 64 });
    const int8 = planLayout(checkpoint.config, checkpoint.tensors, { threads: 1, contextLength: 64, maxRows: 64, maxLogitRows: 64, int8: true });
    assert.is(exact.layers[0].gate.format, 'f32');
    assert.is(int8.layers[0].gate.format, 'q8_0x4');
    // Q8_0 with f32 scales takes 9 bits per weight against 32 for f32.
    assert.ok(int8.weightBytes < exact.weightBytes * 0.4, `int8 weights ${int8.weightBytes} bytes, f32 ${exact.weightBytes}`);
  } finally {
    await checkpoint.close();
  }
});

test('int8 on a model without quantised matrices says so', async () => {
  for (const [model, expected] of [['sdar-tiny/sdar-tiny-f32.gguf', true], ['small-qwen3/small-qwen3-Q8_0.gguf', false]] as const) {
    const lines: string[] = [];
    const checkpoint = await openCheckpoint(fixture(model));
    const engine = await WasmEngine.load(checkpoint, { threads: 1, contextLength: 16, int8: true, log: (line) => lines.push(line) });
    await engine.dispose();
    await checkpoint.close();
    assert.is(lines.some((line) => line.includes('int8 has no effect')), expected, `${model}: ${JSON.stringify(lines)}`);
  }
});

test('int8 logits identical on 1 and 2 threads', async () => {
  const reference = JSON.parse(readFileSync(fixture('small-qwen3/reference-dequantized-Q4_0.json'), 'utf8')) as { ids: number[] };
  const one = await int8Logits('small-qwen3/small-qwen3-Q4_0.gguf', reference.ids, 'causal', 1);
  const two = await int8Logits('small-qwen3/small-qwen3-Q4_0.gguf', reference.ids, 'causal', 2);
  assert.equal(Array.from(two.logits), Array.from(one.logits));
});

test.run();
