// Matmuls over row-major weights in Q8_0, Q4_0, F16 and BF16 (layouts in formats.ts). Weights are
// decoded to f32 in registers, 8 elements at a time, and all sums are f32. The register block is
// 4 input rows x 2 output rows, so each decoded weight vector is used four times.

import {
  BF16, F16, Q4_0, Q8_0, QUANT_BLOCK,
  halfElement, highToFloat, isQuantised, loadRaw8, lowToFloat, rowAddress, scaleAddress,
} from './formats';
import { sumLanes } from './vector';

/** Returns x[e..k) . row[e..k) for the elements after the last multiple of 8 (F16 and BF16 only). */
// @ts-ignore: decorator
@inline function tailDot(format: i32, x: usize, row: usize, from: i32, k: i32): f32 {
  let sum: f32 = 0;
  if (!isQuantised(format)) {
    for (let e = from; e < k; e++) sum += load<f32>(x + (<usize>e << 2)) * halfElement(format, row, e);
  }
  return sum;
}

/** Stores one output: value (+ bias[0] when bias != 0) (+ the old *dst when accumulate != 0). */
// @ts-ignore: decorator
@inline function storeOutput(dst: usize, value: f32, bias: usize, accumulate: i32): void {
  if (bias != 0) value += load<f32>(bias);
  if (accumulate != 0) value += load<f32>(dst);
  store<f32>(dst, value);
}

/**
 * Computes outputs o (and o+1 when outs == 2) of rows r (and r+1..r+3 when rows == 4). rows and outs
 * are literals, so the unused accumulators disappear after inlining.
 */
// @ts-ignore: decorator
@inline function tile(
  format: i32, rows: i32, outs: i32,
  y: usize, x: usize, w: usize, scales: usize, bias: usize,
  k: i32, m: i32, accumulate: i32, r: i32, o: i32,
): void {
  const xStride = <usize>k << 2;
  const x0 = x + <usize>r * xStride;
  const x1 = x0 + xStride;
  const x2 = x1 + xStride;
  const x3 = x2 + xStride;
  const w0 = rowAddress(format, w, o, k);
  const w1 = rowAddress(format, w, o + 1, k);
  const s0 = scaleAddress(scales, o, k);
  const s1 = scaleAddress(scales, o + 1, k);

  // a<row><output>
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0);
  let a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0);
  let a30 = f32x4.splat(0), a31 = f32x4.splat(0);

  const k8 = k & ~7;
  const blockLength = isQuantised(format) ? QUANT_BLOCK : k8;
  for (let b = 0; b < k8; b += blockLength) {
    let scale0 = f32x4.splat(1), scale1 = f32x4.splat(1);
    if (isQuantised(format)) {
      scale0 = v128.load32_splat(s0 + (<usize>(b >> 5) << 2));
      if (outs == 2) scale1 = v128.load32_splat(s1 + (<usize>(b >> 5) << 2));
    }
    const blockEnd = b + blockLength;
    for (let e = b; e < blockEnd; e += 8) {
      const raw0 = loadRaw8(format, w0, e);
      const lo0 = lowToFloat(format, raw0, scale0);
      const hi0 = highToFloat(format, raw0, scale0);
      let lo1 = lo0, hi1 = hi0;
      if (outs == 2) {
        const raw1 = loadRaw8(format, w1, e);
        lo1 = lowToFloat(format, raw1, scale1);
        hi1 = highToFloat(format, raw1, scale1);
      }
      const at = <usize>e << 2;

      let xlo = v128.load(x0 + at), xhi = v128.load(x0 + at, 16);
      a00 = f32x4.add(a00, f32x4.add(f32x4.mul(xlo, lo0), f32x4.mul(xhi, hi0)));
      if (outs == 2) a01 = f32x4.add(a01, f32x4.add(f32x4.mul(xlo, lo1), f32x4.mul(xhi, hi1)));
      if (rows == 4) {
        xlo = v128.load(x1 + at); xhi = v128.load(x1 + at, 16);
        a10 = f32x4.add(a10, f32x4.add(f32x4.mul(xlo, lo0), f32x4.mul(xhi, hi0)));
        if (outs == 2) a11 = f32x4.add(a11, f32x4.add(f32x4.mul(xlo, lo1), f32x4.mul(xhi, hi1)));
        xlo = v128.load(x2 + at); xhi = v128.load(x2 + at, 16);
        a20 = f32x4.add(a20, f32x4.add(f32x4.mul(xlo, lo0), f32x4.mul(xhi, hi0)));
        if (outs == 2) a21 = f32x4.add(a21, f32x4.add(f32x4.mul(xlo, lo1), f32x4.mul(xhi, hi1)));
        xlo = v128.load(x3 + at); xhi = v128.load(x3 + at, 16);
        a30 = f32x4.add(a30, f32x4.add(f32x4.mul(xlo, lo0), f32x4.mul(xhi, hi0)));
        if (outs == 2) a31 = f32x4.add(a31, f32x4.add(f32x4.mul(xlo, lo1), f32x4.mul(xhi, hi1)));
      }
    }
  }

  const yStride = <usize>m << 2;
  const out = y + <usize>r * yStride + (<usize>o << 2);
  const bias0 = bias != 0 ? bias + (<usize>o << 2) : 0;
  const bias1 = bias != 0 ? bias0 + 4 : 0;
  storeOutput(out, sumLanes(a00) + tailDot(format, x0, w0, k8, k), bias0, accumulate);
  if (outs == 2) storeOutput(out + 4, sumLanes(a01) + tailDot(format, x0, w1, k8, k), bias1, accumulate);
  if (rows == 4) {
    storeOutput(out + yStride, sumLanes(a10) + tailDot(format, x1, w0, k8, k), bias0, accumulate);
    storeOutput(out + 2 * yStride, sumLanes(a20) + tailDot(format, x2, w0, k8, k), bias0, accumulate);
    storeOutput(out + 3 * yStride, sumLanes(a30) + tailDot(format, x3, w0, k8, k), bias0, accumulate);
    if (outs == 2) {
      storeOutput(out + yStride + 4, sumLanes(a11) + tailDot(format, x1, w1, k8, k), bias1, accumulate);
      storeOutput(out + 2 * yStride + 4, sumLanes(a21) + tailDot(format, x2, w1, k8, k), bias1, accumulate);
      storeOutput(out + 3 * yStride + 4, sumLanes(a31) + tailDot(format, x3, w1, k8, k), bias1, accumulate);
    }
  }
}

/** Runs the tiles that cover rows [0,n) and output columns [first,end). */
// @ts-ignore: decorator
@inline function matmulRows(
  format: i32, y: usize, x: usize, w: usize, scales: usize, bias: usize,
  n: i32, k: i32, m: i32, accumulate: i32, first: i32, end: i32,
): void {
  const n4 = n & ~3;
  let o = first;
  for (; o + 2 <= end; o += 2) {
    for (let r = 0; r < n4; r += 4) tile(format, 4, 2, y, x, w, scales, bias, k, m, accumulate, r, o);
    for (let r = n4; r < n; r++) tile(format, 1, 2, y, x, w, scales, bias, k, m, accumulate, r, o);
  }
  if (o < end) {
    for (let r = 0; r < n4; r += 4) tile(format, 4, 1, y, x, w, scales, bias, k, m, accumulate, r, o);
    for (let r = n4; r < n; r++) tile(format, 1, 1, y, x, w, scales, bias, k, m, accumulate, r, o);
  }
}

// y[n,m] (+)= x[n,k] @ W[m,k]^T (+ bias[m]), W in Q8_0 (qs, scales), k % 32 == 0, output columns [first,end).
export function matmul_q8_0(
  y: usize, x: usize, qs: usize, scales: usize, bias: usize,
  n: i32, k: i32, m: i32, accumulate: i32, first: i32, end: i32,
): void {
  matmulRows(Q8_0, y, x, qs, scales, bias, n, k, m, accumulate, first, end);
}

// y[n,m] (+)= x[n,k] @ W[m,k]^T (+ bias[m]), W in Q4_0 (qs, scales), k % 32 == 0, output columns [first,end).
export function matmul_q4_0(
  y: usize, x: usize, qs: usize, scales: usize, bias: usize,
  n: i32, k: i32, m: i32, accumulate: i32, first: i32, end: i32,
): void {
  matmulRows(Q4_0, y, x, qs, scales, bias, n, k, m, accumulate, first, end);
}

// y[n,m] (+)= x[n,k] @ W[m,k]^T (+ bias[m]), W row-major IEEE half, output columns [first,end).
// NOTE: the half decode costs about 8 vector ops per 4 weights, so this ran at about half the speed of
// matmul_bf16 (15 vs 30 GFLOP/s for n=32, k=m=896, one thread, Zen 4, Node 20).
export function matmul_f16(
  y: usize, x: usize, w: usize, bias: usize,
  n: i32, k: i32, m: i32, accumulate: i32, first: i32, end: i32,
): void {
  matmulRows(F16, y, x, w, 0, bias, n, k, m, accumulate, first, end);
}

// y[n,m] (+)= x[n,k] @ W[m,k]^T (+ bias[m]), W row-major bfloat16, output columns [first,end).
export function matmul_bf16(
  y: usize, x: usize, w: usize, bias: usize,
  n: i32, k: i32, m: i32, accumulate: i32, first: i32, end: i32,
): void {
  matmulRows(BF16, y, x, w, 0, bias, n, k, m, accumulate, first, end);
}
