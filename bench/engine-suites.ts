// Engine suites over synthetic models: one forward of a block against a KV cache, end-to-end
// generation, thread scaling with the time spent at barriers, and (in a child process each) load
// time and peak RSS.
import { execFileSync } from 'node:child_process';
import { Bench } from 'tinybench';
import { Model } from '../src/model.js';
import { openCheckpoint } from '../src/models/load-checkpoint.js';
import type { Checkpoint } from '../src/models/types.js';
import { WasmEngine } from '../src/runtime/engine.js';
import { BARRIER_WAIT_OFFSET } from '../src/runtime/layout.js';
import type { SynthModel } from './models.js';

const silent = () => {};

/**
 * Opens a synthetic model as a block-causal diffusion model with blocks of `blockLength`: the qwen2/qwen3
 * body of the file, decoded as SDAR and Fast-dLLM v2 decode (exact prefix KV cache, block by block).
 */
export async function openAsBlockDiffusion(model: SynthModel, blockLength = 32): Promise<Checkpoint> {
  const checkpoint = await openCheckpoint(model.path);
  checkpoint.config = { ...checkpoint.config, family: 'sdar', attention: 'block-causal', blockSize: blockLength, shiftLogits: false };
  return checkpoint;
}

async function loadEngine(model: SynthModel, threads: number, int8: boolean, contextLength = 1024): Promise<WasmEngine> {
  const checkpoint = await openAsBlockDiffusion(model);
  try {
    return await WasmEngine.load(checkpoint, { threads, int8, contextLength, maxRows: 256, log: silent });
  } finally {
    await checkpoint.close();
  }
}

/** Milliseconds every thread has waited at barriers so far, read from the control block. */
function barrierWaits(engine: WasmEngine): number[] {
  // The engine keeps its memory private; the benchmark reads the per-thread counters the program keeps there.
  const memory = (engine as unknown as { memory: WebAssembly.Memory }).memory;
  return Array.from(new Float64Array(memory.buffer, BARRIER_WAIT_OFFSET, engine.threads));
}

/** Fills cache positions [0, length) with K/V of arbitrary tokens, 128 per forward. */
async function fillCache(engine: WasmEngine, length: number): Promise<void> {
  const vocab = engine.config.vocab;
  for (let start = 0; start < length; start += 128) {
    const tokens = Int32Array.from({ length: Math.min(128, length - start) }, (_, i) => (start + i) * 7919 % (vocab - 1));
    await engine.forward({ tokens, start, attention: 'causal', logitRows: new Int32Array(0) });
  }
}

export interface ForwardFigure {
  model: string;
  int8: boolean;
  threads: number;
  block: number;
  cache: number;
  logitRows: number;
  medianMs: number;
  minMs: number;
}

/**
 * Times one forward of `block` masked positions at cache index `cache` for each block and cache size:
 * keys [0, cache + block), full attention inside the block, logits for every row of the block.
 */
export async function runForwardSuite(
  model: SynthModel, options: { threads: number; int8: boolean; blocks: number[]; caches: number[]; time: number },
): Promise<ForwardFigure[]> {
  const engine = await loadEngine(model, options.threads, options.int8);
  const figures: ForwardFigure[] = [];
  try {
    await fillCache(engine, Math.max(...options.caches));
    const bench = new Bench({ time: options.time, iterations: 4, warmupIterations: 1, warmupTime: 0 });
    const cases: { block: number; cache: number }[] = [];
    for (const cache of options.caches) {
      for (const block of options.blocks) {
        const tokens = new Int32Array(block).fill(model.shape.vocab - 1);
        const logitRows = Int32Array.from({ length: block }, (_, i) => i);
        cases.push({ block, cache });
        bench.add(`block ${block} cache ${cache}`, async () => {
          await engine.forward({ tokens, start: cache, attention: 'block-causal', blockSize: block, logitRows });
        });
      }
    }
    await bench.run();
    bench.tasks.forEach((task, i) => {
      const result = task.result;
      if (result.state !== 'completed') throw new Error(`forward benchmark ${task.name} did not complete: ${result.state}`);
      figures.push({
        model: model.label, int8: options.int8, threads: options.threads, ...cases[i], logitRows: cases[i].block,
        medianMs: result.latency.p50 ?? result.latency.mean, minMs: result.latency.min,
      });
    });
  } finally {
    await engine.dispose();
  }
  return figures;
}

export interface GenerationFigure {
  model: string;
  int8: boolean;
  threads: number;
  promptTokens: number;
  generatedTokens: number;
  forwards: number;
  totalMs: number;
  tokensPerSecond: number;
}

/** Prompt of 32 tokens, 128 new tokens in blocks of 32, 32 refinement steps in all, greedy. */
export async function runGeneration(model: SynthModel, options: { threads: number; int8: boolean }): Promise<GenerationFigure> {
  const checkpoint = await openAsBlockDiffusion(model, 32);
  const engine = await WasmEngine.load(checkpoint, { threads: options.threads, int8: options.int8, contextLength: 1024, maxRows: 256, log: silent });
  await checkpoint.close();
  const generator = new Model(engine, null, engine.config);
  try {
    const prompt = Array.from({ length: 32 }, (_, i) => (i * 7919) % (model.shape.vocab - 1));
    const settings = { strategy: 'sdar' as const, maxTokens: 128, blockLength: 32, steps: 32, threshold: null, temperature: 0 };
    const started = performance.now();
    const result = await generator.generate(prompt, settings).result;
    const totalMs = performance.now() - started;
    return {
      model: model.label, int8: options.int8, threads: options.threads,
      promptTokens: prompt.length, generatedTokens: result.stats.generatedTokens, forwards: result.stats.forwards,
      totalMs, tokensPerSecond: result.stats.generatedTokens / (totalMs / 1000),
    };
  } finally {
    await generator.dispose();
  }
}

export interface ScalingFigure {
  model: string;
  int8: boolean;
  block: number;
  cache: number;
  oneThreadMs: number;
  twoThreadMs: number;
  speedup: number;
  /** Mean over the 2 threads of the time spent waiting at barriers, as a fraction of the forward time. */
  barrierWaitFraction: number;
}

/**
 * Times a forward of `block` over `cache` on 1 and on 2 threads (best of `repeats`), and the barrier wait
 * share on 2. Both engines stay loaded and their forwards alternate, so that a burst of load from other
 * processes on the machine slows both sides rather than one.
 */
export async function runScaling(model: SynthModel, options: { int8: boolean; block: number; cache: number; repeats: number }): Promise<ScalingFigure> {
  const engines = [await loadEngine(model, 1, options.int8), await loadEngine(model, 2, options.int8)];
  const best = [Infinity, Infinity];
  let waitFraction = 0;
  try {
    const tokens = new Int32Array(options.block).fill(model.shape.vocab - 1);
    const logitRows = Int32Array.from({ length: options.block }, (_, i) => i);
    const request = { tokens, start: options.cache, attention: 'block-causal' as const, blockSize: options.block, logitRows };
    for (const engine of engines) {
      await fillCache(engine, options.cache);
      await engine.forward(request);
    }
    for (let i = 0; i < options.repeats; i++) {
      for (const [index, engine] of engines.entries()) {
        const before = barrierWaits(engine);
        const started = performance.now();
        await engine.forward(request);
        const elapsed = performance.now() - started;
        if (elapsed >= best[index]) continue;
        best[index] = elapsed;
        if (index === 1) {
          const after = barrierWaits(engine);
          waitFraction = after.reduce((sum, value, t) => sum + value - before[t], 0) / after.length / elapsed;
        }
      }
    }
  } finally {
    for (const engine of engines) await engine.dispose();
  }
  return {
    model: model.label, int8: options.int8, block: options.block, cache: options.cache,
    oneThreadMs: best[0], twoThreadMs: best[1], speedup: best[0] / best[1], barrierWaitFraction: waitFraction,
  };
}

export interface MemoryFigure {
  model: string;
  int8: boolean;
  fileBytes: number;
  weightBytes: number;
  kvCacheBytes: number;
  loadMs: number;
  peakRssBytes: number;
  /** RSS of the Node process with the engine imported, before the model is opened. */
  baselineRssBytes: number;
  /** Peak RSS / (weight bytes + KV cache bytes). */
  rssRatio: number;
  /** (Peak RSS - RSS before the model was opened) / (weight bytes + KV cache bytes). */
  growthRatio: number;
}

let childBundle: string | null = null;

/**
 * Bundles load-child.ts into build/.bench/ with esbuild, once per run, so that the child runs on plain
 * Node: under tsx the process would start about 35 MiB larger, all of it the TypeScript loader's.
 */
async function loadChildBundle(): Promise<string> {
  if (childBundle) return childBundle;
  const { build } = await import('esbuild');
  const outfile = new URL('../build/.bench/load-child.mjs', import.meta.url).pathname;
  await build({
    entryPoints: [new URL('./load-child.ts', import.meta.url).pathname],
    bundle: true, platform: 'node', format: 'esm', outfile, logLevel: 'warning',
    // Bundled CommonJS dependencies call require, which an ES module has to create.
    banner: { js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);" },
  });
  childBundle = outfile;
  return outfile;
}

/** Loads the model in a fresh Node process, runs one forward, and reports its load time and peak RSS. */
export async function runMemory(model: SynthModel, options: { int8: boolean; contextLength: number }): Promise<MemoryFigure> {
  const child = await loadChildBundle();
  const output = execFileSync(process.execPath, [child, model.path, String(options.int8), String(options.contextLength)], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'],
  });
  const measured = JSON.parse(output) as { weightBytes: number; kvCacheBytes: number; loadMs: number; peakRssBytes: number; baselineRssBytes: number };
  return {
    model: model.label, int8: options.int8, fileBytes: model.fileBytes, ...measured,
    rssRatio: measured.peakRssBytes / (measured.weightBytes + measured.kvCacheBytes),
    growthRatio: (measured.peakRssBytes - measured.baselineRssBytes) / (measured.weightBytes + measured.kvCacheBytes),
  };
}
