// Per-position statistics that the decoding strategies rank masked positions by.

import { EXP_MIN_ARG, expScalar, expVector, logPositive, maxLanes, sumLanes } from './vector';

// out[n] 16-byte records {i32 argmax, f32 p[argmax], f32 second-largest p, f32 entropy in nats} of
// p = softmax(logits[r,vocab] / T), T = temperature > 0 ? temperature : 1, rows [first,end).
// Ties go to the lowest index. Probabilities use expVector, so they carry its relative error (< 5e-7).
export function mask_update(out: usize, logits: usize, n: i32, vocab: i32, temperature: f32, first: i32, end: i32): void {
  const inverseT: f32 = temperature > 0 ? 1.0 / temperature : 1.0;
  const vocab4 = vocab & ~3;
  for (let r = first; r < end; r++) {
    const row = logits + <usize>r * (<usize>vocab << 2);

    // Pass 1: per lane, the largest logit, its first index and the second largest (duplicates count).
    let best4 = f32x4.splat(-Infinity);
    let second4 = f32x4.splat(-Infinity);
    let bestIndex4 = i32x4.splat(0);
    let index4 = i32x4(0, 1, 2, 3);
    for (let i = 0; i < vocab4; i += 4) {
      const v = v128.load(row + (<usize>i << 2));
      const better = f32x4.gt(v, best4);
      second4 = f32x4.max(second4, f32x4.min(best4, v));
      best4 = v128.bitselect(v, best4, better);
      bestIndex4 = v128.bitselect(index4, bestIndex4, better);
      index4 = i32x4.add(index4, i32x4.splat(4));
    }
    const best = maxLanes(best4);

    // Lowest index among the lanes that hold the maximum.
    let argmax = i32.MAX_VALUE;
    if (f32x4.extract_lane(best4, 0) == best) argmax = min(argmax, i32x4.extract_lane(bestIndex4, 0));
    if (f32x4.extract_lane(best4, 1) == best) argmax = min(argmax, i32x4.extract_lane(bestIndex4, 1));
    if (f32x4.extract_lane(best4, 2) == best) argmax = min(argmax, i32x4.extract_lane(bestIndex4, 2));
    if (f32x4.extract_lane(best4, 3) == best) argmax = min(argmax, i32x4.extract_lane(bestIndex4, 3));

    // The two largest of the eight lane values, then the tail elements.
    let top1: f32 = -Infinity, top2: f32 = -Infinity;
    for (let lane = 0; lane < 8; lane++) {
      const v = laneOf(lane < 4 ? best4 : second4, lane & 3);
      top2 = max(top2, min(top1, v));
      top1 = max(top1, v);
    }
    if (vocab4 == 0) argmax = 0;
    for (let i = vocab4; i < vocab; i++) {
      const v = load<f32>(row + (<usize>i << 2));
      if (v > top1) argmax = i;
      top2 = max(top2, min(top1, v));
      top1 = max(top1, v);
    }

    // Pass 2: with z = (logit - max) / T and e = exp(z), sum e and e*z. Then
    // H = -sum p ln p = ln(sum e) - sum(e*z) / sum(e).
    const maximum4 = f32x4.splat(top1);
    const inverseT4 = f32x4.splat(inverseT);
    let expSum4 = f32x4.splat(0);
    let weighted4 = f32x4.splat(0);
    for (let i = 0; i < vocab4; i += 4) {
      const z = f32x4.mul(f32x4.sub(v128.load(row + (<usize>i << 2)), maximum4), inverseT4);
      const e = expVector(z);
      expSum4 = f32x4.add(expSum4, e);
      // e is 0 below EXP_MIN_ARG; the clamp keeps 0 * -inf from turning into NaN.
      weighted4 = f32x4.add(weighted4, f32x4.mul(e, f32x4.max(z, f32x4.splat(EXP_MIN_ARG))));
    }
    let expSum = sumLanes(expSum4);
    let weighted = sumLanes(weighted4);
    for (let i = vocab4; i < vocab; i++) {
      const z = (load<f32>(row + (<usize>i << 2)) - top1) * inverseT;
      const e = expScalar(z);
      expSum += e;
      weighted += e * max(z, EXP_MIN_ARG);
    }

    const record = out + (<usize>r << 4);
    store<i32>(record, argmax);
    store<f32>(record, 1.0 / expSum, 4);
    store<f32>(record, expScalar((top2 - top1) * inverseT) / expSum, 8);
    store<f32>(record, <f32>logPositive(<f64>expSum) - weighted / expSum, 12);
  }
}

/** Returns lane (0..3) of v. */
function laneOf(v: v128, lane: i32): f32 {
  switch (lane) {
    case 0: return f32x4.extract_lane(v, 0);
    case 1: return f32x4.extract_lane(v, 1);
    case 2: return f32x4.extract_lane(v, 2);
    default: return f32x4.extract_lane(v, 3);
  }
}
