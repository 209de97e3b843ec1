// The integer path of the quantised matmuls. Activations are quantised to int8 per block of 32, and
// weights stay in Q8_0 or Q4_0 blocks, interleaved by groups of 4 outputs. i32x4.dot_i16x8_s sums the
// products of a block exactly in i32, and each block costs one f32 scale multiply.
//
// Activations (quantiseRows): row r of x[n,k] becomes k int16 values q in [-127, 127] at xq + r*k*2,
// one f32 scale d per block of 32 at xScales + (r*k/32 + b)*4, and the i32 sum of the block's q at
// xSums + (r*k/32 + b)*4 (the Q4_0 kernel needs it). d = max|x| / 127 and q = nearest(x / d); a block
// of zeros has d = 0 and q = 0. Values are int8 but stored as int16 so that a pair loads as one i32.
//
// Weights, "x4" layouts: outputs are taken in groups of 4 (m padded to a multiple of 4 with zeros).
// Q8_0x4 interleaves the groups 2p and 2p+1 block by block, so that a tile of both reads one stream (m
//   padded to a multiple of 8): the 128 bytes of group g's block b are at
//   w + ((g & ~1)*(k/32) + 2b + (g & 1))*128, and its 4 f32 scales (lane j = output 4g+j) at
//   wScales + ((g & ~1)*(k/32) + 2b + (g & 1))*16. Pair step s (0..15) is 8 bytes: for j = 0..3, bytes
//   2j and 2j+1 hold elements 32b+2s and 32b+2s+1 of output 4g+j (int8). Two separate streams, one per
//   group, measured 40 GOP/s against 67 when a 4-row tile streamed a 151936x896 matrix from memory.
// Q4_0x4 keeps each group's blocks together: the block's 64 bytes are at w + (g*(k/32) + b)*64, and its
//   scales at wScales + (g*(k/32) + b)*16. Chunk t (0..7) is 8 bytes: byte i contains
//   byte i of pair step t (ordered as in Q8_0x4) in its low nibble and byte i of pair step t+8 in its
//   high nibble. A nibble u stands for the weight (u - 8) * scale, as in GGUF's Q4_0.
//
// With that order, i32x4.dot_i16x8_s of the splatted activation pair and the 8 weights of a step gives
// the partial sums of the 4 outputs in the 4 lanes, so no horizontal sums are needed.
//
// The relaxed-SIMD build orders Q4_0x4 by quads instead (q4_0x4_order() returns Q4_QUAD_ORDER):
//   chunk q (0..3) is 16 bytes: byte 4j+t contains element 4q+t of output 4g+j in its low nibble and
//   element 16+4q+t in its high nibble. i16x8.relaxed_dot_i8x16_i7x16_s multiplies 16 int8 activations (a quad
//   splatted) by 16 nibbles, which are in [0, 15] and so within the i7 operand's exact range, and sums
//   pairs into i16. A block's 8 such products per lane are at most 8 * 2 * 15 * 127 = 30480, so they
//   accumulate in i16 and widen to i32 once per block: about half the instructions of the pair order.
//   quantise_rows also writes the int8 values (xq8) for this kernel.

import { expVector, madd, maxLanes } from './vector';

// @ts-ignore: decorator
@inline const Q8_0X4: i32 = 0;
// @ts-ignore: decorator
@inline const Q4_0X4: i32 = 1;
// Activation rows per tile; a tile covers 8 outputs (two groups) and keeps 4 accumulators per row. With 4
// rows the Q4_0 tile ran at half speed (register spills), so it takes 3 (n=32, k=m=896, Zen 4, Node 20).
// @ts-ignore: decorator
@inline const Q8_TILE_ROWS: i32 = 4;
// @ts-ignore: decorator
@inline const Q4_TILE_ROWS: i32 = 3;
// The quad-order tiles take 4 rows of one group of outputs. With two groups V8 kept accumulators on the
// stack: 79.9 GOP/s with 4 rows and 84.6 with 3, against 85.9 for one group (n=32, k=896, m=4864, Zen 4,
// Node 20), which also streams a large matrix faster at n=4 (84 against 73 GOP/s).
// @ts-ignore: decorator
@inline const Q4_QUAD_TILE_ROWS: i32 = 4;
// The Q4_0x4 byte orders; the relaxed build reads quads (i16x8.relaxed_dot_i8x16_i7x16_s).
// @ts-ignore: decorator
@inline const Q4_PAIR_ORDER: i32 = 0;
// @ts-ignore: decorator
@inline const Q4_QUAD_ORDER: i32 = 1;
// @ts-ignore: decorator
@inline const Q4_QUADS: bool = ASC_FEATURE_RELAXED_SIMD;

// Returns the Q4_0x4 byte order this build's matmul_q4_0_int8 and embed_q4_0x4 read (0 pairs, 1 quads).
export function q4_0x4_order(): i32 {
  return Q4_QUADS ? Q4_QUAD_ORDER : Q4_PAIR_ORDER;
}

// ---------------------------------------------------------------- activation quantisation

/**
 * Quantises the block of 32 floats at src into dst (int16) and, in the relaxed build, dst8 (int8), writing
 * its scale and its sum of values.
 */
// @ts-ignore: decorator
@inline function quantiseBlock(dst: usize, dst8: usize, scaleAt: usize, sumAt: usize, src: usize): void {
  const a0 = v128.load(src), a1 = v128.load(src, 16), a2 = v128.load(src, 32), a3 = v128.load(src, 48);
  const a4 = v128.load(src, 64), a5 = v128.load(src, 80), a6 = v128.load(src, 96), a7 = v128.load(src, 112);
  const m01 = f32x4.max(f32x4.abs(a0), f32x4.abs(a1));
  const m23 = f32x4.max(f32x4.abs(a2), f32x4.abs(a3));
  const m45 = f32x4.max(f32x4.abs(a4), f32x4.abs(a5));
  const m67 = f32x4.max(f32x4.abs(a6), f32x4.abs(a7));
  const largest = maxLanes(f32x4.max(f32x4.max(m01, m23), f32x4.max(m45, m67)));
  const d: f32 = largest / 127.0;
  const inverse = f32x4.splat(d != 0 ? <f32>1.0 / d : 0);
  store<f32>(scaleAt, d);

  const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a0, inverse)));
  const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a1, inverse)));
  const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a2, inverse)));
  const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a3, inverse)));
  const q4 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a4, inverse)));
  const q5 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a5, inverse)));
  const q6 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a6, inverse)));
  const q7 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(a7, inverse)));
  const h0 = i16x8.narrow_i32x4_s(q0, q1), h1 = i16x8.narrow_i32x4_s(q2, q3);
  const h2 = i16x8.narrow_i32x4_s(q4, q5), h3 = i16x8.narrow_i32x4_s(q6, q7);
  v128.store(dst, h0);
  v128.store(dst, h1, 16);
  v128.store(dst, h2, 32);
  v128.store(dst, h3, 48);
  if (Q4_QUADS) {
    v128.store(dst8, i8x16.narrow_i16x8_s(h0, h1));
    v128.store(dst8, i8x16.narrow_i16x8_s(h2, h3), 16);
  }

  const s = i32x4.add(i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3)), i32x4.add(i32x4.add(q4, q5), i32x4.add(q6, q7)));
  store<i32>(sumAt, i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3));
}

// xq[n,k] (int16), xq8[n,k] (int8, relaxed build only), xScales[n,k/32], xSums[n,k/32] = x[n,k] quantised
// per block of 32, columns [first,end) of every row; k, first and end are multiples of 32.
export function quantise_rows(
  xq: usize, xq8: usize, xScales: usize, xSums: usize, x: usize, n: i32, k: i32, first: i32, end: i32,
): void {
  const blocksPerRow = k >> 5;
  for (let r = 0; r < n; r++) {
    for (let c = first; c < end; c += 32) {
      const element = <usize>r * <usize>k + <usize>c;
      const block = <usize>(r * blocksPerRow + (c >> 5)) << 2;
      quantiseBlock(xq + (element << 1), xq8 + element, xScales + block, xSums + block, x + (element << 2));
    }
  }
}

// y[n,cols] = silu(gate) * up (f32, as silu_mul), then quantised into xq/xScales/xSums as quantise_rows,
// columns [first,end) of every row; cols, first and end are multiples of 32. y may alias gate or up.
export function silu_mul_quantise(
  xq: usize, xq8: usize, xScales: usize, xSums: usize, y: usize, gate: usize, up: usize, n: i32, cols: i32, first: i32, end: i32,
): void {
  const rowBytes = <usize>cols << 2;
  const one = f32x4.splat(1);
  const blocksPerRow = cols >> 5;
  for (let r = 0; r < n; r++) {
    const rowStart = <usize>r * rowBytes;
    for (let c = first; c < end; c += 32) {
      for (let i = 0; i < 32; i += 4) {
        const at = rowStart + (<usize>(c + i) << 2);
        const g = v128.load(gate + at);
        // silu(g) = g / (1 + exp(-g))
        const silu = f32x4.div(g, f32x4.add(one, expVector(f32x4.neg(g))));
        v128.store(y + at, f32x4.mul(silu, v128.load(up + at)));
      }
      const element = <usize>r * <usize>cols + <usize>c;
      const block = <usize>(r * blocksPerRow + (c >> 5)) << 2;
      quantiseBlock(xq + (element << 1), xq8 + element, xScales + block, xSums + block, y + (element << 2));
    }
  }
}

// ---------------------------------------------------------------- matmul micro-kernel

/** Stores lanes 0..cols-1 of v to dst (+ bias, + old dst), as matmul_f32's storeOutputs8 does for 4 lanes. */
// @ts-ignore: decorator
@inline function storeOutputs4(dst: usize, v: v128, bias: usize, cols: i32, accumulate: i32): void {
  if (cols == 4) {
    if (bias != 0) v = f32x4.add(v, v128.load(bias));
    if (accumulate != 0) v = f32x4.add(v, v128.load(dst));
    v128.store(dst, v);
    return;
  }
  for (let j = 0; j < cols; j++) {
    const at = <usize>j << 2;
    let value: f32 = j == 0 ? f32x4.extract_lane(v, 0) : j == 1 ? f32x4.extract_lane(v, 1) : f32x4.extract_lane(v, 2);
    if (bias != 0) value += load<f32>(bias + at);
    if (accumulate != 0) value += load<f32>(dst + at);
    store<f32>(dst + at, value);
  }
}

/** Stores a tile's accumulators f<row><group> to y[r..r+rows-1][4g..4g+4*groups-1] (+ bias, + old y). */
// @ts-ignore: decorator
@inline function storeTile(
  rows: i32, groups: i32, y: usize, r: i32, g: i32, m: i32, bias: usize, accumulate: i32,
  f00: v128, f01: v128, f10: v128, f11: v128, f20: v128, f21: v128, f30: v128, f31: v128,
): void {
  const o = g << 2;
  const yStride = <usize>m << 2;
  const out = y + <usize>r * yStride + (<usize>o << 2);
  const bias0 = bias != 0 ? bias + (<usize>o << 2) : 0;
  const bias1 = bias != 0 ? bias0 + 16 : 0;
  const cols0 = min(4, m - o);
  const cols1 = min(4, m - o - 4);
  {
    storeOutputs4(out, f00, bias0, cols0, accumulate);
    if (groups > 1) storeOutputs4(out + 16, f01, bias1, cols1, accumulate);
  }
  if (rows > 1) {
    storeOutputs4(out + yStride, f10, bias0, cols0, accumulate);
    if (groups > 1) storeOutputs4(out + yStride + 16, f11, bias1, cols1, accumulate);
  }
  if (rows > 2) {
    storeOutputs4(out + 2 * yStride, f20, bias0, cols0, accumulate);
    if (groups > 1) storeOutputs4(out + 2 * yStride + 16, f21, bias1, cols1, accumulate);
  }
  if (rows > 3) {
    storeOutputs4(out + 3 * yStride, f30, bias0, cols0, accumulate);
    if (groups > 1) storeOutputs4(out + 3 * yStride + 16, f31, bias1, cols1, accumulate);
  }
}

/**
 * Computes outputs 4g..4g+4*groups-1 for rows r..r+rows-1 (rows 1..4 and groups 1..2 are literals after
 * inlining, so unused accumulators disappear). The i32 block sums are folded into f32 accumulators once
 * per block: f += float(sum) * (weight scales * activation scale).
 */
// @ts-ignore: decorator
@inline function tileInt8(
  format: i32, rows: i32, groups: i32,
  y: usize, xq: usize, xScales: usize, xSums: usize, w: usize, wScales: usize, bias: usize,
  k: i32, m: i32, accumulate: i32, r: i32, g: i32,
): void {
  const blocks = k >> 5;
  const xStride = <usize>k << 1;
  const xStride2 = xStride << 1;
  const xStride3 = xStride2 + xStride;
  const x0 = xq + <usize>r * xStride;
  const scaleStride = <usize>blocks << 2;
  const sx0 = xScales + (<usize>(r * blocks) << 2);
  const sum0 = xSums + (<usize>(r * blocks) << 2);
  const blockBytes: usize = format == Q8_0X4 ? 128 : 64;
  const groupBytes = <usize>blocks * blockBytes;
  // Q8_0x4: block b of group g+1 follows block b of group g, and a block of the pair is 2 blocks on.
  const pairs = format == Q8_0X4;
  const odd: usize = pairs ? <usize>(g & 1) : 0;
  const pairStart = pairs ? g & ~1 : g;
  let wa = w + <usize>pairStart * groupBytes + odd * blockBytes;
  let wsa = wScales + (<usize>(pairStart * blocks) << 4) + (odd << 4);
  const secondGroup: usize = pairs ? blockBytes : groupBytes;
  const secondScales: usize = pairs ? 16 : <usize>blocks << 4;
  const blockStep: usize = pairs ? blockBytes << 1 : blockBytes;
  const scaleStep: usize = pairs ? 32 : 16;

  let f00 = f32x4.splat(0), f01 = f32x4.splat(0);
  let f10 = f32x4.splat(0), f11 = f32x4.splat(0);
  let f20 = f32x4.splat(0), f21 = f32x4.splat(0);
  let f30 = f32x4.splat(0), f31 = f32x4.splat(0);

  for (let b = 0; b < blocks; b++) {
    const xb = <usize>b << 6; // 32 int16 per block
    let i00 = i32x4.splat(0), i01 = i32x4.splat(0);
    let i10 = i32x4.splat(0), i11 = i32x4.splat(0);
    let i20 = i32x4.splat(0), i21 = i32x4.splat(0);
    let i30 = i32x4.splat(0), i31 = i32x4.splat(0);
    if (format == Q8_0X4) {
      // The loop walks two pointers, and rows 1-3 sit at fixed strides from xp. When each row was indexed by
      // the step number, V8 recomputed and reloaded its address at every step (61 vs 70 GOP/s, n=32,
      // k=m=896, Zen 4, Node 20).
      const wpEnd = wa + 128;
      let xp = x0 + xb;
      for (let wp = wa; wp < wpEnd; wp += 8, xp += 4) {
        const w0 = v128.load8x8_s(wp);
        let w1 = w0;
        if (groups > 1) w1 = v128.load8x8_s(wp + secondGroup);
        {
          const p = v128.load32_splat(xp);
          i00 = i32x4.add(i00, i32x4.dot_i16x8_s(p, w0));
          if (groups > 1) i01 = i32x4.add(i01, i32x4.dot_i16x8_s(p, w1));
        }
        if (rows > 1) {
          const p = v128.load32_splat(xp + xStride);
          i10 = i32x4.add(i10, i32x4.dot_i16x8_s(p, w0));
          if (groups > 1) i11 = i32x4.add(i11, i32x4.dot_i16x8_s(p, w1));
        }
        if (rows > 2) {
          const p = v128.load32_splat(xp + xStride2);
          i20 = i32x4.add(i20, i32x4.dot_i16x8_s(p, w0));
          if (groups > 1) i21 = i32x4.add(i21, i32x4.dot_i16x8_s(p, w1));
        }
        if (rows > 3) {
          const p = v128.load32_splat(xp + xStride3);
          i30 = i32x4.add(i30, i32x4.dot_i16x8_s(p, w0));
          if (groups > 1) i31 = i32x4.add(i31, i32x4.dot_i16x8_s(p, w1));
        }
      }
    } else {
      const low = i16x8.splat(15);
      // Pointer walk as in the Q8_0 loop above.
      const wpEnd = wa + 64;
      let xp = x0 + xb;
      for (let wp = wa; wp < wpEnd; wp += 8, xp += 4) {
        const bytes0 = v128.load8x8_u(wp);
        const lo0 = v128.and(bytes0, low);
        const hi0 = i16x8.shr_u(bytes0, 4);
        let lo1 = lo0, hi1 = hi0;
        if (groups > 1) {
          const bytes1 = v128.load8x8_u(wp + groupBytes);
          lo1 = v128.and(bytes1, low);
          hi1 = i16x8.shr_u(bytes1, 4);
        }
        {
          const p = v128.load32_splat(xp);
          const q = v128.load32_splat(xp, 32);
          i00 = i32x4.add(i00, i32x4.add(i32x4.dot_i16x8_s(p, lo0), i32x4.dot_i16x8_s(q, hi0)));
          if (groups > 1) i01 = i32x4.add(i01, i32x4.add(i32x4.dot_i16x8_s(p, lo1), i32x4.dot_i16x8_s(q, hi1)));
        }
        if (rows > 1) {
          const p = v128.load32_splat(xp + xStride);
          const q = v128.load32_splat(xp + xStride, 32);
          i10 = i32x4.add(i10, i32x4.add(i32x4.dot_i16x8_s(p, lo0), i32x4.dot_i16x8_s(q, hi0)));
          if (groups > 1) i11 = i32x4.add(i11, i32x4.add(i32x4.dot_i16x8_s(p, lo1), i32x4.dot_i16x8_s(q, hi1)));
        }
        if (rows > 2) {
          const p = v128.load32_splat(xp + xStride2);
          const q = v128.load32_splat(xp + xStride2, 32);
          i20 = i32x4.add(i20, i32x4.add(i32x4.dot_i16x8_s(p, lo0), i32x4.dot_i16x8_s(q, hi0)));
          if (groups > 1) i21 = i32x4.add(i21, i32x4.add(i32x4.dot_i16x8_s(p, lo1), i32x4.dot_i16x8_s(q, hi1)));
        }
        if (rows > 3) {
          const p = v128.load32_splat(xp + xStride3);
          const q = v128.load32_splat(xp + xStride3, 32);
          i30 = i32x4.add(i30, i32x4.add(i32x4.dot_i16x8_s(p, lo0), i32x4.dot_i16x8_s(q, hi0)));
          if (groups > 1) i31 = i32x4.add(i31, i32x4.add(i32x4.dot_i16x8_s(p, lo1), i32x4.dot_i16x8_s(q, hi1)));
        }
      }
      // sum (u - 8) q = sum u q - 8 sum q
      {
        const c = i32x4.splat(load<i32>(sum0 + 0 * scaleStride + (<usize>b << 2)) << 3);
        i00 = i32x4.sub(i00, c);
        if (groups > 1) i01 = i32x4.sub(i01, c);
      }
      if (rows > 1) {
        const c = i32x4.splat(load<i32>(sum0 + 1 * scaleStride + (<usize>b << 2)) << 3);
        i10 = i32x4.sub(i10, c);
        if (groups > 1) i11 = i32x4.sub(i11, c);
      }
      if (rows > 2) {
        const c = i32x4.splat(load<i32>(sum0 + 2 * scaleStride + (<usize>b << 2)) << 3);
        i20 = i32x4.sub(i20, c);
        if (groups > 1) i21 = i32x4.sub(i21, c);
      }
      if (rows > 3) {
        const c = i32x4.splat(load<i32>(sum0 + 3 * scaleStride + (<usize>b << 2)) << 3);
        i30 = i32x4.sub(i30, c);
        if (groups > 1) i31 = i32x4.sub(i31, c);
      }
    }
    const d0 = v128.load(wsa);
    let d1 = d0;
    if (groups > 1) d1 = v128.load(wsa + secondScales);
    {
      const sx = v128.load32_splat(sx0 + 0 * scaleStride + (<usize>b << 2));
      f00 = f32x4.add(f00, f32x4.mul(f32x4.convert_i32x4_s(i00), f32x4.mul(d0, sx)));
      if (groups > 1) f01 = f32x4.add(f01, f32x4.mul(f32x4.convert_i32x4_s(i01), f32x4.mul(d1, sx)));
    }
    if (rows > 1) {
      const sx = v128.load32_splat(sx0 + 1 * scaleStride + (<usize>b << 2));
      f10 = f32x4.add(f10, f32x4.mul(f32x4.convert_i32x4_s(i10), f32x4.mul(d0, sx)));
      if (groups > 1) f11 = f32x4.add(f11, f32x4.mul(f32x4.convert_i32x4_s(i11), f32x4.mul(d1, sx)));
    }
    if (rows > 2) {
      const sx = v128.load32_splat(sx0 + 2 * scaleStride + (<usize>b << 2));
      f20 = f32x4.add(f20, f32x4.mul(f32x4.convert_i32x4_s(i20), f32x4.mul(d0, sx)));
      if (groups > 1) f21 = f32x4.add(f21, f32x4.mul(f32x4.convert_i32x4_s(i21), f32x4.mul(d1, sx)));
    }
    if (rows > 3) {
      const sx = v128.load32_splat(sx0 + 3 * scaleStride + (<usize>b << 2));
      f30 = f32x4.add(f30, f32x4.mul(f32x4.convert_i32x4_s(i30), f32x4.mul(d0, sx)));
      if (groups > 1) f31 = f32x4.add(f31, f32x4.mul(f32x4.convert_i32x4_s(i31), f32x4.mul(d1, sx)));
    }
    wa += blockStep;
    wsa += scaleStep;
  }

  storeTile(rows, groups, y, r, g, m, bias, accumulate, f00, f01, f10, f11, f20, f21, f30, f31);
}

/**
 * i16x8.relaxed_dot_i8x16_i7x16_s(a, b): lane i = a[2i] * b[2i] + a[2i+1] * b[2i+1] for int8 a and b in [0, 127].
 * Only the relaxed build calls it; in the others it traps.
 */
// @ts-ignore: decorator
@inline function dotQuads(a: v128, b: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i16x8.relaxed_dot_i8x16_i7x16_s(a, b);
  return unreachable();
}

/**
 * As tileInt8 for Q4_0x4 in the quad order (relaxed build), for one group of 4 outputs (see
 * Q4_QUAD_TILE_ROWS): rows 1..4 is a literal after inlining. Reads the int8 activations at xq8. Per
 * block, each row keeps one i16x8 sum of 8 products per lane, widened once by
 * i32x4.extadd_pairwise_i16x8_s, so its integer block sums equal tileInt8's.
 */
// @ts-ignore: decorator
@inline function tileQ4Quads(
  rows: i32,
  y: usize, xq8: usize, xScales: usize, xSums: usize, w: usize, wScales: usize, bias: usize,
  k: i32, m: i32, accumulate: i32, r: i32, g: i32,
): void {
  const blocks = k >> 5;
  const xStride = <usize>k;
  const xStride2 = xStride << 1;
  const xStride3 = xStride2 + xStride;
  const x0 = xq8 + <usize>r * xStride;
  const scaleStride = <usize>blocks << 2;
  const sx0 = xScales + (<usize>(r * blocks) << 2);
  const sum0 = xSums + (<usize>(r * blocks) << 2);
  let wa = w + <usize>g * <usize>blocks * 64;
  let wsa = wScales + (<usize>(g * blocks) << 4);
  const low = i8x16.splat(15);

  const none = f32x4.splat(0);
  let f0 = f32x4.splat(0), f1 = f32x4.splat(0), f2 = f32x4.splat(0), f3 = f32x4.splat(0);

  for (let b = 0; b < blocks; b++) {
    let a0 = i16x8.splat(0), a1 = i16x8.splat(0), a2 = i16x8.splat(0), a3 = i16x8.splat(0);
    // Chunk q multiplies activations 4q..4q+3 (low nibbles) and 16+4q..16+4q+3 (high nibbles).
    const wpEnd = wa + 64;
    let xp = x0 + (<usize>b << 5);
    for (let wp = wa; wp < wpEnd; wp += 16, xp += 4) {
      const bytes = v128.load(wp);
      const lo = v128.and(bytes, low);
      const hi = v128.and(i16x8.shr_u(bytes, 4), low);
      {
        const p = v128.load32_splat(xp);
        const q = v128.load32_splat(xp, 16);
        a0 = i16x8.add(a0, i16x8.add(dotQuads(p, lo), dotQuads(q, hi)));
      }
      if (rows > 1) {
        const p = v128.load32_splat(xp + xStride);
        const q = v128.load32_splat(xp + xStride, 16);
        a1 = i16x8.add(a1, i16x8.add(dotQuads(p, lo), dotQuads(q, hi)));
      }
      if (rows > 2) {
        const p = v128.load32_splat(xp + xStride2);
        const q = v128.load32_splat(xp + xStride2, 16);
        a2 = i16x8.add(a2, i16x8.add(dotQuads(p, lo), dotQuads(q, hi)));
      }
      if (rows > 3) {
        const p = v128.load32_splat(xp + xStride3);
        const q = v128.load32_splat(xp + xStride3, 16);
        a3 = i16x8.add(a3, i16x8.add(dotQuads(p, lo), dotQuads(q, hi)));
      }
    }

    // sum (u - 8) q = sum u q - 8 sum q, then f += float(sum) * (weight scales * activation scale)
    const d = v128.load(wsa);
    const at = <usize>b << 2;
    {
      const c = i32x4.splat(load<i32>(sum0 + at) << 3);
      const sx = v128.load32_splat(sx0 + at);
      f0 = madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extadd_pairwise_i16x8_s(a0), c)), f32x4.mul(d, sx), f0);
    }
    if (rows > 1) {
      const c = i32x4.splat(load<i32>(sum0 + scaleStride + at) << 3);
      const sx = v128.load32_splat(sx0 + scaleStride + at);
      f1 = madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extadd_pairwise_i16x8_s(a1), c)), f32x4.mul(d, sx), f1);
    }
    if (rows > 2) {
      const c = i32x4.splat(load<i32>(sum0 + 2 * scaleStride + at) << 3);
      const sx = v128.load32_splat(sx0 + 2 * scaleStride + at);
      f2 = madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extadd_pairwise_i16x8_s(a2), c)), f32x4.mul(d, sx), f2);
    }
    if (rows > 3) {
      const c = i32x4.splat(load<i32>(sum0 + 3 * scaleStride + at) << 3);
      const sx = v128.load32_splat(sx0 + 3 * scaleStride + at);
      f3 = madd(f32x4.convert_i32x4_s(i32x4.sub(i32x4.extadd_pairwise_i16x8_s(a3), c)), f32x4.mul(d, sx), f3);
    }
    wa += 64;
    wsa += 16;
  }

  storeTile(rows, 1, y, r, g, m, bias, accumulate, f0, none, f1, none, f2, none, f3, none);
}

// @ts-ignore: decorator
@inline function matmulInt8(
  format: i32, y: usize, xq: usize, xq8: usize, xScales: usize, xSums: usize, w: usize, wScales: usize, bias: usize,
  n: i32, k: i32, m: i32, accumulate: i32, first: i32, end: i32,
): void {
  const quads = format == Q4_0X4 && Q4_QUADS;
  let tileRows = Q4_TILE_ROWS;
  if (quads) tileRows = Q4_QUAD_TILE_ROWS;
  else if (format == Q8_0X4) tileRows = Q8_TILE_ROWS;
  const nTiles = n - n % tileRows;
  const rest = n - nTiles;
  let g = first >> 2;
  const groupEnd = (end + 3) >> 2;
  while (g < groupEnd) {
    // Two groups (8 outputs) per tile, one for the last group of an odd count. Q8_0x4 pairs start at
    // even groups, so a slice that starts at an odd group takes that group alone first.
    const two = g + 2 <= groupEnd && (format != Q8_0X4 || (g & 1) == 0);
    for (let r = 0; r < nTiles; r += tileRows) {
      if (quads) {
        // One group per tile (see Q4_QUAD_TILE_ROWS).
        tileQ4Quads(Q4_QUAD_TILE_ROWS, y, xq8, xScales, xSums, w, wScales, bias, k, m, accumulate, r, g);
        if (two) tileQ4Quads(Q4_QUAD_TILE_ROWS, y, xq8, xScales, xSums, w, wScales, bias, k, m, accumulate, r, g + 1);
      } else if (format == Q8_0X4) {
        if (two) tileInt8(Q8_0X4, Q8_TILE_ROWS, 2, y, xq, xScales, xSums, w, wScales, bias, k, m, accumulate, r, g);
        else tileInt8(Q8_0X4, Q8_TILE_ROWS, 1, y, xq, xScales, xSums, w, wScales, bias, k, m, accumulate, r, g);
      } else {
        if (two) tileInt8(Q4_0X4, Q4_TILE_ROWS, 2, y, xq, xScales, xSums, w, wScales, bias, k, m, accumulate, r, g);
        else tileInt8(Q4_0X4, Q4_TILE_ROWS, 1, y, xq, xScales, xSums, w, wScales, bias, k, m, accumulate, r, g);
      }
    }
    // The rows left after the full tiles, in one smaller tile.
    if (rest == 0) {
      g += two ? 2 : 1;
      continue;
    }
    if (quads) {
      for (let h = g; h < g + (two ? 2 : 1); h++) {
        if (rest == 1) tileQ4Quads(1, y, xq8, xScales, xSums, w, wScales, bias, k, m, accumulate, nTiles, h);
        else if (rest == 2) tileQ4Quads(2, y, xq8, xScales, xSums, w, wScales, bias, k, m, accumulate, nTiles, h);
        else tileQ4Quads(3, y, xq8, xScales, xSums, w, wScales, bias, k, m, accumulate, nTiles, h);
      }
    } else if (rest == 1) {
      if (two) tileInt8(format, 1, 2, y, xq, xScales, xSums, w, wScales, bias, k, m, accumulate, nTiles, g);
      else tileInt8(format, 1, 1, y, xq, xScales, xSums, w, wScales, bias, k, m, accumulate, nTiles, g);
    } else if (rest == 2) {
      if (two) tileInt8(format, 2, 2, y, xq, xScales, xSums, w, wScales, bias, k, m, accumulate, nTiles, g);
      else tileInt8(format, 2, 1, y, xq, xScales, xSums, w, wScales, bias, k, m, accumulate, nTiles, g);
    } else {
      if (two) tileInt8(format, 3, 2, y, xq, xScales, xSums, w, wScales, bias, k, m, accumulate, nTiles, g);
      else tileInt8(format, 3, 1, y, xq, xScales, xSums, w, wScales, bias, k, m, accumulate, nTiles, g);
    }
    g += two ? 2 : 1;
  }
}

// y[n,m] (+)= x[n,k] @ W[m,k]^T (+ bias[m]) with x quantised by quantise_rows and W in Q8_0x4;
// k % 32 == 0; output columns [first,end), first % 4 == 0, end % 4 == 0 or end == m.
export function matmul_q8_0_int8(
  y: usize, xq: usize, xScales: usize, xSums: usize, w: usize, wScales: usize, bias: usize,
  n: i32, k: i32, m: i32, accumulate: i32, first: i32, end: i32,
): void {
  matmulInt8(Q8_0X4, y, xq, 0, xScales, xSums, w, wScales, bias, n, k, m, accumulate, first, end);
}

// As matmul_q8_0_int8 with W in Q4_0x4, in the order of q4_0x4_order(). The relaxed build reads the int8
// activations xq8, and the baseline build reads the int16 ones at xq.
export function matmul_q4_0_int8(
  y: usize, xq: usize, xq8: usize, xScales: usize, xSums: usize, w: usize, wScales: usize, bias: usize,
  n: i32, k: i32, m: i32, accumulate: i32, first: i32, end: i32,
): void {
  matmulInt8(Q4_0X4, y, xq, xq8, xScales, xSums, w, wScales, bias, n, k, m, accumulate, first, end);
}

// ---------------------------------------------------------------- gathers from the x4 layouts

// @ts-ignore: decorator
@inline function embedX4(
  format: i32, y: usize, w: usize, wScales: usize, tokens: usize, dim: i32, first: i32, end: i32,
): void {
  const blocks = dim >> 5;
  const blockBytes: usize = format == Q8_0X4 ? 128 : 64;
  for (let r = first; r < end; r++) {
    const token = load<i32>(tokens + (<usize>r << 2));
    const g = token >> 2;
    const lane = <usize>(token & 3);
    const dst = y + <usize>r * (<usize>dim << 2);
    for (let b = 0; b < blocks; b++) {
      // The block's index in the layout: Q8_0x4 interleaves group pairs (see the top of this file).
      const index = format == Q8_0X4 ? (g & ~1) * blocks + 2 * b + (g & 1) : g * blocks + b;
      const block = w + <usize>index * blockBytes;
      const scale = load<f32>(wScales + (<usize>index << 4) + (lane << 2));
      for (let i = 0; i < 32; i++) {
        const s = i >> 1;
        let value: i32;
        if (format == Q8_0X4) {
          value = <i32>load<i8>(block + (<usize>s << 3) + (lane << 1) + <usize>(i & 1));
        } else if (Q4_QUADS) {
          const byte = <i32>load<u8>(block + (<usize>((i & 15) >> 2) << 4) + (lane << 2) + <usize>(i & 3));
          value = (i < 16 ? byte & 15 : byte >> 4) - 8;
        } else {
          const byte = <i32>load<u8>(block + (<usize>(s & 7) << 3) + (lane << 1) + <usize>(i & 1));
          value = (s < 8 ? byte & 15 : byte >> 4) - 8;
        }
        store<f32>(dst + (<usize>(b * 32 + i) << 2), <f32>value * scale);
      }
    }
  }
}

// y[n,dim] = row tokens[r] of a Q8_0x4 table (m = vocabulary, k = dim) as f32, rows [first,end).
export function embed_q8_0x4(y: usize, w: usize, wScales: usize, tokens: usize, n: i32, dim: i32, first: i32, end: i32): void {
  embedX4(Q8_0X4, y, w, wScales, tokens, dim, first, end);
}

// y[n,dim] = row tokens[r] of a Q4_0x4 table (in the order of q4_0x4_order()) as f32, rows [first,end).
export function embed_q4_0x4(y: usize, w: usize, wScales: usize, tokens: usize, n: i32, dim: i32, first: i32, end: i32): void {
  embedX4(Q4_0X4, y, w, wScales, tokens, dim, first, end);
}
