// Loading the wasm kernel module, its typed exports, and the f32 panel packer that matmul_f32 reads.
//
// Every kernel works on raw byte offsets into one imported memory and allocates nothing, so any number
// of instances (one per worker) can share a memory. Argument order: output pointer, input pointers,
// sizes, then the slice [first, end) of work that the calling thread computes.

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

/** Returns the wasm file name of the shared-memory build (worker pool) or the single-thread build. */
export function kernelFileName(shared: boolean): string {
  return shared ? 'dllm-shared.wasm' : 'dllm-single.wasm';
}

async function readBytes(url: URL): Promise<Uint8Array<ArrayBuffer> | undefined> {
  if (url.protocol === 'file:') {
    // Imported here, not at the top, so that bundles for browsers never load node:fs.
    const { readFile } = await import('node:fs/promises');
    try {
      return new Uint8Array(await readFile(url));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }
  const response = await fetch(url);
  return response.ok ? new Uint8Array(await response.arrayBuffer()) : undefined;
}

/**
 * Compiles the kernel module. Looks for the .wasm beside this file first (the bundle in dist/), then in
 * build/ (running from src/ with tsx). Throws naming both paths when neither exists.
 */
export async function loadKernelModule(shared: boolean): Promise<WebAssembly.Module> {
  const name = kernelFileName(shared);
  const candidates = [new URL(`./${name}`, import.meta.url), new URL(`../../build/${name}`, import.meta.url)];
  for (const url of candidates) {
    const bytes = await readBytes(url);
    if (bytes) return WebAssembly.compile(bytes);
  }
  throw new Error(`Kernel module ${name} not found at ${candidates.map(String).join(' or ')}; run \`npm run build:wasm\`.`);
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
