// Loading the wasm kernel module, its typed exports, and the weight packers of the f32 and int8 matmuls.
//
// Every kernel works on raw byte offsets into one imported memory and allocates nothing, so any number
// of instances (one per worker) can share a memory. Argument order: output pointer, input pointers,
// sizes, then the slice [first, end) of work that the calling thread computes.

import { ConfigError } from '../errors.js';
import { chooseKernelBuild, type KernelBuildRequest } from './kernel-build.js';

/** A byte offset into the shared wasm memory. Offsets above 2 GiB are passed as unsigned numbers. */
export type Pointer = number;

/** Attention mask kinds of the `attention` kernel. */
export const MASK_FULL = 0;
export const MASK_CAUSAL = 1;
export const MASK_BLOCK_CAUSAL = 2;

/** Bytes per record written by `mask_update`: i32 argmax, f32 p(argmax), f32 second p, f32 entropy. */
export const MASK_UPDATE_RECORD_BYTES = 16;

/** Exports of build/dllm-*.wasm. Shapes are row-major; [first, end) is always this thread's slice. */
export interface KernelExports {
  /**
   * Quantises columns [first,end) of every row of x[n,k] per block of 32 for the int8 matmuls: int16 values
   * in [-127,127] at xq (n*k), the same values as int8 at xq8 (n*k, relaxed build only), f32 scales
   * max|x|/127 at xScales (n*k/32), i32 block sums at xSums (n*k/32). k, first and end are multiples of 32.
   */
  quantise_rows(xq: Pointer, xq8: Pointer, xScales: Pointer, xSums: Pointer, x: Pointer, n: number, k: number, first: number, end: number): void;
  /** y = silu(gate) * up as silu_mul, then quantised into xq/xq8/xScales/xSums as quantise_rows; cols, first, end multiples of 32. */
  silu_mul_quantise(xq: Pointer, xq8: Pointer, xScales: Pointer, xSums: Pointer, y: Pointer, gate: Pointer, up: Pointer, n: number, cols: number, first: number, end: number): void;
  /**
   * y[n,m] (+)= x @ W^T (+ bias) with x from quantise_rows and W packed by packQ8_0x4; exact i32 sums per block,
   * then f32. k % 32 == 0; columns [first,end), first % 4 == 0, end % 4 == 0 or end == m.
   */
  matmul_q8_0_int8(y: Pointer, xq: Pointer, xScales: Pointer, xSums: Pointer, w: Pointer, wScales: Pointer, bias: Pointer,
    n: number, k: number, m: number, accumulate: number, first: number, end: number): void;
  /**
   * As matmul_q8_0_int8 with W packed by packQ4_0x4 in the order q4_0x4_order() names. The relaxed build
   * reads the int8 activations at xq8, and the baseline build reads the int16 ones at xq.
   */
  matmul_q4_0_int8(y: Pointer, xq: Pointer, xq8: Pointer, xScales: Pointer, xSums: Pointer, w: Pointer, wScales: Pointer, bias: Pointer,
    n: number, k: number, m: number, accumulate: number, first: number, end: number): void;
  /** The Q4_0x4 byte order this build's Q4_0 int8 kernels read: 0 pairs, 1 quads (see Q4_0X4_ORDERS). */
  q4_0x4_order(): number;
  /** As embed_f32 from a table packed by packQ8_0x4 (m = vocabulary, k = dim). */
  embed_q8_0x4(y: Pointer, w: Pointer, wScales: Pointer, tokens: Pointer, n: number, dim: number, first: number, end: number): void;
  /** As embed_f32 from a table packed by packQ4_0x4 in the order q4_0x4_order() names. */
  embed_q4_0x4(y: Pointer, w: Pointer, wScales: Pointer, tokens: Pointer, n: number, dim: number, first: number, end: number): void;

  /** y[n,m] (+)= x[n,k] @ W[m,k]^T (+ bias[m] if bias != 0); W packed by packF32Panels; columns [first,end), first % 8 == 0, end % 8 == 0 or end == m. */
  matmul_f32(y: Pointer, x: Pointer, w: Pointer, bias: Pointer, n: number, k: number, m: number, accumulate: number, first: number, end: number): void;
  /** As matmul_f32 with W in Q8_0: int8 rows at qs + o*k, f32 scales per 32 at scales + o*(k/32)*4; k % 32 == 0, any [first,end). */
  matmul_q8_0(y: Pointer, x: Pointer, qs: Pointer, scales: Pointer, bias: Pointer, n: number, k: number, m: number, accumulate: number, first: number, end: number): void;
  /** As matmul_q8_0 with W in Q4_0: 16 bytes per 32 elements at qs + o*(k/2), low nibbles first, value (nibble - 8) * scale. */
  matmul_q4_0(y: Pointer, x: Pointer, qs: Pointer, scales: Pointer, bias: Pointer, n: number, k: number, m: number, accumulate: number, first: number, end: number): void;
  /** As matmul_f32 with W row-major [m,k] IEEE half; any k and [first,end). */
  matmul_f16(y: Pointer, x: Pointer, w: Pointer, bias: Pointer, n: number, k: number, m: number, accumulate: number, first: number, end: number): void;
  /** As matmul_f32 with W row-major [m,k] bfloat16; any k and [first,end). */
  matmul_bf16(y: Pointer, x: Pointer, w: Pointer, bias: Pointer, n: number, k: number, m: number, accumulate: number, first: number, end: number): void;

  /** y[n,dim] = table[tokens[r]] from a row-major f32 table; rows [first,end); tokens are i32. */
  embed_f32(y: Pointer, table: Pointer, tokens: Pointer, n: number, dim: number, first: number, end: number): void;
  /** As embed_f32 from a table packed by packF32Panels (m = vocabulary, k = dim), for tied f32 embeddings. */
  embed_f32_packed(y: Pointer, w: Pointer, tokens: Pointer, n: number, dim: number, first: number, end: number): void;
  /** As embed_f32 from a Q8_0 table laid out as matmul_q8_0's W; dim % 32 == 0. */
  embed_q8_0(y: Pointer, qs: Pointer, scales: Pointer, tokens: Pointer, n: number, dim: number, first: number, end: number): void;
  /** As embed_f32 from a Q4_0 table laid out as matmul_q4_0's W; dim % 32 == 0. */
  embed_q4_0(y: Pointer, qs: Pointer, scales: Pointer, tokens: Pointer, n: number, dim: number, first: number, end: number): void;
  /** As embed_f32 from a row-major IEEE half table. */
  embed_f16(y: Pointer, table: Pointer, tokens: Pointer, n: number, dim: number, first: number, end: number): void;
  /** As embed_f32 from a row-major bfloat16 table. */
  embed_bf16(y: Pointer, table: Pointer, tokens: Pointer, n: number, dim: number, first: number, end: number): void;

  /** y[r] = x[src] / sqrt(mean(x[src]^2) + eps) * weight[dim], src = rowIndex ? i32 rowIndex[r] : r; rows [first,end); y may equal x when rowIndex is 0. */
  rmsnorm(y: Pointer, x: Pointer, weight: Pointer, rowIndex: Pointer, n: number, dim: number, eps: number, first: number, end: number): void;
  /** x[r,dim] = softmax(x[r]) in place, rows [first,end). */
  softmax(x: Pointer, n: number, dim: number, first: number, end: number): void;

  /** In-place RoPE on x[n, nHeads*headDim], pairs (i, i + ropeDim/2); cos [n, ropeDim/2] then sin [n, ropeDim/2] at cosSin; items w = r*nHeads + h. */
  rope_neox(x: Pointer, cosSin: Pointer, n: number, nHeads: number, headDim: number, ropeDim: number, first: number, end: number): void;
  /** As rope_neox with adjacent pairs (2i, 2i+1), llama.cpp's NORM mode. */
  rope_norm(x: Pointer, cosSin: Pointer, n: number, nHeads: number, headDim: number, ropeDim: number, first: number, end: number): void;

  /** y[r,c] = silu(gate[r,c]) * up[r,c] for all n rows and columns [first,end) of cols. y may alias gate or up. */
  silu_mul(y: Pointer, gate: Pointer, up: Pointer, n: number, cols: number, first: number, end: number): void;
  /** y[i] = a[i] + b[i] for i in [first,end). */
  add_f32(y: Pointer, a: Pointer, b: Pointer, count: number, first: number, end: number): void;

  /**
   * out[n, nHeads*headDim] = softmax(scale * q k^T) v over keys j < nKeys of kCache/vCache [nKeys, nKvHeads*headDim],
   * visible by maskKind (MASK_FULL, MASK_CAUSAL: j <= qi, MASK_BLOCK_CAUSAL: j/blockSize <= qi/blockSize) with
   * qi = queryStart + r; items w = r*nHeads + h; scratch is this thread's buffer of at least nKeys floats.
   */
  attention(out: Pointer, q: Pointer, kCache: Pointer, vCache: Pointer, n: number, nHeads: number, nKvHeads: number, headDim: number,
    queryStart: number, nKeys: number, maskKind: number, blockSize: number, scale: number, scratch: Pointer, first: number, end: number): void;

  /**
   * For rows [first,end) of logits [n,vocab], p = softmax(logits[r] / T) (T = temperature > 0 ? temperature : 1);
   * writes {i32 argmax (lowest index on ties), f32 p[argmax], f32 second-largest p, f32 entropy in nats} at out + 16r.
   */
  mask_update(out: Pointer, logits: Pointer, n: number, vocab: number, temperature: number, first: number, end: number): void;
}

/**
 * Compiles the kernel module for shared or plain memory: the relaxed-SIMD build where the runtime passes
 * its self-test, else the baseline build (see kernel-build.ts).
 */
export async function loadKernelModule(
  shared: boolean, build: KernelBuildRequest = 'auto', log?: (message: string) => void,
): Promise<WebAssembly.Module> {
  return (await chooseKernelBuild(shared, build, log)).module;
}

/** Instantiates the kernel module over memory (shared for dllm-shared.wasm, plain for dllm-single.wasm). */
export function instantiateKernels(module: WebAssembly.Module, memory: WebAssembly.Memory): KernelExports {
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return instance.exports as unknown as KernelExports;
}

/** Returns the number of floats that packF32Panels writes for an [m,k] matrix: ceil(m/8)*8*k. */
export function packedF32Length(m: number, k: number): number {
  return Math.ceil(m / 8) * 8 * k;
}

/**
 * Packs row-major W[m,k] into the panels matmul_f32 reads: panel p (outputs 8p..8p+7) is a [k,8] block
 * at dst[p*8k], so dst[p*8k + kk*8 + j] = W[8p + j][kk], with zeros for rows at and past m.
 */
export function packF32Panels(dst: Float32Array, src: Float32Array, m: number, k: number): void {
  const length = packedF32Length(m, k);
  if (dst.length < length) {
    throw new RangeError(`packF32Panels: dst has ${dst.length} floats, too small for [${m},${k}]: allocate packedF32Length(m, k) = ${length}`);
  }
  if (src.length < m * k) {
    throw new RangeError(`packF32Panels: src has ${src.length} floats, expected m * k = ${m * k} for [${m},${k}]`);
  }
  for (let panel = 0; panel * 8 < m; panel++) {
    const base = panel * 8 * k;
    for (let j = 0; j < 8; j++) {
      const row = panel * 8 + j;
      if (row < m) {
        const from = row * k;
        for (let kk = 0; kk < k; kk++) dst[base + kk * 8 + j] = src[from + kk];
      } else {
        for (let kk = 0; kk < k; kk++) dst[base + kk * 8 + j] = 0;
      }
    }
  }
}

// ---------------------------------------------------------------- Q8_0x4 and Q4_0x4 packers

/**
 * Bytes of the quantised values and of the f32 scales of an [m,k] matrix in the x4 layouts: m padded to a
 * multiple of 8 for Q8_0x4, of 4 for Q4_0x4.
 */
export function x4Bytes(format: 'q8_0' | 'q4_0', m: number, k: number): { data: number; scales: number } {
  // Q8_0x4 interleaves pairs of groups, so it pads m to a multiple of 8.
  const groups = format === 'q8_0' ? Math.ceil(m / 8) * 2 : Math.ceil(m / 4);
  const blocks = k / 32;
  return { data: groups * blocks * (format === 'q8_0' ? 128 : 64), scales: groups * blocks * 16 };
}

function checkX4(name: string, source: Uint8Array, blockBytes: number, m: number, k: number): number {
  if (k % 32 !== 0) throw new RangeError(`${name}: k = ${k} is not a multiple of 32`);
  const blocks = k / 32;
  if (source.byteLength !== m * blocks * blockBytes) {
    throw new RangeError(`${name}: source has ${source.byteLength} bytes, expected ${m * blocks * blockBytes} for [${m},${k}]`);
  }
  return blocks;
}

let halfTable: Float32Array | null = null;

/** Returns the f32 value of every IEEE half bit pattern (GGUF block scales), built on first use. */
function halfValues(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let bits = 0; bits < 65536; bits++) {
    const exponent = (bits >> 10) & 0x1f;
    const mantissa = bits & 0x3ff;
    const sign = bits & 0x8000 ? -1 : 1;
    if (exponent === 0) halfTable[bits] = sign * mantissa * 2 ** -24;
    else if (exponent === 31) halfTable[bits] = mantissa ? NaN : sign * Infinity;
    else halfTable[bits] = sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
  }
  return halfTable;
}

/**
 * Packs GGUF Q8_0 blocks of a row-major [m,k] matrix (34 bytes per 32 values: f16 scale, 32 int8) into the
 * Q8_0x4 layout of matmul_q8_0_int8 (see assembly/matmul_int8.ts). Outputs past m are zero.
 */
export function packQ8_0x4(data: Uint8Array, scales: Float32Array, source: Uint8Array, m: number, k: number): void {
  const blocks = checkX4('packQ8_0x4', source, 34, m, k);
  const half = halfValues();
  const groups = Math.ceil(m / 8) * 2;
  data.fill(0, 0, groups * blocks * 128);
  scales.fill(0, 0, groups * blocks * 4);
  for (let o = 0; o < m; o++) {
    const g = o >> 2;
    const lane = o & 3;
    for (let b = 0; b < blocks; b++) {
      const from = (o * blocks + b) * 34;
      // Groups 2p and 2p+1 alternate block by block.
      const index = (g & ~1) * blocks + 2 * b + (g & 1);
      const to = index * 128 + lane * 2;
      scales[index * 4 + lane] = half[source[from] | (source[from + 1] << 8)];
      for (let s = 0; s < 16; s++) {
        data[to + s * 8] = source[from + 2 + 2 * s];
        data[to + s * 8 + 1] = source[from + 3 + 2 * s];
      }
    }
  }
}

/** The Q4_0x4 byte orders, indexed by the kernel module's q4_0x4_order(). */
export const Q4_0X4_ORDERS = ['pairs', 'quads'] as const;
export type Q4_0x4Order = (typeof Q4_0X4_ORDERS)[number];

/**
 * Returns the Q4_0x4 byte order the kernels of `kernels` read. Throws ConfigError INVALID_OPTION for a
 * module of another dllm-wasm version, whose kernel arguments would not match this version's.
 */
export function q4Order(kernels: KernelExports): Q4_0x4Order {
  const reported = typeof kernels.q4_0x4_order === 'function' ? kernels.q4_0x4_order() : -1;
  const order = Q4_0X4_ORDERS[reported];
  if (!order) {
    throw new ConfigError('INVALID_OPTION',
      'The kernel module is from another dllm-wasm version (it does not report a known Q4_0x4 byte order). ' +
        'Pass the .wasm files of the installed package as kernelModule, or rebuild them with `npm run build:wasm`.');
  }
  return order;
}

/**
 * Packs GGUF Q4_0 blocks (18 bytes per 32 values: f16 scale, 16 bytes with element i in the low nibble of
 * byte i and element i+16 in its high nibble) into the Q4_0x4 layout, in the byte order `order` (see
 * assembly/matmul_int8.ts). In both orders a byte contains elements e and e+16 of one output, as in GGUF, so
 * only the bytes move. Outputs past m are zero.
 */
export function packQ4_0x4(data: Uint8Array, scales: Float32Array, source: Uint8Array, m: number, k: number, order: Q4_0x4Order): void {
  const blocks = checkX4('packQ4_0x4', source, 18, m, k);
  const half = halfValues();
  const groups = Math.ceil(m / 4);
  data.fill(0x88, 0, groups * blocks * 64); // nibble 8 is weight 0
  scales.fill(0, 0, groups * blocks * 4);
  for (let o = 0; o < m; o++) {
    const g = o >> 2;
    const lane = o & 3;
    for (let b = 0; b < blocks; b++) {
      const from = (o * blocks + b) * 18;
      scales[(g * blocks + b) * 4 + lane] = half[source[from] | (source[from + 1] << 8)];
      if (order === 'pairs') {
        // chunk t's 8 bytes contain source bytes 2t and 2t+1 of each output lane at bytes 2*lane and 2*lane+1
        const to = (g * blocks + b) * 64 + lane * 2;
        for (let t = 0; t < 8; t++) {
          data[to + t * 8] = source[from + 2 + 2 * t];
          data[to + t * 8 + 1] = source[from + 3 + 2 * t];
        }
      } else {
        // chunk q's 16 bytes contain source bytes 4q..4q+3 of each output lane at bytes 4*lane..4*lane+3
        const to = (g * blocks + b) * 64 + lane * 4;
        for (let q = 0; q < 4; q++) {
          for (let t = 0; t < 4; t++) data[to + q * 16 + t] = source[from + 2 + 4 * q + t];
        }
      }
    }
  }
}
