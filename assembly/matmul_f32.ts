// f32 matmul over weights packed in panels of 8 output rows, and the gather of rows from such a table.
//
// Panel layout: panel p contains outputs 8p..8p+7. It starts at w + p*k*32 bytes and stores, for each
// kk in 0..k-1, the 8 floats W[8p+j][kk] for j = 0..7, so the micro-kernel reads one 32-byte line per
// kk. Rows past m in the last panel are zero padding. The TypeScript packer is packF32Panels in
// src/runtime/kernels.ts.

import { madd } from './vector';

/** Returns lane j (0..7) of the 8 floats held in lo (lanes 0..3) and hi (lanes 4..7). */
function laneOf8(lo: v128, hi: v128, j: i32): f32 {
  switch (j) {
    case 0: return f32x4.extract_lane(lo, 0);
    case 1: return f32x4.extract_lane(lo, 1);
    case 2: return f32x4.extract_lane(lo, 2);
    case 3: return f32x4.extract_lane(lo, 3);
    case 4: return f32x4.extract_lane(hi, 0);
    case 5: return f32x4.extract_lane(hi, 1);
    case 6: return f32x4.extract_lane(hi, 2);
    default: return f32x4.extract_lane(hi, 3);
  }
}

/**
 * Writes 8 results (lo, hi) to dst[0..cols): adds bias[0..cols) when bias != 0 and the old dst values
 * when accumulate != 0. With cols < 8 (the last panel) it touches neither dst nor bias past cols.
 */
function storeOutputs8(dst: usize, lo: v128, hi: v128, bias: usize, cols: i32, accumulate: i32): void {
  if (cols == 8) {
    if (bias != 0) {
      lo = f32x4.add(lo, v128.load(bias));
      hi = f32x4.add(hi, v128.load(bias, 16));
    }
    if (accumulate != 0) {
      lo = f32x4.add(lo, v128.load(dst));
      hi = f32x4.add(hi, v128.load(dst, 16));
    }
    v128.store(dst, lo);
    v128.store(dst, hi, 16);
    return;
  }
  for (let j = 0; j < cols; j++) {
    const at = <usize>j << 2;
    let value = laneOf8(lo, hi, j);
    if (bias != 0) value += load<f32>(bias + at);
    if (accumulate != 0) value += load<f32>(dst + at);
    store<f32>(dst + at, value);
  }
}

// y[n,m] (+)= x[n,k] @ W[m,k]^T (+ bias[m]), W packed in 8-row panels, output columns [first,end).
// first is a multiple of 8; end is a multiple of 8 or m. Register block: 4 rows x 8 outputs.
export function matmul_f32(
  y: usize, x: usize, w: usize, bias: usize,
  n: i32, k: i32, m: i32, accumulate: i32, first: i32, end: i32,
): void {
  const xStride = <usize>k << 2;
  const yStride = <usize>m << 2;
  const panelBytes = <usize>k << 5;
  const n4 = n & ~3;

  for (let o = first; o < end; o += 8) {
    const panel = w + <usize>(o >> 3) * panelBytes;
    const panelEnd = panel + panelBytes;
    const cols = min(8, end - o);
    const biasAt = bias != 0 ? bias + (<usize>o << 2) : 0;

    for (let r = 0; r < n4; r += 4) {
      const x0 = x + <usize>r * xStride;
      const x1 = x0 + xStride;
      const x2 = x1 + xStride;
      const x3 = x2 + xStride;
      let a0 = f32x4.splat(0), b0 = f32x4.splat(0);
      let a1 = f32x4.splat(0), b1 = f32x4.splat(0);
      let a2 = f32x4.splat(0), b2 = f32x4.splat(0);
      let a3 = f32x4.splat(0), b3 = f32x4.splat(0);
      let xOffset: usize = 0;
      for (let p = panel; p < panelEnd; p += 32) {
        const lo = v128.load(p);
        const hi = v128.load(p, 16);
        let s = v128.load32_splat(x0 + xOffset);
        a0 = madd(s, lo, a0);
        b0 = madd(s, hi, b0);
        s = v128.load32_splat(x1 + xOffset);
        a1 = madd(s, lo, a1);
        b1 = madd(s, hi, b1);
        s = v128.load32_splat(x2 + xOffset);
        a2 = madd(s, lo, a2);
        b2 = madd(s, hi, b2);
        s = v128.load32_splat(x3 + xOffset);
        a3 = madd(s, lo, a3);
        b3 = madd(s, hi, b3);
        xOffset += 4;
      }
      const out = y + <usize>r * yStride + (<usize>o << 2);
      storeOutputs8(out, a0, b0, biasAt, cols, accumulate);
      storeOutputs8(out + yStride, a1, b1, biasAt, cols, accumulate);
      storeOutputs8(out + 2 * yStride, a2, b2, biasAt, cols, accumulate);
      storeOutputs8(out + 3 * yStride, a3, b3, biasAt, cols, accumulate);
    }

    // Rows left over after the blocks of 4.
    for (let r = n4; r < n; r++) {
      const x0 = x + <usize>r * xStride;
      let a0 = f32x4.splat(0), b0 = f32x4.splat(0);
      let xOffset: usize = 0;
      for (let p = panel; p < panelEnd; p += 32) {
        const s = v128.load32_splat(x0 + xOffset);
        a0 = madd(s, v128.load(p), a0);
        b0 = madd(s, v128.load(p, 16), b0);
        xOffset += 4;
      }
      storeOutputs8(y + <usize>r * yStride + (<usize>o << 2), a0, b0, biasAt, cols, accumulate);
    }
  }
}

// y[n,dim] = row tokens[r] of a table packed like matmul_f32's W (m = vocabulary, k = dim), rows [first,end).
export function embed_f32_packed(y: usize, w: usize, tokens: usize, n: i32, dim: i32, first: i32, end: i32): void {
  const panelBytes = <usize>dim << 5;
  for (let r = first; r < end; r++) {
    const token = load<i32>(tokens + (<usize>r << 2));
    let src = w + <usize>(token >> 3) * panelBytes + (<usize>(token & 7) << 2);
    const dst = y + <usize>r * (<usize>dim << 2);
    for (let i = 0; i < dim; i++) {
      store<f32>(dst + (<usize>i << 2), load<f32>(src));
      src += 32;
    }
  }
}
