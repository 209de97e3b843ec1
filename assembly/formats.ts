// Row-major weight formats that the kernels decode in registers. Each format is a literal argument of
// @inline functions, so after inlining the optimiser keeps only the branch of that format.
//
// Q8_0: row o has k int8 values at qs + o*k, and f32 block scales at scales + o*(k/32)*4;
//       W[o][j] = scale[o][j/32] * qs[o][j]. k is a multiple of 32.
// Q4_0: row o has k/2 bytes at qs + o*(k/2), 16 bytes per block of 32, scales as in Q8_0. In block b,
//       byte i (0..15) stores element 32b+i in its low nibble and element 32b+16+i in its high nibble;
//       W = (nibble - 8) * scale. This is GGUF's Q4_0 with the f16 block scale moved to an f32 array.
// F16, BF16: row o has k u16 values at w + o*k*2, IEEE half precision or bfloat16 bits.

import { bf16ToFloatScalar, halfToFloat, halfToFloatScalar } from './vector';

// @ts-ignore: decorator
@inline export const Q8_0: i32 = 0;
// @ts-ignore: decorator
@inline export const Q4_0: i32 = 1;
// @ts-ignore: decorator
@inline export const F16: i32 = 2;
// @ts-ignore: decorator
@inline export const BF16: i32 = 3;

/** Elements per scale block of the quantised formats. */
// @ts-ignore: decorator
@inline export const QUANT_BLOCK: i32 = 32;

// @ts-ignore: decorator
@inline export function isQuantised(format: i32): bool {
  return format == Q8_0 || format == Q4_0;
}

/** Returns the address of row o of a weight matrix with k columns. */
// @ts-ignore: decorator
@inline export function rowAddress(format: i32, w: usize, o: i32, k: i32): usize {
  if (format == Q8_0) return w + <usize>o * <usize>k;
  if (format == Q4_0) return w + <usize>o * (<usize>k >> 1);
  return w + <usize>o * (<usize>k << 1);
}

/** Returns the address of the first block scale of row o (quantised formats only). */
// @ts-ignore: decorator
@inline export function scaleAddress(scales: usize, o: i32, k: i32): usize {
  return scales + <usize>o * (<usize>(k >> 5) << 2);
}

/**
 * Loads elements e..e+7 of a row (e a multiple of 8) in an intermediate form: i16x8 integers for the
 * quantised formats (already centred for Q4_0), the raw u16 bits for F16 and BF16.
 */
// @ts-ignore: decorator
@inline export function loadRaw8(format: i32, row: usize, e: i32): v128 {
  if (format == Q8_0) return v128.load8x8_s(row + <usize>e);
  if (format == Q4_0) {
    const bytes = v128.load8x8_u(row + (<usize>(e >> 5) << 4) + <usize>(e & 8));
    const nibbles = (e & 16) != 0 ? i16x8.shr_u(bytes, 4) : v128.and(bytes, i16x8.splat(15));
    return i16x8.sub(nibbles, i16x8.splat(8));
  }
  return v128.load(row + (<usize>e << 1));
}

/** Converts elements 0..3 of a loadRaw8 result to f32, multiplied by scale for the quantised formats. */
// @ts-ignore: decorator
@inline export function lowToFloat(format: i32, raw: v128, scale: v128): v128 {
  if (isQuantised(format)) return f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(raw)), scale);
  if (format == F16) return halfToFloat(i32x4.extend_low_i16x8_u(raw));
  return i32x4.shl(i32x4.extend_low_i16x8_u(raw), 16);
}

/** Converts elements 4..7 of a loadRaw8 result to f32, as lowToFloat does. */
// @ts-ignore: decorator
@inline export function highToFloat(format: i32, raw: v128, scale: v128): v128 {
  if (isQuantised(format)) return f32x4.mul(f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(raw)), scale);
  if (format == F16) return halfToFloat(i32x4.extend_high_i16x8_u(raw));
  return i32x4.shl(i32x4.extend_high_i16x8_u(raw), 16);
}

/** Decodes element e of a row of an unquantised (F16 or BF16) matrix. */
// @ts-ignore: decorator
@inline export function halfElement(format: i32, row: usize, e: i32): f32 {
  const bits = <u32>load<u16>(row + (<usize>e << 1));
  return format == F16 ? halfToFloatScalar(bits) : bf16ToFloatScalar(bits);
}
