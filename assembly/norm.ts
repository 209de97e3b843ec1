// Row normalisations: RMSNorm and softmax, with the row max and exp-sum helpers that attention reuses.

import { expScalar, expVector, maxLanes, sumLanes } from './vector';

/** Returns the largest of count floats at p (-inf when count is 0). */
export function maxOfRow(p: usize, count: i32): f32 {
  const count4 = count & ~3;
  let best4 = f32x4.splat(-Infinity);
  for (let i = 0; i < count4; i += 4) best4 = f32x4.max(best4, v128.load(p + (<usize>i << 2)));
  let best = maxLanes(best4);
  for (let i = count4; i < count; i++) best = max(best, load<f32>(p + (<usize>i << 2)));
  return best;
}

/** Replaces each of count floats v at p with exp(v - shift) and returns their sum. */
export function expInPlace(p: usize, count: i32, shift: f32): f32 {
  const count4 = count & ~3;
  const shift4 = f32x4.splat(shift);
  let sum4 = f32x4.splat(0);
  for (let i = 0; i < count4; i += 4) {
    const at = p + (<usize>i << 2);
    const e = expVector(f32x4.sub(v128.load(at), shift4));
    v128.store(at, e);
    sum4 = f32x4.add(sum4, e);
  }
  // The tail goes through the vector exp too, one lane at a time, so every element has the same rounding.
  let sum = sumLanes(sum4);
  for (let i = count4; i < count; i++) {
    const at = p + (<usize>i << 2);
    const e = expScalar(load<f32>(at) - shift);
    store<f32>(at, e);
    sum += e;
  }
  return sum;
}

/** Multiplies count floats at p by factor. */
export function scaleRow(p: usize, count: i32, factor: f32): void {
  const count4 = count & ~3;
  const factor4 = f32x4.splat(factor);
  for (let i = 0; i < count4; i += 4) {
    const at = p + (<usize>i << 2);
    v128.store(at, f32x4.mul(v128.load(at), factor4));
  }
  for (let i = count4; i < count; i++) {
    const at = p + (<usize>i << 2);
    store<f32>(at, load<f32>(at) * factor);
  }
}

// y[r,dim] = x[src,dim] / sqrt(mean(x[src]^2) + eps) * weight[dim], src = rowIndex ? i32 rowIndex[r] : r,
// rows [first,end) of n. y may equal x when rowIndex is 0.
export function rmsnorm(
  y: usize, x: usize, weight: usize, rowIndex: usize, n: i32, dim: i32, eps: f32, first: i32, end: i32,
): void {
  const rowBytes = <usize>dim << 2;
  const dim8 = dim & ~7;
  const dim4 = dim & ~3;
  for (let r = first; r < end; r++) {
    const source = rowIndex == 0 ? r : load<i32>(rowIndex + (<usize>r << 2));
    const src = x + <usize>source * rowBytes;
    const dst = y + <usize>r * rowBytes;

    // Sum of squares with two accumulators, then the tails.
    let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
    let i = 0;
    for (; i < dim8; i += 8) {
      const a = v128.load(src + (<usize>i << 2));
      const b = v128.load(src + (<usize>i << 2), 16);
      s0 = f32x4.add(s0, f32x4.mul(a, a));
      s1 = f32x4.add(s1, f32x4.mul(b, b));
    }
    for (; i < dim4; i += 4) {
      const a = v128.load(src + (<usize>i << 2));
      s0 = f32x4.add(s0, f32x4.mul(a, a));
    }
    let squares = sumLanes(f32x4.add(s0, s1));
    for (; i < dim; i++) {
      const a = load<f32>(src + (<usize>i << 2));
      squares += a * a;
    }

    // Squares beyond the f32 range would scale the row to zeros; NaN lets the engine report the overflow.
    const inverse: f32 = squares == Infinity ? NaN : 1.0 / sqrt<f32>(squares / <f32>dim + eps);
    const inverse4 = f32x4.splat(inverse);
    for (i = 0; i < dim4; i += 4) {
      const at = <usize>i << 2;
      v128.store(dst + at, f32x4.mul(f32x4.mul(v128.load(src + at), inverse4), v128.load(weight + at)));
    }
    for (; i < dim; i++) {
      const at = <usize>i << 2;
      store<f32>(dst + at, load<f32>(src + at) * inverse * load<f32>(weight + at));
    }
  }
}

// x[r,dim] = softmax(x[r,dim]) in place (max subtracted), rows [first,end) of n.
export function softmax(x: usize, n: i32, dim: i32, first: i32, end: i32): void {
  const rowBytes = <usize>dim << 2;
  for (let r = first; r < end; r++) {
    const row = x + <usize>r * rowBytes;
    const sum = expInPlace(row, dim, maxOfRow(row, dim));
    scaleRow(row, dim, 1.0 / sum);
  }
}
