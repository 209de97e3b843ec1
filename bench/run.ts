// `npm run bench`: kernels, one forward over the KV cache, end-to-end generation, thread scaling, load
// time and peak RSS, on synthetic models of the Qwen2.5-0.5B shape (and the SDAR-1.7B shape for the
// memory check). Prints a table and writes bench/results/<date>.json, .md and .svg.
//
//   npm run bench                 the full run; the synthetic models are written on first use
//   npm run bench -- --quick      a smoke run on the 267-token vocabulary model, under a minute
//   npm run bench -- --json       one JSON document with every figure on stdout, no files
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { runForwardSuite, runGeneration, runMemory, runScaling, type ForwardFigure, type GenerationFigure, type MemoryFigure, type ScalingFigure } from './engine-suites.js';
import { runKernelSuite, type KernelSuiteResult } from './kernels.js';
import { synthModel, type SynthModel } from './models.js';
import { checkTargets, markdownReport, svgChart, textTable, type BenchReport } from './report.js';

const argv = process.argv.slice(2);
const json = argv.includes('--json');
const quick = argv.includes('--quick');
for (const flag of argv) {
  if (!['--json', '--quick'].includes(flag)) throw new Error(`unknown option ${flag}; expected --json and/or --quick`);
}

/** Progress goes to stderr, so that --json leaves stdout to the JSON document. */
const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);

const startedAt = new Date();
const started = performance.now();

progress('writing or reusing synthetic models');
const small = synthModel('qwen2.5-0.5b', 'Q8_0', 267);
const models: Record<string, SynthModel> = { small };
if (!quick) {
  models.q8 = synthModel('qwen2.5-0.5b', 'Q8_0');
  models.q4 = synthModel('qwen2.5-0.5b', 'Q4_0');
  models.f32 = synthModel('qwen2.5-0.5b', 'F32');
  models.sdar = synthModel('sdar-1.7b', 'Q8_0');
}
const modelWriteSeconds = Object.values(models).reduce((sum, m) => sum + m.writeSeconds, 0);

progress('kernels');
const kernels: KernelSuiteResult = await runKernelSuite({ quick });

progress('forward of a block over the KV cache');
const forward: ForwardFigure[] = [];
const main = quick ? small : models.q8;
forward.push(...await runForwardSuite(main, {
  threads: 2, int8: true, blocks: quick ? [4, 32] : [4, 8, 16, 32], caches: quick ? [128] : [0, 128, 512], time: quick ? 200 : 600,
}));
if (!quick) {
  // The same forward with exact f32 activations, with the small vocabulary, and in Q4_0, for the ratios.
  forward.push(...await runForwardSuite(models.q8, { threads: 2, int8: false, blocks: [4, 32], caches: [128], time: 600 }));
  forward.push(...await runForwardSuite(small, { threads: 2, int8: true, blocks: [4, 32], caches: [128], time: 400 }));
  forward.push(...await runForwardSuite(models.q4, { threads: 2, int8: true, blocks: [4, 32], caches: [128], time: 400 }));
}

progress('end-to-end generation');
const generation: GenerationFigure[] = [];
if (quick) {
  generation.push(await runGeneration(small, { threads: 2, int8: true }));
} else {
  generation.push(await runGeneration(models.q8, { threads: 2, int8: true }));
  generation.push(await runGeneration(models.q8, { threads: 2, int8: false }));
  generation.push(await runGeneration(models.q4, { threads: 2, int8: true }));
  generation.push(await runGeneration(models.f32, { threads: 2, int8: false }));
}

progress('thread scaling');
const scaling: ScalingFigure[] = [];
scaling.push(await runScaling(main, { int8: true, block: 32, cache: 128, repeats: quick ? 3 : 6 }));
if (!quick) scaling.push(await runScaling(models.f32, { int8: false, block: 32, cache: 128, repeats: 4 }));

progress('load time and peak RSS');
const memory: MemoryFigure[] = [];
memory.push(await runMemory(main, { int8: true, contextLength: 1024 }));
if (!quick) {
  memory.push(await runMemory(models.q4, { int8: true, contextLength: 1024 }));
  memory.push(await runMemory(models.f32, { int8: false, contextLength: 1024 }));
  memory.push(await runMemory(models.sdar, { int8: true, contextLength: 1024 }));
}

const report: BenchReport = {
  date: startedAt.toISOString(),
  mode: quick ? 'quick' : 'full',
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    loadAverage: (await import('node:os')).loadavg(),
  },
  command: `npm run bench${quick ? ' -- --quick' : ''}`,
  durationSeconds: (performance.now() - started) / 1000,
  modelWriteSeconds,
  kernels,
  forward,
  generation,
  scaling,
  memory,
  targets: [],
};
report.targets = checkTargets(report);

if (json) {
  process.stdout.write(JSON.stringify(report, null, 2) + '\n');
} else {
  const folder = new URL('./results/', import.meta.url).pathname;
  mkdirSync(folder, { recursive: true });
  const stem = join(folder, startedAt.toISOString().slice(0, 19).replace(/:/g, '-') + (quick ? '-quick' : ''));
  writeFileSync(`${stem}.json`, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(`${stem}.svg`, svgChart(report));
  writeFileSync(`${stem}.md`, markdownReport(report, `${stem.split('/').pop()}.svg`));
  console.log(textTable(report));
  console.log(`\nwrote ${stem}.json, .md and .svg`);
}
