export function add_f32(y: usize, a: usize, b: usize, count: i32, first: i32, end: i32): void {
  for (let i = first; i < end; i++) {
    store<f32>(y + (<usize>i << 2), load<f32>(a + (<usize>i << 2)) + load<f32>(b + (<usize>i << 2)));
  }
}
