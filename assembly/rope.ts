// Rotary position embeddings, applied in place to q or k rows of nHeads heads of headDim floats.
//
// cosSin contains two [n, ropeDim/2] f32 tables back to back: cos(r, i) at cosSin + (r*half + i)*4 and
// sin(r, i) at cosSin + (n*half + r*half + i)*4. Each pair (a, b) becomes (a*c - b*s, b*c + a*s).
// Dims at and past ropeDim are left unchanged (partial RoPE).

// x[n, nHeads*headDim] rotated in place, NEOX pairs (i, i + ropeDim/2); work items w = r*nHeads + h in [first,end).
export function rope_neox(
  x: usize, cosSin: usize, n: i32, nHeads: i32, headDim: i32, ropeDim: i32, first: i32, end: i32,
): void {
  const half = ropeDim >> 1;
  const half4 = half & ~3;
  const halfBytes = <usize>half << 2;
  const sinOffset = <usize>n * halfBytes;
  for (let w = first; w < end; w++) {
    const r = w / nHeads;
    const head = x + <usize>w * (<usize>headDim << 2);
    const cos = cosSin + <usize>r * halfBytes;
    const sin = cos + sinOffset;
    for (let i = 0; i < half4; i += 4) {
      const at = <usize>i << 2;
      const a = v128.load(head + at);
      const b = v128.load(head + at + halfBytes);
      const c = v128.load(cos + at);
      const s = v128.load(sin + at);
      v128.store(head + at, f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s)));
      v128.store(head + at + halfBytes, f32x4.add(f32x4.mul(b, c), f32x4.mul(a, s)));
    }
    for (let i = half4; i < half; i++) {
      const at = <usize>i << 2;
      const a = load<f32>(head + at);
      const b = load<f32>(head + at + halfBytes);
      const c = load<f32>(cos + at);
      const s = load<f32>(sin + at);
      store<f32>(head + at, a * c - b * s);
      store<f32>(head + at + halfBytes, b * c + a * s);
    }
  }
}

// x[n, nHeads*headDim] rotated in place, adjacent pairs (2i, 2i+1) as llama.cpp's NORM mode; work items as rope_neox.
export function rope_norm(
  x: usize, cosSin: usize, n: i32, nHeads: i32, headDim: i32, ropeDim: i32, first: i32, end: i32,
): void {
  const half = ropeDim >> 1;
  const half4 = half & ~3;
  const halfBytes = <usize>half << 2;
  const sinOffset = <usize>n * halfBytes;
  for (let w = first; w < end; w++) {
    const r = w / nHeads;
    const head = x + <usize>w * (<usize>headDim << 2);
    const cos = cosSin + <usize>r * halfBytes;
    const sin = cos + sinOffset;
    for (let i = 0; i < half4; i += 4) {
      // Four pairs: split into the even (a) and odd (b) elements, rotate, interleave back.
      const pairs = head + (<usize>i << 3);
      const v0 = v128.load(pairs);
      const v1 = v128.load(pairs, 16);
      const a = i8x16.shuffle(v0, v1, 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27);
      const b = i8x16.shuffle(v0, v1, 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
      const c = v128.load(cos + (<usize>i << 2));
      const s = v128.load(sin + (<usize>i << 2));
      const ra = f32x4.sub(f32x4.mul(a, c), f32x4.mul(b, s));
      const rb = f32x4.add(f32x4.mul(b, c), f32x4.mul(a, s));
      v128.store(pairs, i8x16.shuffle(ra, rb, 0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23));
      v128.store(pairs, i8x16.shuffle(ra, rb, 8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31), 16);
    }
    for (let i = half4; i < half; i++) {
      const pair = head + (<usize>i << 3);
      const a = load<f32>(pair);
      const b = load<f32>(pair, 4);
      const c = load<f32>(cos + (<usize>i << 2));
      const s = load<f32>(sin + (<usize>i << 2));
      store<f32>(pair, a * c - b * s);
      store<f32>(pair, b * c + a * s, 4);
    }
  }
}
