// Scaled dot-product attention of a block of queries against the KV cache, one (row, head) per work item.

import { expInPlace, maxOfRow } from './norm';
import { sumLanes } from './vector';

// @ts-ignore: decorator
@inline const MASK_FULL: i32 = 0;
// @ts-ignore: decorator
@inline const MASK_CAUSAL: i32 = 1;

/** Returns a[0..count) . b[0..count). */
function dot(a: usize, b: usize, count: i32): f32 {
  const count8 = count & ~7;
  const count4 = count & ~3;
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let i = 0;
  for (; i < count8; i += 8) {
    const at = <usize>i << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + at), v128.load(b + at)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a + at, 16), v128.load(b + at, 16)));
  }
  for (; i < count4; i += 4) {
    const at = <usize>i << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + at), v128.load(b + at)));
  }
  let sum = sumLanes(f32x4.add(s0, s1));
  for (; i < count; i++) sum += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return sum;
}

/** Returns how many keys, from key 0, query qi sees. Every mask kind here exposes a prefix of the keys. */
function visibleKeys(maskKind: i32, qi: i32, nKeys: i32, blockSize: i32): i32 {
  let visible = nKeys;
  if (maskKind == MASK_CAUSAL) visible = qi + 1;
  else if (maskKind != MASK_FULL) visible = (qi / blockSize + 1) * blockSize;
  return min(max(visible, 0), nKeys);
}

/**
 * Writes out[0..headDim) = sum_j p[j] * v_j / pSum for keys j in [0,count), where v_j starts at
 * v + j*vStride. Columns go 16 at a time (four accumulators held across all keys), then 4, then 1.
 */
function weightedSum(out: usize, p: usize, v: usize, vStride: usize, count: i32, headDim: i32, pSum: f32): void {
  const inverse = f32x4.splat(1.0 / pSum);
  let d = 0;
  for (; d + 16 <= headDim; d += 16) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let row = v + (<usize>d << 2);
    for (let j = 0; j < count; j++) {
      const pj = v128.load32_splat(p + (<usize>j << 2));
      a0 = f32x4.add(a0, f32x4.mul(pj, v128.load(row)));
      a1 = f32x4.add(a1, f32x4.mul(pj, v128.load(row, 16)));
      a2 = f32x4.add(a2, f32x4.mul(pj, v128.load(row, 32)));
      a3 = f32x4.add(a3, f32x4.mul(pj, v128.load(row, 48)));
      row += vStride;
    }
    const at = out + (<usize>d << 2);
    v128.store(at, f32x4.mul(a0, inverse));
    v128.store(at, f32x4.mul(a1, inverse), 16);
    v128.store(at, f32x4.mul(a2, inverse), 32);
    v128.store(at, f32x4.mul(a3, inverse), 48);
  }
  for (; d + 4 <= headDim; d += 4) {
    let a0 = f32x4.splat(0);
    let row = v + (<usize>d << 2);
    for (let j = 0; j < count; j++) {
      a0 = f32x4.add(a0, f32x4.mul(v128.load32_splat(p + (<usize>j << 2)), v128.load(row)));
      row += vStride;
    }
    v128.store(out + (<usize>d << 2), f32x4.mul(a0, inverse));
  }
  for (; d < headDim; d++) {
    let sum: f32 = 0;
    let row = v + (<usize>d << 2);
    for (let j = 0; j < count; j++) {
      sum += load<f32>(p + (<usize>j << 2)) * load<f32>(row);
      row += vStride;
    }
    store<f32>(out + (<usize>d << 2), sum / pSum);
  }
}

// out[n, nHeads*headDim] = softmax(scale * q kT) v over the visible keys of kCache/vCache [nKeys, nKvHeads*headDim];
// work items w = r*nHeads + h in [first,end); query index queryStart + r; maskKind 0 full, 1 causal,
// 2 block-causal with blockSize; scratch holds nKeys floats private to this thread.
export function attention(
  out: usize, q: usize, kCache: usize, vCache: usize,
  n: i32, nHeads: i32, nKvHeads: i32, headDim: i32, queryStart: i32, nKeys: i32,
  maskKind: i32, blockSize: i32, scale: f32, scratch: usize, first: i32, end: i32,
): void {
  const headBytes = <usize>headDim << 2;
  const kvStride = <usize>nKvHeads * headBytes;
  const groupSize = nHeads / nKvHeads;
  for (let w = first; w < end; w++) {
    const r = w / nHeads;
    const h = w % nHeads;
    const kvHead = <usize>(h / groupSize) * headBytes;
    const visible = visibleKeys(maskKind, queryStart + r, nKeys, blockSize);
    const query = q + <usize>w * headBytes;
    const result = out + <usize>w * headBytes;

    if (visible == 0) {
      for (let d = 0; d < headDim; d++) store<f32>(result + (<usize>d << 2), 0);
      continue;
    }

    // Scores of the visible keys, then their exponentials (max subtracted) in place.
    let key = kCache + kvHead;
    for (let j = 0; j < visible; j++) {
      store<f32>(scratch + (<usize>j << 2), scale * dot(query, key, headDim));
      key += kvStride;
    }
    const pSum = expInPlace(scratch, visible, maxOfRow(scratch, visible));

    weightedSum(result, scratch, vCache + kvHead, kvStride, visible, headDim, pSum);
  }
}
