// Embedding gathers: y[r] = table row tokens[r] as f32, for rows r in [first,end) of n tokens (i32 ids at
// `tokens`). Tables use the weight layouts of the matmuls (formats.ts); the packed f32 variant sits
// beside matmul_f32 in matmul_f32.ts.

import {
  BF16, F16, Q4_0, Q8_0,
  halfElement, highToFloat, isQuantised, loadRaw8, lowToFloat, rowAddress, scaleAddress,
} from './formats';

// y[n,dim] = table[tokens[r]] with a row-major f32 table [vocab,dim], rows [first,end).
export function embed_f32(y: usize, table: usize, tokens: usize, n: i32, dim: i32, first: i32, end: i32): void {
  const rowBytes = <usize>dim << 2;
  const dim4 = dim & ~3;
  for (let r = first; r < end; r++) {
    const src = table + <usize>load<i32>(tokens + (<usize>r << 2)) * rowBytes;
    const dst = y + <usize>r * rowBytes;
    for (let i = 0; i < dim4; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
    for (let i = dim4; i < dim; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
  }
}

/** Decodes one row of a Q8_0, Q4_0, F16 or BF16 table into dst[0..dim). */
// @ts-ignore: decorator
@inline function decodeRow(format: i32, dst: usize, table: usize, scales: usize, token: i32, dim: i32): void {
  const row = rowAddress(format, table, token, dim);
  const rowScales = scaleAddress(scales, token, dim);
  const dim8 = dim & ~7;
  let scale = f32x4.splat(1);
  for (let e = 0; e < dim8; e += 8) {
    if (isQuantised(format)) scale = v128.load32_splat(rowScales + (<usize>(e >> 5) << 2));
    const raw = loadRaw8(format, row, e);
    v128.store(dst + (<usize>e << 2), lowToFloat(format, raw, scale));
    v128.store(dst + (<usize>e << 2), highToFloat(format, raw, scale), 16);
  }
  // Quantised dims are multiples of 32, so only F16 and BF16 rows have a tail.
  if (!isQuantised(format)) {
    for (let e = dim8; e < dim; e++) store<f32>(dst + (<usize>e << 2), halfElement(format, row, e));
  }
}

// @ts-ignore: decorator
@inline function embedRows(
  format: i32, y: usize, table: usize, scales: usize, tokens: usize, dim: i32, first: i32, end: i32,
): void {
  const rowBytes = <usize>dim << 2;
  for (let r = first; r < end; r++) {
    const token = load<i32>(tokens + (<usize>r << 2));
    decodeRow(format, y + <usize>r * rowBytes, table, scales, token, dim);
  }
}

// y[n,dim] = dequantised Q8_0 table row tokens[r] (qs, scales as matmul_q8_0), dim % 32 == 0, rows [first,end).
export function embed_q8_0(
  y: usize, qs: usize, scales: usize, tokens: usize, n: i32, dim: i32, first: i32, end: i32,
): void {
  embedRows(Q8_0, y, qs, scales, tokens, dim, first, end);
}

// y[n,dim] = dequantised Q4_0 table row tokens[r] (qs, scales as matmul_q4_0), dim % 32 == 0, rows [first,end).
export function embed_q4_0(
  y: usize, qs: usize, scales: usize, tokens: usize, n: i32, dim: i32, first: i32, end: i32,
): void {
  embedRows(Q4_0, y, qs, scales, tokens, dim, first, end);
}

// y[n,dim] = IEEE half table [vocab,dim] row tokens[r] as f32, rows [first,end).
export function embed_f16(y: usize, table: usize, tokens: usize, n: i32, dim: i32, first: i32, end: i32): void {
  embedRows(F16, y, table, 0, tokens, dim, first, end);
}

// y[n,dim] = bfloat16 table [vocab,dim] row tokens[r] as f32, rows [first,end).
export function embed_bf16(y: usize, table: usize, tokens: usize, n: i32, dim: i32, first: i32, end: i32): void {
  embedRows(BF16, y, table, 0, tokens, dim, first, end);
}
