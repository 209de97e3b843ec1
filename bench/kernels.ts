// Kernel suite: GFLOP/s (f32 activations) or GOP/s (int8 activations) of every matmul kernel on the
// matrix shapes of the Qwen2.5-0.5B layers, on 1 thread and on 2. With 2, a worker computes half of the
// output columns while this thread computes the other half, as the forward program splits them. A
// figure counts 2*n*k*m operations per call and uses tinybench's median latency.
import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import { Bench } from 'tinybench';
import { f32ToF16 } from '../src/formats/quant.js';
import { chooseKernelBuild } from '../src/runtime/kernel-build.js';
import {
  instantiateKernels, packF32Panels, packedF32Length, packQ4_0x4, packQ8_0x4, q4Order, x4Bytes, type KernelExports,
} from '../src/runtime/kernels.js';
import { sliceOf } from '../src/runtime/program.js';

export interface KernelFigure {
  kernel: string;
  n: number;
  k: number;
  m: number;
  threads: number;
  medianMs: number;
  /** 1e9 operations (multiply and add counted separately) per second. */
  gops: number;
}

export interface KernelSuiteResult {
  build: string;
  figures: KernelFigure[];
  /** quantise_rows of the activations, per shape (n, k): microseconds per call. */
  quantiseMicros: { n: number; k: number; micros: number }[];
}

const JOB_BYTES = 256;

/** Bump allocator over the benchmark memory, 64-byte aligned. */
class Arena {
  offset = 1024 + JOB_BYTES;
  constructor(private readonly memory: WebAssembly.Memory) {}
  take(bytes: number): number {
    const at = this.offset;
    this.offset = Math.ceil((at + bytes) / 64) * 64;
    if (this.offset > this.memory.buffer.byteLength) throw new RangeError(`benchmark memory full at ${this.offset} bytes`);
    return at;
  }
  fill(bytes: number, write: (view: Uint8Array) => void): number {
    const at = this.take(bytes);
    write(new Uint8Array(this.memory.buffer, at, bytes));
    return at;
  }
}

/** Deterministic filler: bytes of a 32-bit LCG. */
function randomBytes(view: Uint8Array, seed: number): void {
  let state = seed >>> 0;
  for (let i = 0; i < view.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    view[i] = state >>> 24;
  }
}

/** GGUF-style blocks (f16 scale, then quants) of an [m,k] matrix with scale 2^-10. */
function ggufBlocks(m: number, k: number, blockBytes: number, seed: number): Uint8Array {
  const bytes = new Uint8Array((m * k / 32) * blockBytes);
  randomBytes(bytes, seed);
  for (let b = 0; b < m * k / 32; b++) {
    bytes[b * blockBytes] = 0x00;
    bytes[b * blockBytes + 1] = 0x14; // f16 2^-10
  }
  return bytes;
}

/** Runs kernel calls on this thread and, for 2 threads, on one worker at the same time. */
class TwoThreads {
  private readonly slots: Int32Array;
  private readonly args: Float64Array;
  private readonly worker: Worker;
  private readonly names: string[];

  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, private readonly kernels: KernelExports) {
    this.names = WebAssembly.Module.exports(module).filter((e) => e.kind === 'function').map((e) => e.name);
    this.slots = new Int32Array(memory.buffer, 1024, 16);
    this.args = new Float64Array(memory.buffer, 1024 + 64, 24);
    this.worker = new Worker(new URL('./kernel-worker.mjs', import.meta.url), { workerData: { module, memory, jobs: 1024, names: this.names } });
  }

  /** Resolves once the worker has instantiated the kernels and waits for calls. */
  async ready(): Promise<void> {
    await once(this.worker, 'message');
  }

  /** Calls `name` with `own` here and `other` on the worker, and returns when both have finished. */
  call(name: keyof KernelExports, own: number[], other: number[] | null): void {
    if (other) {
      const finished = Atomics.load(this.slots, 1);
      this.args.set(other);
      this.slots[2] = this.names.indexOf(name);
      this.slots[3] = other.length;
      Atomics.add(this.slots, 0, 1);
      Atomics.notify(this.slots, 0);
      (this.kernels[name] as (...a: number[]) => void)(...own);
      while (Atomics.load(this.slots, 1) === finished) Atomics.wait(this.slots, 1, finished, 50);
    } else {
      (this.kernels[name] as (...a: number[]) => void)(...own);
    }
  }

  async close(): Promise<void> {
    Atomics.store(this.slots, 4, 1);
    Atomics.add(this.slots, 0, 1);
    Atomics.notify(this.slots, 0);
    await this.worker.terminate();
  }
}

interface Shape { n: number; k: number; m: number }

export async function runKernelSuite(options: { quick: boolean }): Promise<KernelSuiteResult> {
  const shapes: Shape[] = options.quick
    ? [{ n: 32, k: 896, m: 896 }]
    : [{ n: 32, k: 896, m: 896 }, { n: 32, k: 896, m: 4864 }, { n: 32, k: 4864, m: 896 }, { n: 4, k: 896, m: 4864 }];
  const choice = await chooseKernelBuild(true);
  const memory = new WebAssembly.Memory({ initial: 4096, maximum: 4096, shared: true } as WebAssembly.MemoryDescriptor);
  const kernels = instantiateKernels(choice.module, memory);
  const threads = new TwoThreads(choice.module, memory, kernels);
  await threads.ready();
  // The baseline build's f32 and Q4_0 int8 matmuls on one thread, for the ratios of the relaxed kernels.
  const baseline = choice.build === 'relaxed' ? instantiateKernels((await chooseKernelBuild(true, 'baseline', () => {})).module, memory) : null;
  const figures: KernelFigure[] = [];
  const quantiseMicros: KernelSuiteResult['quantiseMicros'] = [];
  const time = options.quick ? 150 : 300;

  try {
    for (const { n, k, m } of shapes) {
      const arena = new Arena(memory);
      const x = arena.take(n * k * 4);
      new Float32Array(memory.buffer, x, n * k).forEach((_, i, a) => { a[i] = Math.sin(i * 0.37); });
      const y = arena.take(n * m * 4);
      const xq = arena.take(n * k * 2), xq8 = arena.take(n * k), xScales = arena.take(n * k / 8), xSums = arena.take(n * k / 8);
      kernels.quantise_rows(xq, xq8, xScales, xSums, x, n, k, 0, k);

      const f32 = arena.take(packedF32Length(m, k) * 4);
      const values = new Float32Array(m * k).map((_, i) => Math.cos(i) * 0.05);
      packF32Panels(new Float32Array(memory.buffer, f32, packedF32Length(m, k)), values, m, k);
      const q8 = arena.fill(m * k, (v) => randomBytes(v, 1));
      const q4 = arena.fill(m * k / 2, (v) => randomBytes(v, 2));
      const rowScales = arena.take(m * k / 8);
      new Float32Array(memory.buffer, rowScales, m * k / 32).fill(2 ** -10);
      // Normal numbers only: subnormal inputs take a slow path in the CPU and would measure that instead.
      const bits = new Uint32Array(values.buffer);
      const bf16 = arena.fill(m * k * 2, (v) => new Uint16Array(v.buffer, v.byteOffset, m * k).set(bits.map((b) => b >>> 16)));
      const f16 = arena.fill(m * k * 2, (v) => new Uint16Array(v.buffer, v.byteOffset, m * k).set(Array.from(values, (value) => f32ToF16(Math.sign(value) * (0.01 + Math.abs(value))))));
      const q8x4Size = x4Bytes('q8_0', m, k), q4x4Size = x4Bytes('q4_0', m, k);
      const q8x4 = arena.take(q8x4Size.data), q8x4Scales = arena.take(q8x4Size.scales);
      packQ8_0x4(new Uint8Array(memory.buffer, q8x4, q8x4Size.data), new Float32Array(memory.buffer, q8x4Scales, q8x4Size.scales / 4), ggufBlocks(m, k, 34, 4), m, k);
      const q4x4 = arena.take(q4x4Size.data), q4x4Scales = arena.take(q4x4Size.scales);
      const q4Blocks = ggufBlocks(m, k, 18, 5);
      packQ4_0x4(new Uint8Array(memory.buffer, q4x4, q4x4Size.data), new Float32Array(memory.buffer, q4x4Scales, q4x4Size.scales / 4), q4Blocks, m, k, q4Order(kernels));
      // The same weights in the baseline build's byte order.
      const q4x4Baseline = baseline ? arena.take(q4x4Size.data) : 0;
      if (baseline) packQ4_0x4(new Uint8Array(memory.buffer, q4x4Baseline, q4x4Size.data), new Float32Array(memory.buffer, q4x4Scales, q4x4Size.scales / 4), q4Blocks, m, k, q4Order(baseline));

      // Arguments of each kernel for output columns [first, end).
      const calls: Record<string, { name: keyof KernelExports; args: (first: number, end: number) => number[] }> = {
        'f32': { name: 'matmul_f32', args: (f, e) => [y, x, f32, 0, n, k, m, 0, f, e] },
        'q8_0 (f32 activations)': { name: 'matmul_q8_0', args: (f, e) => [y, x, q8, rowScales, 0, n, k, m, 0, f, e] },
        'q4_0 (f32 activations)': { name: 'matmul_q4_0', args: (f, e) => [y, x, q4, rowScales, 0, n, k, m, 0, f, e] },
        'q8_0 int8': { name: 'matmul_q8_0_int8', args: (f, e) => [y, xq, xScales, xSums, q8x4, q8x4Scales, 0, n, k, m, 0, f, e] },
        'q4_0 int8': { name: 'matmul_q4_0_int8', args: (f, e) => [y, xq, xq8, xScales, xSums, q4x4, q4x4Scales, 0, n, k, m, 0, f, e] },
        'bf16': { name: 'matmul_bf16', args: (f, e) => [y, x, bf16, 0, n, k, m, 0, f, e] },
        'f16': { name: 'matmul_f16', args: (f, e) => [y, x, f16, 0, n, k, m, 0, f, e] },
      };
      const selected = options.quick ? ['f32', 'q8_0 (f32 activations)', 'q8_0 int8', 'q4_0 int8'] : Object.keys(calls);

      const bench = new Bench({ time, warmupTime: 50, iterations: 5 });
      const ids: { kernel: string; threadCount: number }[] = [];
      for (const kernel of selected) {
        const { name, args } = calls[kernel];
        for (const threadCount of [1, 2]) {
          const [f0, e0] = sliceOf(m, 8, 0, threadCount);
          const [f1, e1] = sliceOf(m, 8, 1, threadCount);
          ids.push({ kernel, threadCount });
          bench.add(`${kernel} ${threadCount}`, () => threads.call(name, args(f0, e0), threadCount === 2 && f1 < e1 ? args(f1, e1) : null));
        }
      }
      if (baseline) {
        ids.push({ kernel: 'f32 (baseline build)', threadCount: 1 });
        bench.add('f32 baseline 1', () => baseline.matmul_f32(y, x, f32, 0, n, k, m, 0, 0, m));
        ids.push({ kernel: 'q4_0 int8 (baseline build)', threadCount: 1 });
        bench.add('q4_0 int8 baseline 1', () => baseline.matmul_q4_0_int8(y, xq, xq8, xScales, xSums, q4x4Baseline, q4x4Scales, 0, n, k, m, 0, 0, m));
      }
      bench.add('quantise', () => kernels.quantise_rows(xq, xq8, xScales, xSums, x, n, k, 0, k));
      await bench.run();

      bench.tasks.forEach((task, i) => {
        const result = task.result;
        if (result.state !== 'completed') throw new Error(`kernel benchmark ${task.name} did not complete: ${result.state}`);
        const median = result.latency.p50 ?? result.latency.mean;
        if (i === ids.length) {
          quantiseMicros.push({ n, k, micros: median * 1000 });
          return;
        }
        const { kernel, threadCount } = ids[i];
        figures.push({ kernel, n, k, m, threads: threadCount, medianMs: median, gops: (2 * n * k * m) / (median * 1e6) });
      });
    }
  } finally {
    await threads.close();
  }
  return { build: choice.build, figures, quantiseMicros };
}
