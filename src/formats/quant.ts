// ggml tensor types: their block layouts, dequantisers to Float32Array, and repackers that split Q8_0 and
// Q4_0 blocks into separate quant and scale arrays for the wasm kernels. Pure TypeScript, used at load time.
//
// The dequantisers follow ggml's reference C code (`dequantize_row_*` in ggml-quants.c) and round every
// intermediate product to float32 with Math.fround, as ggml and gguf-py (NumPy float32) do, so that their
// outputs agree bit for bit with gguf-py's dequantisation.

import { ModelFormatError, UnsupportedModelError } from '../errors.js';
import type { TensorType } from '../models/types.js';

// ---------------------------------------------------------------------------------------------------
// Type table

export interface GgmlTypeInfo {
  id: number;
  name: string;
  blockSize: number;  // elements per block
  blockBytes: number; // bytes per block
}

/** Super-block length of the K-quants (QK_K in ggml). */
export const QK_K = 256;

/**
 * Every ggml type id that a GGUF file may contain, with its block layout. Ids 4, 5 and 31-33, 36-38 were
 * removed from ggml and never appear in current files.
 */
const TYPE_LIST: GgmlTypeInfo[] = [
  { id: 0, name: 'F32', blockSize: 1, blockBytes: 4 },
  { id: 1, name: 'F16', blockSize: 1, blockBytes: 2 },
  { id: 2, name: 'Q4_0', blockSize: 32, blockBytes: 18 },    // d f16, qs[16]
  { id: 3, name: 'Q4_1', blockSize: 32, blockBytes: 20 },    // d f16, m f16, qs[16]
  { id: 6, name: 'Q5_0', blockSize: 32, blockBytes: 22 },    // d f16, qh u32, qs[16]
  { id: 7, name: 'Q5_1', blockSize: 32, blockBytes: 24 },    // d f16, m f16, qh u32, qs[16]
  { id: 8, name: 'Q8_0', blockSize: 32, blockBytes: 34 },    // d f16, qs i8[32]
  { id: 9, name: 'Q8_1', blockSize: 32, blockBytes: 36 },    // d f16, s f16, qs i8[32]
  { id: 10, name: 'Q2_K', blockSize: QK_K, blockBytes: 84 }, // scales[16], qs[64], d f16, dmin f16
  { id: 11, name: 'Q3_K', blockSize: QK_K, blockBytes: 110 }, // hmask[32], qs[64], scales[12], d f16
  { id: 12, name: 'Q4_K', blockSize: QK_K, blockBytes: 144 }, // d f16, dmin f16, scales[12], qs[128]
  { id: 13, name: 'Q5_K', blockSize: QK_K, blockBytes: 176 }, // d f16, dmin f16, scales[12], qh[32], qs[128]
  { id: 14, name: 'Q6_K', blockSize: QK_K, blockBytes: 210 }, // ql[128], qh[64], scales i8[16], d f16
  { id: 15, name: 'Q8_K', blockSize: QK_K, blockBytes: 292 }, // d f32, qs i8[256], bsums i16[16]
  { id: 16, name: 'IQ2_XXS', blockSize: QK_K, blockBytes: 66 },
  { id: 17, name: 'IQ2_XS', blockSize: QK_K, blockBytes: 74 },
  { id: 18, name: 'IQ3_XXS', blockSize: QK_K, blockBytes: 98 },
  { id: 19, name: 'IQ1_S', blockSize: QK_K, blockBytes: 50 },
  { id: 20, name: 'IQ4_NL', blockSize: 32, blockBytes: 18 },
  { id: 21, name: 'IQ3_S', blockSize: QK_K, blockBytes: 110 },
  { id: 22, name: 'IQ2_S', blockSize: QK_K, blockBytes: 82 },
  { id: 23, name: 'IQ4_XS', blockSize: QK_K, blockBytes: 136 },
  { id: 24, name: 'I8', blockSize: 1, blockBytes: 1 },
  { id: 25, name: 'I16', blockSize: 1, blockBytes: 2 },
  { id: 26, name: 'I32', blockSize: 1, blockBytes: 4 },
  { id: 27, name: 'I64', blockSize: 1, blockBytes: 8 },
  { id: 28, name: 'F64', blockSize: 1, blockBytes: 8 },
  { id: 29, name: 'IQ1_M', blockSize: QK_K, blockBytes: 56 },
  { id: 30, name: 'BF16', blockSize: 1, blockBytes: 2 },
  { id: 34, name: 'TQ1_0', blockSize: QK_K, blockBytes: 54 },
  { id: 35, name: 'TQ2_0', blockSize: QK_K, blockBytes: 66 },
  { id: 39, name: 'MXFP4', blockSize: 32, blockBytes: 17 },
];

const TYPES_BY_ID = new Map(TYPE_LIST.map((t) => [t.id, t]));
const TYPES_BY_NAME = new Map(TYPE_LIST.map((t) => [t.name, t]));

/** Returns the block layout of a ggml type id, or undefined for ids that ggml does not define. */
export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return TYPES_BY_ID.get(id);
}

/** Returns the block layout of a ggml type name such as 'Q4_K', or undefined. */
export function ggmlTypeByName(name: string): GgmlTypeInfo | undefined {
  return TYPES_BY_NAME.get(name);
}

/** Tensor types the engine loads; the others parse but are rejected when a model uses them. */
export const ENGINE_TENSOR_TYPES: readonly TensorType[] = [
  'F32', 'F16', 'BF16', 'Q8_0', 'Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q4_K', 'Q5_K', 'Q6_K', 'Q8_K',
];

export function isEngineTensorType(name: string): name is TensorType {
  return (ENGINE_TENSOR_TYPES as readonly string[]).includes(name);
}

/**
 * Bytes taken by `elements` values of a type. Throws ModelFormatError SHAPE_MISMATCH when `elements` is
 * not a whole number of blocks.
 */
export function byteLengthOf(type: GgmlTypeInfo, elements: number, what = 'tensor'): number {
  if (elements % type.blockSize !== 0) {
    throw new ModelFormatError(
      'SHAPE_MISMATCH',
      `${what}: ${elements} elements of ${type.name} is not a whole number of ${type.blockSize}-element blocks`,
    );
  }
  return (elements / type.blockSize) * type.blockBytes;
}

// ---------------------------------------------------------------------------------------------------
// Half-precision helpers

let f16Table: Float32Array | null = null;

function buildF16Table(): Float32Array {
  const table = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exponent = (h >> 10) & 0x1f;
    const mantissa = h & 0x3ff;
    let value: number;
    if (exponent === 0) value = mantissa * 2 ** -24; // subnormal
    else if (exponent === 31) value = mantissa ? NaN : Infinity;
    else value = (1 + mantissa / 1024) * 2 ** (exponent - 15);
    table[h] = sign * value;
  }
  return table;
}

/** Converts IEEE binary16 bits to a number (exact). */
export function f16ToF32(bits: number): number {
  f16Table ??= buildF16Table();
  return f16Table[bits & 0xffff];
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** Converts a number to IEEE binary16 bits, rounding to nearest even; overflow gives infinity. */
export function f32ToF16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  const e = exponent - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal or zero in f16: shift the mantissa (with its implicit 1) right and round to nearest even.
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mantissa & ((1 << shift) - 1);
    let result = mantissa >>> shift;
    if (rest > half || (rest === half && (result & 1))) result += 1;
    return sign | result;
  }
  let result = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (result & 1))) result += 1; // may carry into the exponent: correct
  return sign | result;
}

/** Converts bfloat16 bits to a number (exact). */
export function bf16ToF32(bits: number): number {
  u32Scratch[0] = (bits & 0xffff) << 16;
  return f32Scratch[0];
}

/** Converts a number to bfloat16 bits, rounding to nearest even. NaN stays NaN. */
export function f32ToBf16(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

// ---------------------------------------------------------------------------------------------------
// Dequantisers: (bytes, element count) -> Float32Array

function checkBlocks(name: string, bytes: Uint8Array, count: number, blockSize: number, blockBytes: number): number {
  if (!Number.isSafeInteger(count) || count < 0 || count % blockSize !== 0) {
    throw new ModelFormatError(
      'SHAPE_MISMATCH',
      `${name}: ${count} elements is not a whole number of ${blockSize}-element blocks`,
    );
  }
  const blocks = count / blockSize;
  if (bytes.byteLength !== blocks * blockBytes) {
    throw new ModelFormatError(
      'SHAPE_MISMATCH',
      `${name}: ${count} elements need ${blocks * blockBytes} bytes, got ${bytes.byteLength}`,
    );
  }
  return blocks;
}

function u16(bytes: Uint8Array, offset: number): number {
  return bytes[offset] | (bytes[offset + 1] << 8);
}

const fround = Math.fround;

export function dequantizeF32(bytes: Uint8Array, count: number): Float32Array {
  checkBlocks('F32', bytes, count, 1, 4);
  const out = new Float32Array(count);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

export function dequantizeF16(bytes: Uint8Array, count: number): Float32Array {
  checkBlocks('F16', bytes, count, 1, 2);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = f16ToF32(u16(bytes, 2 * i));
  return out;
}

export function dequantizeBF16(bytes: Uint8Array, count: number): Float32Array {
  checkBlocks('BF16', bytes, count, 1, 2);
  const out = new Float32Array(count);
  const bits = new Uint32Array(out.buffer);
  for (let i = 0; i < count; i++) bits[i] = u16(bytes, 2 * i) << 16;
  return out;
}

/** Q4_0: x = (q - 8) * d. Byte j of a block holds element j in its low nibble and element j + 16 in its high. */
export function dequantizeQ4_0(bytes: Uint8Array, count: number): Float32Array {
  const blocks = checkBlocks('Q4_0', bytes, count, 32, 18);
  const out = new Float32Array(count);
  for (let b = 0; b < blocks; b++) {
    const p = b * 18;
    const d = f16ToF32(u16(bytes, p));
    const y = b * 32;
    for (let j = 0; j < 16; j++) {
      const q = bytes[p + 2 + j];
      out[y + j] = ((q & 0x0f) - 8) * d;
      out[y + j + 16] = ((q >> 4) - 8) * d;
    }
  }
  return out;
}

/** Q4_1: x = q * d + m. */
export function dequantizeQ4_1(bytes: Uint8Array, count: number): Float32Array {
  const blocks = checkBlocks('Q4_1', bytes, count, 32, 20);
  const out = new Float32Array(count);
  for (let b = 0; b < blocks; b++) {
    const p = b * 20;
    const d = f16ToF32(u16(bytes, p));
    const m = f16ToF32(u16(bytes, p + 2));
    const y = b * 32;
    for (let j = 0; j < 16; j++) {
      const q = bytes[p + 4 + j];
      out[y + j] = fround((q & 0x0f) * d) + m;
      out[y + j + 16] = fround((q >> 4) * d) + m;
    }
  }
  return out;
}

/** Q5_0: x = (q - 16) * d, where bit j of the 32-bit `qh` is the fifth bit of element j. */
export function dequantizeQ5_0(bytes: Uint8Array, count: number): Float32Array {
  const blocks = checkBlocks('Q5_0', bytes, count, 32, 22);
  const out = new Float32Array(count);
  for (let b = 0; b < blocks; b++) {
    const p = b * 22;
    const d = f16ToF32(u16(bytes, p));
    const qh = (bytes[p + 2] | (bytes[p + 3] << 8) | (bytes[p + 4] << 16) | (bytes[p + 5] << 24)) >>> 0;
    const y = b * 32;
    for (let j = 0; j < 16; j++) {
      const q = bytes[p + 6 + j];
      const high0 = ((qh >>> j) & 1) << 4;
      const high1 = ((qh >>> (j + 16)) & 1) << 4;
      out[y + j] = (((q & 0x0f) | high0) - 16) * d;
      out[y + j + 16] = (((q >> 4) | high1) - 16) * d;
    }
  }
  return out;
}

/** Q5_1: x = q * d + m with the Q5_0 bit layout. */
export function dequantizeQ5_1(bytes: Uint8Array, count: number): Float32Array {
  const blocks = checkBlocks('Q5_1', bytes, count, 32, 24);
  const out = new Float32Array(count);
  for (let b = 0; b < blocks; b++) {
    const p = b * 24;
    const d = f16ToF32(u16(bytes, p));
    const m = f16ToF32(u16(bytes, p + 2));
    const qh = (bytes[p + 4] | (bytes[p + 5] << 8) | (bytes[p + 6] << 16) | (bytes[p + 7] << 24)) >>> 0;
    const y = b * 32;
    for (let j = 0; j < 16; j++) {
      const q = bytes[p + 8 + j];
      const high0 = ((qh >>> j) & 1) << 4;
      const high1 = ((qh >>> (j + 16)) & 1) << 4;
      out[y + j] = fround(((q & 0x0f) | high0) * d) + m;
      out[y + j + 16] = fround(((q >> 4) | high1) * d) + m;
    }
  }
  return out;
}

/** Q8_0: x = q * d with signed 8-bit q. */
export function dequantizeQ8_0(bytes: Uint8Array, count: number): Float32Array {
  const blocks = checkBlocks('Q8_0', bytes, count, 32, 34);
  const out = new Float32Array(count);
  for (let b = 0; b < blocks; b++) {
    const p = b * 34;
    const d = f16ToF32(u16(bytes, p));
    const y = b * 32;
    for (let j = 0; j < 32; j++) out[y + j] = ((bytes[p + 2 + j] << 24) >> 24) * d;
  }
  return out;
}

/**
 * Unpacks the eight 6-bit (scale, min) pairs of a Q4_K/Q5_K super-block from its 12 scale bytes at `p`.
 * Pairs 0-3 sit in the low 6 bits of bytes 0-3 (scales) and 4-7 (mins). Pairs 4-7 take their low 4 bits
 * from the nibbles of bytes 8-11 and their top 2 bits from the top bits of bytes 0-7.
 */
function unpackScaleMin(bytes: Uint8Array, p: number, scales: Uint8Array, mins: Uint8Array): void {
  for (let j = 0; j < 8; j++) {
    if (j < 4) {
      scales[j] = bytes[p + j] & 63;
      mins[j] = bytes[p + j + 4] & 63;
    } else {
      scales[j] = (bytes[p + j + 4] & 0x0f) | ((bytes[p + j - 4] >> 6) << 4);
      mins[j] = (bytes[p + j + 4] >> 4) | ((bytes[p + j] >> 6) << 4);
    }
  }
}

/** Q4_K: 8 sub-blocks of 32; x = d * scale[s] * q - dmin * min[s], q in 0..15. */
export function dequantizeQ4_K(bytes: Uint8Array, count: number): Float32Array {
  const blocks = checkBlocks('Q4_K', bytes, count, QK_K, 144);
  const out = new Float32Array(count);
  const scales = new Uint8Array(8);
  const mins = new Uint8Array(8);
  for (let b = 0; b < blocks; b++) {
    const p = b * 144;
    const d = f16ToF32(u16(bytes, p));
    const dmin = f16ToF32(u16(bytes, p + 2));
    unpackScaleMin(bytes, p + 4, scales, mins);
    let q = p + 16;
    let y = b * QK_K;
    // Each 32 bytes of qs hold two sub-blocks: low nibbles first, then high nibbles.
    for (let s = 0; s < 8; s += 2) {
      const d1 = fround(d * scales[s]);
      const m1 = fround(dmin * mins[s]);
      const d2 = fround(d * scales[s + 1]);
      const m2 = fround(dmin * mins[s + 1]);
      for (let l = 0; l < 32; l++) out[y + l] = fround(d1 * (bytes[q + l] & 0x0f)) - m1;
      for (let l = 0; l < 32; l++) out[y + 32 + l] = fround(d2 * (bytes[q + l] >> 4)) - m2;
      q += 32;
      y += 64;
    }
  }
  return out;
}

/** Q5_K: Q4_K plus a fifth bit per element from `qh`; x = d * scale[s] * q - dmin * min[s], q in 0..31. */
export function dequantizeQ5_K(bytes: Uint8Array, count: number): Float32Array {
  const blocks = checkBlocks('Q5_K', bytes, count, QK_K, 176);
  const out = new Float32Array(count);
  const scales = new Uint8Array(8);
  const mins = new Uint8Array(8);
  for (let b = 0; b < blocks; b++) {
    const p = b * 176;
    const d = f16ToF32(u16(bytes, p));
    const dmin = f16ToF32(u16(bytes, p + 2));
    unpackScaleMin(bytes, p + 4, scales, mins);
    const qh = p + 16;
    let ql = p + 48;
    let y = b * QK_K;
    // Sub-block pair k uses bits 2k (low nibbles) and 2k + 1 (high nibbles) of each qh byte.
    let bit1 = 1;
    let bit2 = 2;
    for (let s = 0; s < 8; s += 2) {
      const d1 = fround(d * scales[s]);
      const m1 = fround(dmin * mins[s]);
      const d2 = fround(d * scales[s + 1]);
      const m2 = fround(dmin * mins[s + 1]);
      for (let l = 0; l < 32; l++) {
        const q = (bytes[ql + l] & 0x0f) + (bytes[qh + l] & bit1 ? 16 : 0);
        out[y + l] = fround(d1 * q) - m1;
      }
      for (let l = 0; l < 32; l++) {
        const q = (bytes[ql + l] >> 4) + (bytes[qh + l] & bit2 ? 16 : 0);
        out[y + 32 + l] = fround(d2 * q) - m2;
      }
      ql += 32;
      y += 64;
      bit1 <<= 2;
      bit2 <<= 2;
    }
  }
  return out;
}

/** Q6_K: 16 sub-blocks of 16 with signed 8-bit scales; x = d * scale[s] * (q - 32), q in 0..63. */
export function dequantizeQ6_K(bytes: Uint8Array, count: number): Float32Array {
  const blocks = checkBlocks('Q6_K', bytes, count, QK_K, 210);
  const out = new Float32Array(count);
  for (let b = 0; b < blocks; b++) {
    const p = b * 210;
    const d = f16ToF32(u16(bytes, p + 208));
    // Two halves of 128 elements. In each, ql contains 64 bytes (low 4 bits), qh 32 bytes (2 high bits for
    // four elements), and 8 scales cover 16 elements each.
    for (let half = 0; half < 2; half++) {
      const ql = p + half * 64;
      const qh = p + 128 + half * 32;
      const sc = p + 192 + half * 8;
      const y = b * QK_K + half * 128;
      for (let l = 0; l < 32; l++) {
        const s = l >> 4;
        const h = bytes[qh + l];
        const q1 = ((bytes[ql + l] & 0x0f) | ((h & 3) << 4)) - 32;
        const q2 = ((bytes[ql + l + 32] & 0x0f) | (((h >> 2) & 3) << 4)) - 32;
        const q3 = ((bytes[ql + l] >> 4) | (((h >> 4) & 3) << 4)) - 32;
        const q4 = ((bytes[ql + l + 32] >> 4) | (((h >> 6) & 3) << 4)) - 32;
        out[y + l] = fround(d * ((bytes[sc + s] << 24) >> 24)) * q1;
        out[y + l + 32] = fround(d * ((bytes[sc + s + 2] << 24) >> 24)) * q2;
        out[y + l + 64] = fround(d * ((bytes[sc + s + 4] << 24) >> 24)) * q3;
        out[y + l + 96] = fround(d * ((bytes[sc + s + 6] << 24) >> 24)) * q4;
      }
    }
  }
  return out;
}

/** Q8_K: x = q * d with a float32 d; `bsums` only speed up dot products and are ignored here. */
export function dequantizeQ8_K(bytes: Uint8Array, count: number): Float32Array {
  const blocks = checkBlocks('Q8_K', bytes, count, QK_K, 292);
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < blocks; b++) {
    const p = b * 292;
    const d = view.getFloat32(p, true);
    const y = b * QK_K;
    for (let j = 0; j < QK_K; j++) out[y + j] = ((bytes[p + 4 + j] << 24) >> 24) * d;
  }
  return out;
}

const DEQUANTIZERS: Record<TensorType, (bytes: Uint8Array, count: number) => Float32Array> = {
  F32: dequantizeF32,
  F16: dequantizeF16,
  BF16: dequantizeBF16,
  Q4_0: dequantizeQ4_0,
  Q4_1: dequantizeQ4_1,
  Q5_0: dequantizeQ5_0,
  Q5_1: dequantizeQ5_1,
  Q8_0: dequantizeQ8_0,
  Q4_K: dequantizeQ4_K,
  Q5_K: dequantizeQ5_K,
  Q6_K: dequantizeQ6_K,
  Q8_K: dequantizeQ8_K,
};

/** Dequantises `count` elements stored as `type` to float32. */
export function dequantize(type: TensorType | string, bytes: Uint8Array, count: number): Float32Array {
  const fn = (DEQUANTIZERS as Record<string, (bytes: Uint8Array, count: number) => Float32Array>)[type];
  if (!fn) {
    throw new UnsupportedModelError(
      'UNSUPPORTED_TENSOR',
      `cannot dequantise tensor type ${type}; supported types: ${Object.keys(DEQUANTIZERS).join(', ')}`,
    );
  }
  return fn(bytes, count);
}

// ---------------------------------------------------------------------------------------------------
// Finiteness

/**
 * Byte offsets, within one block, of the float scales of each block type: f16 unless marked f32. A block
 * whose scale is NaN or infinite decodes to NaN or infinite values, whatever its quants are.
 */
const SCALE_OFFSETS: Record<string, { f16: number[]; f32: number[] }> = {
  Q4_0: { f16: [0], f32: [] },
  Q4_1: { f16: [0, 2], f32: [] },
  Q5_0: { f16: [0], f32: [] },
  Q5_1: { f16: [0, 2], f32: [] },
  Q8_0: { f16: [0], f32: [] },
  Q2_K: { f16: [80, 82], f32: [] },
  Q3_K: { f16: [108], f32: [] },
  Q4_K: { f16: [0, 2], f32: [] },
  Q5_K: { f16: [0, 2], f32: [] },
  Q6_K: { f16: [208], f32: [] },
  Q8_K: { f16: [], f32: [0] },
};

/** True when the little-endian f16 at `p` has an all-ones exponent (infinity or NaN). */
function f16NonFinite(bytes: Uint8Array, p: number): boolean {
  return (bytes[p + 1] & 0x7c) === 0x7c;
}

function f32NonFinite(bytes: Uint8Array, p: number): boolean {
  return (bytes[p + 3] & 0x7f) === 0x7f && (bytes[p + 2] & 0x80) !== 0;
}

function bf16NonFinite(bytes: Uint8Array, p: number): boolean {
  return (bytes[p + 1] & 0x7f) === 0x7f && (bytes[p] & 0x80) !== 0;
}

/**
 * Returns the index of the first element (F32, F16, BF16) or block (quantised types) of `bytes` that is
 * or decodes to NaN or infinity, or -1 when every value is finite. Reads the bits without decoding, so a
 * scan costs one pass over the bytes. Types without a known layout return -1.
 */
export function findNonFinite(type: TensorType | string, bytes: Uint8Array): number {
  const length = bytes.byteLength;
  if (type === 'F32') {
    for (let p = 0; p + 4 <= length; p += 4) if (f32NonFinite(bytes, p)) return p / 4;
    return -1;
  }
  if (type === 'F16' || type === 'BF16') {
    const nonFinite = type === 'F16' ? f16NonFinite : bf16NonFinite;
    for (let p = 0; p + 2 <= length; p += 2) if (nonFinite(bytes, p)) return p / 2;
    return -1;
  }
  const scales = SCALE_OFFSETS[type];
  const info = ggmlTypeByName(type);
  if (!scales || !info) return -1;
  for (let p = 0, block = 0; p + info.blockBytes <= length; p += info.blockBytes, block++) {
    for (const offset of scales.f16) if (f16NonFinite(bytes, p + offset)) return block;
    for (const offset of scales.f32) if (f32NonFinite(bytes, p + offset)) return block;
  }
  return -1;
}

// ---------------------------------------------------------------------------------------------------
// Repacking for the native Q8_0 and Q4_0 kernels

function checkMatrix(name: string, bytes: Uint8Array, rows: number, cols: number, blockBytes: number): number {
  if (!Number.isSafeInteger(rows) || !Number.isSafeInteger(cols) || rows < 0 || cols < 0 || cols % 32 !== 0) {
    throw new ModelFormatError(
      'SHAPE_MISMATCH',
      `${name} matrix ${rows}x${cols}: the column count must be a multiple of 32 (the block length)`,
    );
  }
  return checkBlocks(name, bytes, rows * cols, 32, blockBytes);
}

/**
 * Quantises values to GGUF Q8_0 blocks (34 bytes per 32 values), as llama.cpp's reference quantiser does:
 * d = max|x| / 127 stored as f16, q = x / d rounded half away from zero. count is a multiple of 32.
 */
export function quantizeQ8_0(values: Float32Array, count = values.length): Uint8Array {
  if (count % 32 !== 0 || count > values.length) {
    throw new RangeError(`quantizeQ8_0: count ${count} is not a multiple of 32 within ${values.length} values`);
  }
  const out = new Uint8Array((count / 32) * 34);
  for (let b = 0; b < count / 32; b++) {
    let largest = 0;
    for (let i = 0; i < 32; i++) largest = Math.max(largest, Math.abs(values[b * 32 + i]));
    const d = Math.fround(largest / 127);
    const inverse = d !== 0 ? Math.fround(1 / d) : 0;
    const bits = f32ToF16(d);
    out[b * 34] = bits & 0xff;
    out[b * 34 + 1] = bits >> 8;
    for (let i = 0; i < 32; i++) {
      const scaled = Math.fround(values[b * 32 + i] * inverse);
      const q = Math.sign(scaled) * Math.round(Math.abs(scaled));
      out[b * 34 + 2 + i] = q & 0xff;
    }
  }
  return out;
}

/** Splits row-major Q8_0 blocks into one int8 per element and one float32 scale per 32 elements. */
export function repackQ8_0(bytes: Uint8Array, rows: number, cols: number): { qs: Int8Array; scales: Float32Array } {
  const blocks = checkMatrix('Q8_0', bytes, rows, cols, 34);
  const qs = new Int8Array(rows * cols);
  const qsBytes = new Uint8Array(qs.buffer);
  const scales = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const p = b * 34;
    scales[b] = f16ToF32(u16(bytes, p));
    qsBytes.set(bytes.subarray(p + 2, p + 34), b * 32);
  }
  return { qs, scales };
}

/**
 * Splits row-major Q4_0 blocks into their 16 packed bytes each and one float32 scale per block. The bytes
 * keep GGUF's nibble order: byte i of a block holds element i in its low nibble and element i + 16 in its
 * high nibble, both stored with an offset of 8.
 */
export function repackQ4_0(bytes: Uint8Array, rows: number, cols: number): { qs: Uint8Array; scales: Float32Array } {
  const blocks = checkMatrix('Q4_0', bytes, rows, cols, 18);
  const qs = new Uint8Array((rows * cols) / 2);
  const scales = new Float32Array(blocks);
  for (let b = 0; b < blocks; b++) {
    const p = b * 18;
    scales[b] = f16ToF32(u16(bytes, p));
    qs.set(bytes.subarray(p + 2, p + 18), b * 16);
  }
  return { qs, scales };
}
