// Dequantisers and repackers: hand-built blocks with known values, round trips through simple reference
// quantisers written here, half-precision conversions, and the quantised fixtures decoded against each other
// (every small-* file was quantised by llama-quantize from the same F32 weights).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ModelFormatError } from '../src/errors.js';
import {
  bf16ToF32, dequantize, dequantizeBF16, dequantizeF16, dequantizeQ4_0, dequantizeQ4_1, dequantizeQ4_K, dequantizeQ5_0,
  dequantizeQ5_1, dequantizeQ5_K, dequantizeQ6_K, dequantizeQ8_0, dequantizeQ8_K, f16ToF32, f32ToBf16, f32ToF16,
  findNonFinite, ggmlTypeById, quantizeQ8_0 as quantizeQ8_0Library, repackQ4_0, repackQ8_0,
} from '../src/formats/quant.js';
import { openCheckpoint } from '../src/models/load-checkpoint.js';

const FIXTURES = 'test/fixtures';

function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Roughly normal samples (sum of uniforms) with standard deviation `scale`. */
function normals(count: number, scale: number, seed: number): Float32Array {
  const random = seeded(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    let sum = 0;
    for (let k = 0; k < 12; k++) sum += random();
    out[i] = (sum - 6) * scale;
  }
  return out;
}

function setF16(bytes: Uint8Array, offset: number, value: number): void {
  const bits = f32ToF16(value);
  bytes[offset] = bits & 0xff;
  bytes[offset + 1] = bits >> 8;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}

// ---------------------------------------------------------------------------------------------------
// Half precision

test('f16 round-trips every finite value', () => {
  for (let h = 0; h < 65536; h++) {
    const exponent = (h >> 10) & 0x1f;
    if (exponent === 31 && (h & 0x3ff) !== 0) continue; // NaN payloads
    assert.is(f32ToF16(f16ToF32(h)), h, `0x${h.toString(16)}`);
  }
});

test('f16 known values and rounding', () => {
  assert.is(f16ToF32(0x3c00), 1);
  assert.is(f16ToF32(0xc000), -2);
  assert.is(f16ToF32(0x7bff), 65504);
  assert.is(f16ToF32(0x0001), 2 ** -24);
  assert.is(f16ToF32(0x7c00), Infinity);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  assert.is(f32ToF16(1 + 2 ** -11), 0x3c00, 'tie rounds to even (down)');
  assert.is(f32ToF16(1 + 3 * 2 ** -11), 0x3c02, 'tie rounds to even (up)');
  assert.is(f32ToF16(65520), 0x7c00, 'overflow gives infinity');
  assert.is(f32ToF16(2 ** -25), 0x0000, 'half of the smallest subnormal rounds to zero');
  assert.is(f32ToF16(3 * 2 ** -26), 0x0001);
  assert.is(f32ToF16(-0), 0x8000);
  assert.is(f32ToF16(2 ** -30), 0);
});

test('bf16 round-trips and rounds to nearest even', () => {
  for (let b = 0; b < 65536; b++) {
    if (((b >> 7) & 0xff) === 0xff && (b & 0x7f) !== 0) continue;
    assert.is(f32ToBf16(bf16ToF32(b)), b);
  }
  assert.is(f32ToBf16(1 + 2 ** -8), 0x3f80);
  assert.is(f32ToBf16(1 + 3 * 2 ** -8), 0x3f82);
  assert.is(bf16ToF32(0xbf80), -1);
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(NaN))));
});

test('F16 and BF16 tensors decode', () => {
  const values = [0, 1, -2.5, 65504, 2 ** -24];
  const f16 = new Uint8Array(values.length * 2);
  const bf16 = new Uint8Array(values.length * 2);
  values.forEach((v, i) => {
    setF16(f16, 2 * i, v);
    const b = f32ToBf16(v);
    bf16[2 * i] = b & 0xff;
    bf16[2 * i + 1] = b >> 8;
  });
  assert.equal([...dequantizeF16(f16, values.length)], values);
  assert.equal([...dequantizeBF16(bf16, values.length)], [0, 1, -2.5, 65536, 2 ** -24]);
});

// ---------------------------------------------------------------------------------------------------
// Hand-built blocks

test('Q4_0 block decodes with GGUF nibble order', () => {
  const block = new Uint8Array(18);
  setF16(block, 0, 0.5);
  for (let j = 0; j < 16; j++) block[2 + j] = j | ((15 - j) << 4);
  const out = dequantizeQ4_0(block, 32);
  for (let j = 0; j < 16; j++) {
    assert.is(out[j], (j - 8) * 0.5);
    assert.is(out[j + 16], (7 - j) * 0.5);
  }
});

test('Q4_1 block decodes with its minimum', () => {
  const block = new Uint8Array(20);
  setF16(block, 0, 0.25);
  setF16(block, 2, -1);
  for (let j = 0; j < 16; j++) block[4 + j] = j | (3 << 4);
  const out = dequantizeQ4_1(block, 32);
  for (let j = 0; j < 16; j++) {
    assert.is(out[j], j * 0.25 - 1);
    assert.is(out[j + 16], 3 * 0.25 - 1);
  }
});

test('Q5_0 and Q5_1 blocks take the fifth bit from qh', () => {
  const qh = 0x8000_0001 | (1 << 16) | (1 << 5); // elements 0, 5, 16 and 31 have the high bit
  const q50 = new Uint8Array(22);
  setF16(q50, 0, 2);
  new DataView(q50.buffer).setUint32(2, qh >>> 0, true);
  for (let j = 0; j < 16; j++) q50[6 + j] = 0x3 | (0xf << 4);
  const a = dequantizeQ5_0(q50, 32);
  for (let e = 0; e < 32; e++) {
    const high = (qh >>> e) & 1 ? 16 : 0;
    const low = e < 16 ? 3 : 15;
    assert.is(a[e], (low + high - 16) * 2, `Q5_0 element ${e}`);
  }
  const q51 = new Uint8Array(24);
  setF16(q51, 0, 0.5);
  setF16(q51, 2, 10);
  new DataView(q51.buffer).setUint32(4, qh >>> 0, true);
  for (let j = 0; j < 16; j++) q51[8 + j] = j | ((15 - j) << 4);
  const b = dequantizeQ5_1(q51, 32);
  for (let e = 0; e < 32; e++) {
    const high = (qh >>> e) & 1 ? 16 : 0;
    const low = e < 16 ? e : 15 - (e - 16);
    assert.is(b[e], (low + high) * 0.5 + 10, `Q5_1 element ${e}`);
  }
});

test('Q8_0 block decodes signed bytes', () => {
  const block = new Uint8Array(34);
  setF16(block, 0, 0.25);
  for (let j = 0; j < 32; j++) block[2 + j] = (j * 8 - 128) & 0xff;
  const out = dequantizeQ8_0(block, 32);
  for (let j = 0; j < 32; j++) assert.is(out[j], (j * 8 - 128) * 0.25);
});

test('library quantizeQ8_0 rounds half away from zero', () => {
  // Block 0 contains +-127 (so d = 1), the ties +-2.5 and multiples of 0.4375. Block 1 is zero, and
  // block 2 is random: each of its values lands within d / 2 of its level.
  const values = new Float32Array(96);
  for (let i = 4; i < 32; i++) values[i] = (i - 16) * 0.4375;
  values.set([127, -127, 2.5, -2.5], 0);
  const random = seeded(9);
  for (let i = 64; i < 96; i++) values[i] = (random() - 0.5) * 6;
  const blocks = quantizeQ8_0Library(values);
  assert.is(blocks.length, 3 * 34);
  const decoded = dequantizeQ8_0(blocks, 96);
  assert.is(f16ToF32(blocks[0] | (blocks[1] << 8)), 1);
  assert.is(decoded[2], 3, '2.5 rounds away from zero');
  assert.is(decoded[3], -3, '-2.5 rounds away from zero');
  for (let i = 4; i < 32; i++) assert.is(decoded[i], Math.sign(values[i]) * Math.round(Math.abs(values[i])), `element ${i}`);
  for (let i = 32; i < 64; i++) assert.is(decoded[i], 0, `zero block element ${i}`);
  const d = f16ToF32(blocks[68] | (blocks[69] << 8));
  for (let i = 64; i < 96; i++) assert.ok(Math.abs(decoded[i] - values[i]) <= d * 0.5 + 1e-6, `element ${i}: ${decoded[i]} vs ${values[i]}`);
  assert.throws(() => quantizeQ8_0Library(new Float32Array(40)), /multiple of 32/);
});

/** Returns 12 scale bytes for the hand-built Q4_K/Q5_K blocks and the 6-bit (scale, min) pairs they encode. */
function kScaleBytes(): { bytes: number[]; scales: number[]; mins: number[] } {
  const bytes = [1, 2, 3, 4 | 0x40, 5, 6 | 0x80, 7, 8, 0x21, 0x43, 0x65, 0x87];
  // Pairs 0-3: low 6 bits of bytes 0-3 and 4-7. Pairs 4-7: nibbles of bytes 8-11, top 2 bits from bytes 0-7.
  const scales = [1, 2, 3, 4, 1, 3, 5, 7 + 16];
  const mins = [5, 6, 7, 8, 2, 4 + 32, 6, 8];
  return { bytes, scales, mins };
}

test('Q4_K block decodes scales, mins and nibbles', () => {
  const block = new Uint8Array(144);
  setF16(block, 0, 0.5);
  setF16(block, 2, 0.25);
  const { bytes, scales, mins } = kScaleBytes();
  block.set(bytes, 4);
  const random = seeded(7);
  for (let i = 0; i < 128; i++) block[16 + i] = Math.floor(random() * 256);
  const out = dequantizeQ4_K(block, 256);
  for (let e = 0; e < 256; e++) {
    const s = e >> 5;
    const byte = block[16 + (s >> 1) * 32 + (e & 31)];
    const q = s % 2 === 0 ? byte & 15 : byte >> 4;
    assert.is(out[e], 0.5 * scales[s] * q - 0.25 * mins[s], `element ${e}`);
  }
});

test('Q5_K block adds the fifth bit per sub-block', () => {
  const block = new Uint8Array(176);
  setF16(block, 0, 0.5);
  setF16(block, 2, 0.25);
  const { bytes, scales, mins } = kScaleBytes();
  block.set(bytes, 4);
  const random = seeded(8);
  for (let i = 0; i < 32 + 128; i++) block[16 + i] = Math.floor(random() * 256);
  const out = dequantizeQ5_K(block, 256);
  for (let e = 0; e < 256; e++) {
    const s = e >> 5;
    const l = e & 31;
    const byte = block[48 + (s >> 1) * 32 + l];
    const q = (s % 2 === 0 ? byte & 15 : byte >> 4) + ((block[16 + l] >> s) & 1) * 16;
    assert.is(out[e], 0.5 * scales[s] * q - 0.25 * mins[s], `element ${e}`);
  }
});

test('Q6_K block decodes signed scales and 6-bit values', () => {
  const block = new Uint8Array(210);
  const random = seeded(9);
  for (let i = 0; i < 192; i++) block[i] = Math.floor(random() * 256);
  const scales = [3, -2, 5, 7, -8, 1, 2, 4, 6, -1, 9, 10, -12, 11, 1, 2];
  scales.forEach((s, i) => (block[192 + i] = s & 0xff));
  setF16(block, 208, 0.125);
  const out = dequantizeQ6_K(block, 256);
  for (let e = 0; e < 256; e++) {
    const half = e >> 7;
    const r = e & 127;
    const group = r >> 5;
    const l = r & 31;
    const lowByte = block[half * 64 + l + (group & 1) * 32];
    const low = group < 2 ? lowByte & 15 : lowByte >> 4;
    const high = (block[128 + half * 32 + l] >> (2 * group)) & 3;
    const scale = scales[half * 8 + (l >> 4) + 2 * group];
    assert.is(out[e], 0.125 * scale * ((low | (high << 4)) - 32), `element ${e}`);
  }
});

test('Q8_K block uses a float32 scale', () => {
  const block = new Uint8Array(292);
  new DataView(block.buffer).setFloat32(0, 0.1, true);
  for (let j = 0; j < 256; j++) block[4 + j] = (j - 128) & 0xff;
  const out = dequantizeQ8_K(block, 256);
  for (let j = 0; j < 256; j++) assert.is(out[j], Math.fround((j - 128) * Math.fround(0.1)));
});

test('block size and byte count are checked', () => {
  for (const [fn, name] of [[dequantizeQ4_0, 'Q4_0'], [dequantizeQ6_K, 'Q6_K']] as const) {
    try {
      fn(new Uint8Array(10), 33);
      assert.unreachable(name);
    } catch (error) {
      assert.instance(error, ModelFormatError);
      assert.is((error as ModelFormatError).code, 'SHAPE_MISMATCH');
      assert.ok((error as Error).message.includes(name));
    }
  }
  assert.throws(() => dequantizeQ8_0(new Uint8Array(33), 32), (e: Error) => e instanceof ModelFormatError && /need 34 bytes, got 33/.test(e.message));
  assert.throws(() => dequantize('IQ2_XXS', new Uint8Array(66), 256), /cannot dequantise tensor type IQ2_XXS/);
});

// ---------------------------------------------------------------------------------------------------
// Round trips through reference quantisers

/** ggml-style Q8_0: d = max|x| / 127, q = round(x / d). */
function quantizeQ8_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 34);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = amax / 127;
    setF16(out, b * 34, d);
    for (let j = 0; j < 32; j++) out[b * 34 + 2 + j] = (d ? Math.round(x[b * 32 + j] / d) : 0) & 0xff;
  }
  return out;
}

/** ggml-style Q4_0: d = (value of max magnitude) / -8, q = min(15, trunc(x / d + 8.5)). */
function quantizeQ4_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 18);
  for (let b = 0; b < x.length / 32; b++) {
    let max = 0;
    for (let j = 0; j < 32; j++) if (Math.abs(x[b * 32 + j]) > Math.abs(max)) max = x[b * 32 + j];
    const d = max / -8;
    setF16(out, b * 18, d);
    const q = (v: number) => Math.min(15, Math.trunc((d ? v / d : 0) + 8.5));
    for (let j = 0; j < 16; j++) out[b * 18 + 2 + j] = q(x[b * 32 + j]) | (q(x[b * 32 + j + 16]) << 4);
  }
  return out;
}

/** Q4_1 / Q5_1 style: d = (max - min) / levels, q = round((x - min) / d). */
function quantizeAffine(x: Float32Array, bits: 4 | 5): Uint8Array {
  const blockBytes = bits === 4 ? 20 : 24;
  const out = new Uint8Array((x.length / 32) * blockBytes);
  const view = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    const values = x.subarray(b * 32, b * 32 + 32);
    const min = Math.min(...values);
    const d = (Math.max(...values) - min) / ((1 << bits) - 1);
    const p = b * blockBytes;
    setF16(out, p, d);
    setF16(out, p + 2, min);
    const q = values.map((v) => Math.min((1 << bits) - 1, Math.round(d ? (v - min) / d : 0)));
    const qsAt = bits === 4 ? p + 4 : p + 8;
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      out[qsAt + j] = (q[j] & 15) | ((q[j + 16] & 15) << 4);
      qh |= ((q[j] >> 4) << j) | ((q[j + 16] >> 4) << (j + 16));
    }
    if (bits === 5) view.setUint32(p + 4, qh >>> 0, true);
  }
  return out;
}

test('Q8_0 round trip stays within half a step', () => {
  const x = normals(32 * 64, 0.02, 1);
  const y = dequantizeQ8_0(quantizeQ8_0(x), x.length);
  for (let b = 0; b < 64; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const step = amax / 127;
    // Half a step, plus up to 127 times the f16 rounding of d (relative 2^-11): 0.5 + 127 / 2048 < 0.57.
    for (let j = 0; j < 32; j++) assert.ok(Math.abs(y[b * 32 + j] - x[b * 32 + j]) <= step * 0.57, `block ${b}`);
  }
});

test('Q4_0 round trip stays within one step', () => {
  const x = normals(32 * 64, 1, 2);
  const bytes = quantizeQ4_0(x);
  const y = dequantizeQ4_0(bytes, x.length);
  const { scales } = repackQ4_0(bytes, 64, 32);
  for (let i = 0; i < x.length; i++) assert.ok(Math.abs(y[i] - x[i]) <= Math.abs(scales[i >> 5]) * 1.01, `element ${i}`);
});

test('Q4_1 and Q5_1 round trips stay within half a step', () => {
  const x = normals(32 * 32, 1, 3);
  for (const bits of [4, 5] as const) {
    const y = (bits === 4 ? dequantizeQ4_1 : dequantizeQ5_1)(quantizeAffine(x, bits), x.length);
    for (let b = 0; b < 32; b++) {
      const values = x.subarray(b * 32, b * 32 + 32);
      const step = (Math.max(...values) - Math.min(...values)) / ((1 << bits) - 1);
      // The f16 rounding of d and min adds a little to the half-step bound.
      for (let j = 0; j < 32; j++) assert.ok(Math.abs(y[b * 32 + j] - values[j]) <= step * 0.5 + 0.01, `Q${bits}_1 block ${b}`);
    }
  }
});

test('Q5_0 of Q5_1-style values decodes consistently', () => {
  // Encode q - 16 with d: Q5_0 and Q5_1 share the bit layout, so a Q5_1 block with min = -16 d decodes alike.
  const x = normals(32 * 8, 1, 4);
  const q51 = quantizeAffine(x, 5);
  const q50 = new Uint8Array(8 * 22);
  for (let b = 0; b < 8; b++) {
    q50.set(q51.subarray(b * 24, b * 24 + 2), b * 22);
    q50.set(q51.subarray(b * 24 + 4, b * 24 + 24), b * 22 + 2);
  }
  const a = dequantizeQ5_0(q50, x.length);
  const b = dequantizeQ5_1(q51, x.length);
  for (let i = 0; i < x.length; i++) {
    const d = f16ToF32(q51[(i >> 5) * 24] | (q51[(i >> 5) * 24 + 1] << 8));
    const m = f16ToF32(q51[(i >> 5) * 24 + 2] | (q51[(i >> 5) * 24 + 3] << 8));
    assert.ok(Math.abs(a[i] - (b[i] - m - 16 * d)) < 1e-5, `element ${i}`);
  }
});

// ---------------------------------------------------------------------------------------------------
// Repacking

test('repackQ8_0 splits quants and scales', () => {
  const x = normals(64 * 3, 0.5, 5);
  const bytes = quantizeQ8_0(x);
  const { qs, scales } = repackQ8_0(bytes, 3, 64);
  assert.is(qs.length, 192);
  assert.is(scales.length, 6);
  const reference = dequantizeQ8_0(bytes, x.length);
  for (let i = 0; i < x.length; i++) assert.is(qs[i] * scales[i >> 5], reference[i]);
  assert.throws(() => repackQ8_0(bytes, 4, 64), /need 272 bytes, got 204/);
  assert.throws(() => repackQ8_0(bytes, 3, 48), /multiple of 32/);
});

test('repackQ4_0 keeps nibble order', () => {
  const x = normals(64 * 2, 0.5, 6);
  const bytes = quantizeQ4_0(x);
  const { qs, scales } = repackQ4_0(bytes, 2, 64);
  assert.is(qs.length, 64);
  assert.is(scales.length, 4);
  const reference = dequantizeQ4_0(bytes, x.length);
  for (let i = 0; i < x.length; i++) {
    const block = i >> 5;
    const j = i & 31;
    const byte = qs[block * 16 + (j & 15)];
    const q = j < 16 ? byte & 15 : byte >> 4;
    assert.is((q - 8) * scales[block], reference[i]);
  }
});

// ---------------------------------------------------------------------------------------------------
// Fixture files decoded against each other

async function decodeAll(path: string): Promise<Map<string, { type: string; values: Float32Array }>> {
  const checkpoint = await openCheckpoint(path);
  const out = new Map<string, { type: string; values: Float32Array }>();
  for (const [name, t] of checkpoint.tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1);
    out.set(name, { type: t.type, values: dequantize(t.type, await t.read(), count) });
  }
  await checkpoint.close();
  return out;
}

function relativeRms(a: Float32Array, reference: Float32Array): number {
  let error = 0;
  let norm = 0;
  for (let i = 0; i < a.length; i++) {
    error += (a[i] - reference[i]) ** 2;
    norm += reference[i] ** 2;
  }
  return Math.sqrt(error / norm);
}

test('small-qwen3 weights follow their initialisation', async () => {
  const q8 = await decodeAll(`${FIXTURES}/small-qwen3/small-qwen3-Q8_0.gguf`);
  const std = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0) / v.length);
  const mean = (v: Float32Array) => v.reduce((s, x) => s + x, 0) / v.length;
  // Matrices were drawn as 0.02 N(0,1), token_embd as 0.1 N(0,1), norm weights as 1 + 0.1 N(0,1).
  assert.ok(Math.abs(std(q8.get('blk.0.attn_q.weight')!.values) - 0.02) < 0.001);
  assert.ok(Math.abs(std(q8.get('blk.2.ffn_down.weight')!.values) - 0.02) < 0.001);
  assert.ok(Math.abs(std(q8.get('token_embd.weight')!.values) - 0.1) < 0.005);
  assert.ok(Math.abs(mean(q8.get('blk.1.attn_norm.weight')!.values) - 1) < 0.05);
});

test('quantised fixtures agree with the Q8_0 file', async () => {
  // Measured relative RMS differences: Q6_K 0.019, Q5_0 0.043, Q4_K 0.072, Q4_0 0.087. A decoder with a
  // wrong bit layout gives about 1.4.
  const limits: Record<string, number> = { Q8_0: 1e-9, Q6_K: 0.03, Q5_0: 0.06, Q4_K: 0.1, Q4_0: 0.12 };
  for (const model of ['small-qwen3', 'small-dream']) {
    const q8 = await decodeAll(`${FIXTURES}/${model}/${model}-Q8_0.gguf`);
    for (const variant of model === 'small-qwen3' ? ['Q4_0', 'Q4_K_M'] : ['Q4_0']) {
      const other = await decodeAll(`${FIXTURES}/${model}/${model}-${variant}.gguf`);
      for (const [name, { type, values }] of other) {
        if (type === 'F32') continue;
        const error = relativeRms(values, q8.get(name)!.values);
        assert.ok(error < limits[type], `${model}-${variant} ${name} (${type}): relative RMS ${error.toFixed(4)}`);
      }
    }
  }
});

test('Q4_0 and Q8_0 fixtures agree element by element', async () => {
  // Each file rounds the same weight: Q8_0 by at most half its step, Q4_0 by at most one step (clamping
  // at +7 can cost a full step).
  const q4 = await openCheckpoint(`${FIXTURES}/small-qwen3/small-qwen3-Q4_0.gguf`);
  const q8same = await openCheckpoint(`${FIXTURES}/small-qwen3/small-qwen3-Q8_0.gguf`);
  const name = 'blk.1.attn_v.weight';
  const t4 = q4.tensors.get(name)!;
  const [rows, cols] = t4.shape;
  const a = await t4.read();
  const b = await q8same.tensors.get(name)!.read();
  const { scales: s4 } = repackQ4_0(a, rows, cols);
  const { scales: s8 } = repackQ8_0(b, rows, cols);
  const y4 = dequantizeQ4_0(a, rows * cols);
  const y8 = dequantizeQ8_0(b, rows * cols);
  for (let i = 0; i < y4.length; i++) {
    const bound = Math.abs(s4[i >> 5]) + Math.abs(s8[i >> 5]) / 2 + 1e-6;
    assert.ok(Math.abs(y4[i] - y8[i]) <= bound, `element ${i}: ${y4[i]} vs ${y8[i]}`);
  }
  assert.ok(maxAbsDiff(y4, y8) > 0);
  await Promise.all([q4.close(), q8same.close()]);
});

test('ggml type table matches fixture ids', () => {
  const expected: Array<[number, string, number, number]> = [
    [0, 'F32', 1, 4], [1, 'F16', 1, 2], [2, 'Q4_0', 32, 18], [3, 'Q4_1', 32, 20], [6, 'Q5_0', 32, 22],
    [7, 'Q5_1', 32, 24], [8, 'Q8_0', 32, 34], [9, 'Q8_1', 32, 36], [10, 'Q2_K', 256, 84], [11, 'Q3_K', 256, 110],
    [12, 'Q4_K', 256, 144], [13, 'Q5_K', 256, 176], [14, 'Q6_K', 256, 210], [15, 'Q8_K', 256, 292], [30, 'BF16', 1, 2],
  ];
  for (const [id, name, blockSize, blockBytes] of expected) {
    assert.equal(ggmlTypeById(id), { id, name, blockSize, blockBytes });
  }
  assert.is(ggmlTypeById(4), undefined);
});

test('findNonFinite locates NaN and infinity', () => {
  const f32 = new Uint8Array(new Float32Array([1, -2, 3e38, Infinity, NaN]).buffer);
  assert.is(findNonFinite('F32', f32), 3);
  assert.is(findNonFinite('F32', f32.subarray(0, 12)), -1);
  assert.is(findNonFinite('F16', new Uint8Array(new Uint16Array([0x3c00, 0x7bff, 0xfc00]).buffer)), 2);
  assert.is(findNonFinite('BF16', new Uint8Array(new Uint16Array([0x3f80, 0x7f7f, 0x7fc1]).buffer)), 2);
  // Q8_0: 34-byte blocks whose f16 scale leads; the quants themselves are always finite.
  const q8 = new Uint8Array(34 * 3).fill(0x7f);
  for (let b = 0; b < 3; b++) new DataView(q8.buffer).setUint16(b * 34, 0x3c00, true);
  assert.is(findNonFinite('Q8_0', q8), -1);
  new DataView(q8.buffer).setUint16(2 * 34, 0x7e00, true);
  assert.is(findNonFinite('Q8_0', q8), 2);
  // Q4_K: d and dmin are the first two f16 values of each 144-byte super-block.
  const q4k = new Uint8Array(144 * 2);
  new DataView(q4k.buffer).setUint16(144 + 2, 0x7c00, true);
  assert.is(findNonFinite('Q4_K', q4k), 1);
});

test.run();
