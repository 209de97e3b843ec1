// Entry point of the kernel module: every export is a pointer-only kernel over the imported memory.
// Arguments are output pointer, input pointers, sizes, then the work slice [first, end) of this thread.
// Pointers are byte offsets into env.memory.

export { matmul_f32, embed_f32_packed } from './matmul_f32';
export { matmul_q8_0, matmul_q4_0, matmul_f16, matmul_bf16 } from './matmul_rows';
export { embed_f32, embed_q8_0, embed_q4_0, embed_f16, embed_bf16 } from './embed';
export { rmsnorm, softmax } from './norm';
export { rope_neox, rope_norm } from './rope';
export { silu_mul, add_f32 } from './elementwise';
export { attention } from './attention';
export { mask_update } from './mask_update';
export {
  quantise_rows, silu_mul_quantise, matmul_q8_0_int8, matmul_q4_0_int8, embed_q8_0x4, embed_q4_0x4, q4_0x4_order,
} from './matmul_int8';
