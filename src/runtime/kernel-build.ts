// Choosing and compiling the kernel build. dllm-shared.wasm (shared memory, for the worker pool) and
// dllm-single.wasm (plain memory, for one thread and runtimes without cross-origin isolation) use SIMD;
// each has a -relaxed twin that also uses relaxed SIMD (f32 multiply-add, and the int8 dot product of the
// Q4_0 int8 matmul). A relaxed build runs when the runtime validates it and it passes a small exactness
// self-test; otherwise the baseline build does. Both memory kinds make the same choice, so 1 and N threads
// compute the same logits. The choice is logged once per process.
//
// Node 20 (V8 11.3) compiles relaxed SIMD only behind --experimental-wasm-relaxed-simd, which this
// module sets through node:v8 before validating. Its V8 computes i32x4.relaxed_dot_i8x16_i7x16_add_s
// wrongly: twice the dot product, without the accumulator (measured with Node 20.20). No kernel uses it.
// The Q4_0 kernel uses i16x8.relaxed_dot_i8x16_i7x16_s, which was exact there, and the self-test checks it.
import { defaultLog } from './platform.js';

/** Kernel build variant, for either memory kind. */
export type KernelBuild = 'relaxed' | 'baseline';

/** `auto` picks 'relaxed' where it validates and passes the self-test, else 'baseline'. */
export type KernelBuildRequest = KernelBuild | 'auto';

/** Returns the wasm file name of a build for shared or plain memory. */
export function kernelBuildFileName(shared: boolean, build: KernelBuild): string {
  return `dllm-${shared ? 'shared' : 'single'}${build === 'relaxed' ? '-relaxed' : ''}.wasm`;
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
 * Reads a build's bytes, beside this file first (the bundle in dist/), then in build/ (running from src/
 * with tsx). Throws naming both paths when neither exists.
 */
export async function readKernelBytes(shared: boolean, build: KernelBuild): Promise<Uint8Array<ArrayBuffer>> {
  const name = kernelBuildFileName(shared, build);
  const candidates = [new URL(`./${name}`, import.meta.url), new URL(`../../build/${name}`, import.meta.url)];
  for (const url of candidates) {
    const bytes = await readBytes(url);
    if (bytes) return bytes;
  }
  throw new Error(`Kernel module ${name} not found at ${candidates.map(String).join(' or ')}; run \`npm run build:wasm\`.`);
}

let nodeFlagSet = false;

/** Validates relaxed-SIMD bytes, enabling V8's flag first on Node versions that still need it. */
async function validateRelaxed(bytes: Uint8Array<ArrayBuffer>): Promise<boolean> {
  if (WebAssembly.validate(bytes)) return true;
  const isNode = typeof process !== 'undefined' && typeof process.versions?.node === 'string';
  if (!isNode || nodeFlagSet) return false;
  nodeFlagSet = true;
  const v8 = await import('node:v8');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(bytes);
}

/**
 * Runs matmul_f32 and matmul_q4_0_int8 of the relaxed build on small integers, whose products and sums are
 * exact in f32, so a fused and an unfused multiply-add give the same result. Returns the first mismatch,
 * or null.
 */
function selfTest(module: WebAssembly.Module, shared: boolean): string | null {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared } as WebAssembly.MemoryDescriptor);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  return selfTestF32(instance, memory) ?? selfTestQ4(instance, memory);
}

function selfTestF32(instance: WebAssembly.Instance, memory: WebAssembly.Memory): string | null {
  const matmul = instance.exports.matmul_f32 as (...args: number[]) => void;
  const n = 5, k = 19, m = 8;
  const view = new Float32Array(memory.buffer);
  const w = 1024 / 4, x = w + m * k, y = x + n * k;
  // Packed panel: W[j][kk] at w + kk*8 + j.
  for (let kk = 0; kk < k; kk++) for (let j = 0; j < m; j++) view[w + kk * 8 + j] = ((kk * 7 + j * 3) % 11) - 5;
  for (let i = 0; i < n * k; i++) view[x + i] = ((i * 5) % 13) - 6;
  matmul(y * 4, x * 4, w * 4, 0, n, k, m, 0, 0, m);
  for (let r = 0; r < n; r++) {
    for (let j = 0; j < m; j++) {
      let want = 0;
      for (let kk = 0; kk < k; kk++) want += view[x + r * k + kk] * view[w + kk * 8 + j];
      if (view[y + r * m + j] !== want) return `matmul_f32 row ${r} column ${j} is ${view[y + r * m + j]}, expected ${want}`;
    }
  }
  return null;
}

/**
 * Multiplies 4 rows of integer activations by 8 outputs of Q4_0 nibbles with scale 1, laid out in the quad
 * order by hand. Each row's largest magnitude is 127, so quantise_rows keeps the values exactly. Output 0
 * uses nibble 15 throughout, the largest weight (the 16-bit limit itself is tested in test/int8.test.ts).
 */
function selfTestQ4(instance: WebAssembly.Instance, memory: WebAssembly.Memory): string | null {
  const order = instance.exports.q4_0x4_order as () => number;
  if (order() !== 1) return null;
  const quantise = instance.exports.quantise_rows as (...args: number[]) => void;
  const matmul = instance.exports.matmul_q4_0_int8 as (...args: number[]) => void;
  const n = 4, k = 32, m = 8;
  const at = { x: 1024, xq: 2048, xq8: 2560, scales: 2816, sums: 2880, w: 3072, wScales: 3328, y: 3456 };
  const x = new Float32Array(memory.buffer, at.x, n * k);
  for (let i = 0; i < n * k; i++) x[i] = ((i * 37) % 255) - 127;
  for (let r = 0; r < n; r++) x[r * k] = r % 2 === 0 ? 127 : -127;
  const nibble = (o: number, e: number) => (o === 0 ? 15 : (o * 7 + e * 5) % 16);
  const bytes = new Uint8Array(memory.buffer, at.w, 2 * 64);
  for (let o = 0; o < m; o++) {
    for (let e = 0; e < 16; e++) {
      const g = o >> 2, j = o & 3, q = e >> 2, t = e & 3;
      bytes[g * 64 + q * 16 + 4 * j + t] = nibble(o, e) | (nibble(o, e + 16) << 4);
    }
  }
  new Float32Array(memory.buffer, at.wScales, m).fill(1);
  quantise(at.xq, at.xq8, at.scales, at.sums, at.x, n, k, 0, k);
  matmul(at.y, at.xq, at.xq8, at.scales, at.sums, at.w, at.wScales, 0, n, k, m, 0, 0, m);
  const y = new Float32Array(memory.buffer, at.y, n * m);
  for (let r = 0; r < n; r++) {
    for (let o = 0; o < m; o++) {
      let want = 0;
      for (let e = 0; e < k; e++) want += (nibble(o, e) - 8) * x[r * k + e];
      if (y[r * m + o] !== want) return `matmul_q4_0_int8 row ${r} output ${o} is ${y[r * m + o]}, expected ${want}`;
    }
  }
  return null;
}

export interface KernelChoice {
  build: KernelBuild;
  module: WebAssembly.Module;
  /** One line naming the build and why, as logged. */
  description: string;
}

const cache = new Map<string, Promise<KernelChoice>>();
const logged = new Set<string>();

/**
 * Compiles the kernel build for shared (worker pool) or plain memory. With `request` 'auto' it tries the
 * relaxed build and falls back to the baseline. A named build is compiled as requested, and 'relaxed'
 * throws where it cannot run. Results are cached per request, and each description is logged once.
 */
export function chooseKernelBuild(
  shared: boolean, request: KernelBuildRequest = 'auto', log: (message: string) => void = defaultLog,
): Promise<KernelChoice> {
  const key = `${shared} ${request}`;
  let choice = cache.get(key);
  if (!choice) {
    choice = compileChoice(shared, request);
    cache.set(key, choice);
    // A failed compile is not cached, so a later call can retry after `npm run build:wasm`.
    choice.catch(() => cache.delete(key));
  }
  return choice.then((result) => {
    if (!logged.has(result.description)) {
      logged.add(result.description);
      log(result.description);
    }
    return result;
  });
}

async function compileChoice(shared: boolean, request: KernelBuildRequest): Promise<KernelChoice> {
  const memoryKind = shared ? 'shared memory' : 'plain memory';
  if (request === 'baseline') {
    const module = await WebAssembly.compile(await readKernelBytes(shared, 'baseline'));
    return { build: 'baseline', module, description: `dllm-wasm: kernels ${kernelBuildFileName(shared, 'baseline')} (SIMD, ${memoryKind}).` };
  }
  const bytes = await readKernelBytes(shared, 'relaxed');
  let reason: string | null = null;
  let module: WebAssembly.Module | null = null;
  if (!(await validateRelaxed(bytes))) {
    reason = 'this runtime does not support relaxed SIMD';
  } else {
    module = await WebAssembly.compile(bytes);
    const mismatch = selfTest(module, shared);
    if (mismatch) reason = `its self-test failed (${mismatch})`;
  }
  const relaxedName = kernelBuildFileName(shared, 'relaxed');
  if (module && !reason) {
    return { build: 'relaxed', module, description: `dllm-wasm: kernels ${relaxedName} (relaxed SIMD multiply-add, ${memoryKind}).` };
  }
  if (request === 'relaxed') throw new Error(`The kernel build ${relaxedName} cannot run: ${reason}.`);
  const baselineName = kernelBuildFileName(shared, 'baseline');
  const baseline = await WebAssembly.compile(await readKernelBytes(shared, 'baseline'));
  return { build: 'baseline', module: baseline, description: `dllm-wasm: kernels ${baselineName} (SIMD, ${memoryKind}); ${relaxedName} not used: ${reason}.` };
}
