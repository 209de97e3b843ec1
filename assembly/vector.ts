// Helpers shared by the kernels: horizontal sums, exp and log without lookup tables, and the conversion
// of f16 and bf16 bits to f32. Nothing here allocates or creates static data: every constant is an
// immediate operand (v128.const, f32.const), so several instances can share one memory.

/** Sums the four f32 lanes of v. */
// @ts-ignore: decorator
@inline export function sumLanes(v: v128): f32 {
  const pairs = f32x4.add(v, i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  return f32x4.extract_lane(pairs, 0) + f32x4.extract_lane(pairs, 1);
}

/** Returns the largest of the four f32 lanes of v. */
// @ts-ignore: decorator
@inline export function maxLanes(v: v128): f32 {
  const pairs = f32x4.max(v, i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
  return max(f32x4.extract_lane(pairs, 0), f32x4.extract_lane(pairs, 1));
}

// Below this argument exp(x) is under the smallest normal f32 (2^-126), and expVector returns 0.
// @ts-ignore: decorator
@inline export const EXP_MIN_ARG: f32 = -87.33654;
// Arguments above this are clamped to it so that 2^n stays finite: exp(88) is about 1.65e38.
// @ts-ignore: decorator
@inline export const EXP_MAX_ARG: f32 = 88.0;

/**
 * Computes exp on four lanes: x = n*ln2 + r with |r| <= ln2/2, exp(r) by its Taylor polynomial of degree
 * 6 and 2^n from the exponent bits. Relative error is below 5e-7 on [EXP_MIN_ARG, EXP_MAX_ARG]. Lanes
 * below EXP_MIN_ARG (and -inf, NaN) give 0; lanes above EXP_MAX_ARG give exp(88), not inf.
 */
// @ts-ignore: decorator
@inline export function expVector(x: v128): v128 {
  const inRange = f32x4.ge(x, f32x4.splat(EXP_MIN_ARG));
  const clamped = f32x4.min(f32x4.max(x, f32x4.splat(EXP_MIN_ARG)), f32x4.splat(EXP_MAX_ARG));
  const n = f32x4.nearest(f32x4.mul(clamped, f32x4.splat(1.4426950408889634)));

  // ln2 split in a high part with few mantissa bits (n * hi is exact) and the remainder.
  let r = f32x4.sub(clamped, f32x4.mul(n, f32x4.splat(0.693145751953125)));
  r = f32x4.sub(r, f32x4.mul(n, f32x4.splat(1.428606765330187e-6)));

  // 1 + r + r^2/2! + ... + r^6/6!, in Horner form.
  let p = f32x4.splat(1.0 / 720.0);
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 120.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 24.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0 / 6.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));

  // n is in [-126, 127] after the clamp, so (n + 127) << 23 is a normal power of two.
  const exponent = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return v128.and(f32x4.mul(p, exponent), inRange);
}

/** Computes exp(x) with the same polynomial and limits as expVector. */
export function expScalar(x: f32): f32 {
  return f32x4.extract_lane(expVector(f32x4.splat(x)), 0);
}

/**
 * Computes the natural log of a positive, finite x in f64: x = m * 2^e with m in [sqrt(1/2), sqrt(2)),
 * then ln(m) = 2 atanh(t) with t = (m - 1) / (m + 1), |t| < 0.172, summed to t^15 (error below 1e-13).
 */
export function logPositive(x: f64): f64 {
  // Zero would recurse forever in the subnormal branch; it and NaN come from overflowed logits.
  if (!(x > 0)) return x == 0 ? -Infinity : NaN;
  const bits = reinterpret<u64>(x);
  let e = <i32>((bits >> 52) & 0x7ff) - 1023;
  let m = reinterpret<f64>((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
  if (e == -1023) {
    // Subnormal input: scale by 2^64 and decompose again.
    return logPositive(x * 18446744073709551616.0) - 64.0 * 0.6931471805599453;
  }
  if (m >= 1.4142135623730951) {
    m *= 0.5;
    e += 1;
  }
  const t = (m - 1.0) / (m + 1.0);
  const t2 = t * t;
  let series = 1.0 / 15.0;
  series = series * t2 + 1.0 / 13.0;
  series = series * t2 + 1.0 / 11.0;
  series = series * t2 + 1.0 / 9.0;
  series = series * t2 + 1.0 / 7.0;
  series = series * t2 + 1.0 / 5.0;
  series = series * t2 + 1.0 / 3.0;
  series = series * t2 + 1.0;
  return <f64>e * 0.6931471805599453 + 2.0 * t * series;
}

/**
 * Converts four IEEE half-precision bit patterns (one per i32 lane, upper 16 bits zero) to f32.
 * Exponent and mantissa are shifted left by 13 and multiplied by 2^112, which is exact for normal
 * numbers, subnormals and zero. Inf and NaN get the all-ones f32 exponent instead.
 */
// @ts-ignore: decorator
@inline export function halfToFloat(bits: v128): v128 {
  const magnitude = v128.and(bits, i32x4.splat(0x7fff));
  const shifted = i32x4.shl(magnitude, 13);
  const finite = f32x4.mul(shifted, f32x4.splat(5.192296858534828e33)); // 2^112
  const infOrNan = v128.or(shifted, i32x4.splat(0x7f800000));
  const isInfOrNan = i32x4.gt_s(magnitude, i32x4.splat(0x7bff));
  const sign = i32x4.shl(v128.and(bits, i32x4.splat(0x8000)), 16);
  return v128.or(v128.bitselect(infOrNan, finite, isInfOrNan), sign);
}

/** Converts one IEEE half-precision bit pattern to f32, as halfToFloat does per lane. */
export function halfToFloatScalar(bits: u32): f32 {
  return f32x4.extract_lane(halfToFloat(i32x4.splat(bits)), 0);
}

/** Converts one bfloat16 bit pattern to f32: bfloat16 is the upper half of an f32. */
// @ts-ignore: decorator
@inline export function bf16ToFloatScalar(bits: u32): f32 {
  return reinterpret<f32>(bits << 16);
}

/**
 * Returns a * b + c on four f32 lanes. The relaxed-SIMD build uses f32x4.relaxed_madd, which the runtime
 * may compute fused (one rounding) or as a multiply and an add; the other builds always round twice.
 */
// @ts-ignore: decorator
@inline export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}
