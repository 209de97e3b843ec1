// Scaled dot-product attention of a block of queries against the KV cache, one (row, head) per work item.

import { expInPlace, maxOfRow } from './norm';
import { madd, sumLanes } from './vector';

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

/**
 * Writes scale * (q . k_j) for keys j in [0, count) to scores[j], where k_j starts at k + j*kStride.
 * Four keys at a time share each load of q, and their four sums are reduced together by one transpose.
 * headDim is a multiple of 4.
 */
function scoreKeys(scores: usize, q: usize, k: usize, kStride: usize, count: i32, headDim: i32, scale: f32): void {
  const headBytes = <usize>headDim << 2;
  const scale4 = f32x4.splat(scale);
  let j = 0;
  let key = k;
  for (; j + 4 <= count; j += 4) {
    const k1 = key + kStride, k2 = k1 + kStride, k3 = k2 + kStride;
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let at: usize = 0; at < headBytes; at += 16) {
      const qv = v128.load(q + at);
      a0 = madd(qv, v128.load(key + at), a0);
      a1 = madd(qv, v128.load(k1 + at), a1);
      a2 = madd(qv, v128.load(k2 + at), a2);
      a3 = madd(qv, v128.load(k3 + at), a3);
    }
    // Transpose-add: lane i of the result is the sum of the lanes of a_i.
    const s01 = f32x4.add(i32x4.shuffle(a0, a1, 0, 4, 1, 5), i32x4.shuffle(a0, a1, 2, 6, 3, 7));
    const s23 = f32x4.add(i32x4.shuffle(a2, a3, 0, 4, 1, 5), i32x4.shuffle(a2, a3, 2, 6, 3, 7));
    const sums = f32x4.add(i32x4.shuffle(s01, s23, 0, 1, 4, 5), i32x4.shuffle(s01, s23, 2, 3, 6, 7));
    v128.store(scores + (<usize>j << 2), f32x4.mul(sums, scale4));
    key = k3 + kStride;
  }
  for (; j < count; j++) {
    store<f32>(scores + (<usize>j << 2), scale * dot(q, key, headDim));
    key += kStride;
  }
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
 * v + j*vStride. Columns go 32 at a time (eight accumulators held across all keys), then 16, 4 and 1.
 */
function weightedSum(out: usize, p: usize, v: usize, vStride: usize, count: i32, headDim: i32, pSum: f32): void {
  const inverse = f32x4.splat(1.0 / pSum);
  let d = 0;
  for (; d + 32 <= headDim; d += 32) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    let a4 = f32x4.splat(0), a5 = f32x4.splat(0), a6 = f32x4.splat(0), a7 = f32x4.splat(0);
    let row = v + (<usize>d << 2);
    for (let j = 0; j < count; j++) {
      const pj = v128.load32_splat(p + (<usize>j << 2));
      a0 = madd(pj, v128.load(row), a0);
      a1 = madd(pj, v128.load(row, 16), a1);
      a2 = madd(pj, v128.load(row, 32), a2);
      a3 = madd(pj, v128.load(row, 48), a3);
      a4 = madd(pj, v128.load(row, 64), a4);
      a5 = madd(pj, v128.load(row, 80), a5);
      a6 = madd(pj, v128.load(row, 96), a6);
      a7 = madd(pj, v128.load(row, 112), a7);
      row += vStride;
    }
    const at = out + (<usize>d << 2);
    v128.store(at, f32x4.mul(a0, inverse));
    v128.store(at, f32x4.mul(a1, inverse), 16);
    v128.store(at, f32x4.mul(a2, inverse), 32);
    v128.store(at, f32x4.mul(a3, inverse), 48);
    v128.store(at, f32x4.mul(a4, inverse), 64);
    v128.store(at, f32x4.mul(a5, inverse), 80);
    v128.store(at, f32x4.mul(a6, inverse), 96);
    v128.store(at, f32x4.mul(a7, inverse), 112);
  }
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
    if ((headDim & 3) == 0) {
      scoreKeys(scratch, query, kCache + kvHead, kvStride, visible, headDim, scale);
    } else {
      let key = kCache + kvHead;
      for (let j = 0; j < visible; j++) {
        store<f32>(scratch + (<usize>j << 2), scale * dot(query, key, headDim));
        key += kvStride;
      }
    }
    const pSum = expInPlace(scratch, visible, maxOfRow(scratch, visible));

    weightedSum(result, scratch, vCache + kvHead, kvStride, visible, headDim, pSum);
  }
}
