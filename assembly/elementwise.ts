// Elementwise kernels of the feed-forward block and the residual stream.

import { expScalar, expVector } from './vector';

// y[n,cols] = silu(gate[n,cols]) * up[n,cols] for columns [first,end) of every row; y may alias gate or up.
export function silu_mul(y: usize, gate: usize, up: usize, n: i32, cols: i32, first: i32, end: i32): void {
  const rowBytes = <usize>cols << 2;
  const end4 = first + ((end - first) & ~3);
  const one = f32x4.splat(1);
  for (let r = 0; r < n; r++) {
    const rowStart = <usize>r * rowBytes;
    for (let c = first; c < end4; c += 4) {
      const at = rowStart + (<usize>c << 2);
      const g = v128.load(gate + at);
      // silu(g) = g / (1 + exp(-g))
      const silu = f32x4.div(g, f32x4.add(one, expVector(f32x4.neg(g))));
      v128.store(y + at, f32x4.mul(silu, v128.load(up + at)));
    }
    for (let c = end4; c < end; c++) {
      const at = rowStart + (<usize>c << 2);
      const g = load<f32>(gate + at);
      const e = expScalar(-g);
      store<f32>(y + at, g / (1 + e) * load<f32>(up + at));
    }
  }
}

// y[count] = a[count] + b[count] over elements [first,end); y may alias a or b.
export function add_f32(y: usize, a: usize, b: usize, count: i32, first: i32, end: i32): void {
  const end4 = first + ((end - first) & ~3);
  for (let i = first; i < end4; i += 4) {
    const at = <usize>i << 2;
    v128.store(y + at, f32x4.add(v128.load(a + at), v128.load(b + at)));
  }
  for (let i = end4; i < end; i++) {
    const at = <usize>i << 2;
    store<f32>(y + at, load<f32>(a + at) + load<f32>(b + at));
  }
}
