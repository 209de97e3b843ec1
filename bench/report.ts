// Formatting of a benchmark run: the target checks, the text table printed by `npm run bench`, the
// markdown report and its SVG chart.
import type { ForwardFigure, GenerationFigure, MemoryFigure, ScalingFigure } from './engine-suites.js';
import type { KernelSuiteResult } from './kernels.js';

export interface BenchReport {
  date: string;
  mode: 'quick' | 'full';
  machine: { cpu: string; cores: number; memoryGiB: number; node: string; loadAverage: number[] };
  command: string;
  durationSeconds: number;
  modelWriteSeconds: number;
  kernels: KernelSuiteResult;
  forward: ForwardFigure[];
  generation: GenerationFigure[];
  scaling: ScalingFigure[];
  memory: MemoryFigure[];
  targets: TargetCheck[];
}

export interface TargetCheck {
  target: string;
  /** The measured figure, in the unit of `limit`; null when this run did not measure it. */
  measured: number | null;
  limit: number;
  unit: string;
  /** True when the figure meets the limit; for "at most" limits measured <= limit, else measured >= limit. */
  met: boolean | null;
  atMost: boolean;
}

/** llama.cpp's llama-diffusion-cli -t 2 on the Qwen2.5-0.5B shape, prompt 32 + 128 tokens, 32 steps, measured here. */
export const LLAMA_CPP_SECONDS = { F32: 27.2, Q8_0: 22.2, Q4_0: 16.2 } as const;

function check(target: string, measured: number | null | undefined, limit: number, unit: string, atMost: boolean): TargetCheck {
  const value = measured ?? null;
  let met: boolean | null = null;
  if (value !== null) met = atMost ? value <= limit : value >= limit;
  return { target, measured: value, limit, unit, met, atMost };
}

/** Checks a run against the project's performance targets. */
export function checkTargets(report: BenchReport): TargetCheck[] {
  const full = report.mode === 'full';
  const forwardOf = (block: number, cache: number) =>
    report.forward.find((f) => f.int8 && f.threads === 2 && f.block === block && f.cache === cache && f.model.includes('Q8_0') && (!full || f.model.includes('v151936')));
  const generationQ8 = report.generation.find((g) => g.int8 && g.model.includes('Q8_0'));
  const kernel = (name: string) => report.kernels.figures.find((f) => f.kernel === name && f.threads === 1 && f.n === 32 && f.k === 896 && f.m === 896);
  const scaling = report.scaling[0];
  const block4 = forwardOf(4, 128);
  return [
    check('forward of 32 positions over 128 cached, Q8_0, 2 threads', forwardOf(32, 128)?.medianMs, 150, 'ms', true),
    check('same, stretch', forwardOf(32, 128)?.medianMs, 100, 'ms', true),
    check('end-to-end Q8_0 speed-up over llama-diffusion-cli -t 2 (22.2 s)', generationQ8 && full ? (LLAMA_CPP_SECONDS.Q8_0 * 1000) / generationQ8.totalMs : null, 4, 'x', false),
    check('block of 4 over 128 cached, 2 tokens per forward', block4 ? 2000 / block4.medianMs : null, 62, 'tok/s', false),
    check('2 threads over 1 thread on a forward', scaling?.speedup, 1.8, 'x', false),
    check('time at barriers, share of a forward', scaling ? scaling.barrierWaitFraction * 100 : null, 3, '%', true),
    check('peak RSS / (weights + KV cache)', report.memory.length ? Math.max(...report.memory.map((m) => m.rssRatio)) : null, 1.2, 'x', true),
    check('f32 matmul, 1 thread (90% of native SSE 45)', kernel('f32')?.gops, 40.5, 'GFLOP/s', false),
    check('int8 matmul (q8_0), 1 thread', kernel('q8_0 int8')?.gops, 80, 'GOP/s', false),
  ];
}

const fixed = (value: number, digits = 1) => value.toFixed(digits);

function metLabel(met: boolean | null): string {
  if (met === null) return '-';
  return met ? 'yes' : 'no';
}
const mib = (bytes: number) => `${fixed(bytes / 2 ** 20, 0)} MiB`;

function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c].length)));
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ');
  return [line(cells[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...cells.slice(1).map(line)].join('\n');
}

function markdownTable(header: string[], rows: (string | number)[][]): string {
  return [`| ${header.join(' | ')} |`, `|${header.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
}

interface Section { title: string; header: string[]; rows: (string | number)[][] }

function sections(report: BenchReport): Section[] {
  const kernelRows: (string | number)[][] = [];
  const keys = [...new Set(report.kernels.figures.map((f) => `${f.kernel}|${f.n}|${f.k}|${f.m}`))];
  for (const key of keys) {
    const [kernel, n, k, m] = key.split('|');
    const one = report.kernels.figures.find((f) => `${f.kernel}|${f.n}|${f.k}|${f.m}` === key && f.threads === 1);
    const two = report.kernels.figures.find((f) => `${f.kernel}|${f.n}|${f.k}|${f.m}` === key && f.threads === 2);
    kernelRows.push([kernel, `${n}x${k}x${m}`, one ? fixed(one.gops) : '-', two ? fixed(two.gops) : '-', one && two ? fixed(two.gops / one.gops, 2) : '-']);
  }
  return [
    { title: `Kernels (${report.kernels.build} build), G op/s, median`, header: ['kernel', 'n x k x m', '1 thread', '2 threads', 'ratio'], rows: kernelRows },
    {
      title: 'One forward over the KV cache (logits for every row of the block)',
      header: ['model', 'activations', 'threads', 'block', 'cache', 'median ms', 'min ms'],
      rows: report.forward.map((f) => [f.model, f.int8 ? 'int8' : 'f32', f.threads, f.block, f.cache, fixed(f.medianMs), fixed(f.minMs)]),
    },
    {
      title: 'End-to-end: prompt 32, 128 new tokens, blocks of 32, 32 steps, greedy',
      header: ['model', 'activations', 'threads', 'forwards', 'seconds', 'tok/s', 'llama.cpp s', 'speed-up'],
      rows: report.generation.map((g) => {
        const type = (['F32', 'Q8_0', 'Q4_0'] as const).find((t) => g.model.includes(t));
        const native = type && g.model.includes('v151936') ? LLAMA_CPP_SECONDS[type] : null;
        return [g.model, g.int8 ? 'int8' : 'f32', g.threads, g.forwards, fixed(g.totalMs / 1000, 2), fixed(g.tokensPerSecond),
          native ?? '-', native ? fixed((native * 1000) / g.totalMs, 2) + 'x' : '-'];
      }),
    },
    {
      title: 'Thread scaling: one forward, best of several',
      header: ['model', 'activations', 'block', 'cache', '1 thread ms', '2 threads ms', 'speed-up', 'barrier wait'],
      rows: report.scaling.map((s) => [s.model, s.int8 ? 'int8' : 'f32', s.block, s.cache, fixed(s.oneThreadMs), fixed(s.twoThreadMs), fixed(s.speedup, 2) + 'x', fixed(s.barrierWaitFraction * 100) + '%']),
    },
    {
      title: 'Load time and peak RSS (fresh process, 1 thread, context 1024)',
      header: ['model', 'activations', 'file', 'weights', 'KV cache', 'load s', 'peak RSS', 'process before load', 'RSS / (weights + KV)', 'growth / (weights + KV)'],
      rows: report.memory.map((m) => [m.model, m.int8 ? 'int8' : 'f32', mib(m.fileBytes), mib(m.weightBytes), mib(m.kvCacheBytes), fixed(m.loadMs / 1000, 2),
        mib(m.peakRssBytes), mib(m.baselineRssBytes), fixed(m.rssRatio, 2) + 'x', fixed(m.growthRatio, 2) + 'x']),
    },
    {
      title: 'Targets',
      header: ['target', 'measured', 'limit', 'met'],
      rows: report.targets.map((t) => [t.target, t.measured === null ? 'not measured' : `${fixed(t.measured, 2)} ${t.unit}`,
        `${t.atMost ? '<=' : '>='} ${t.limit} ${t.unit}`, metLabel(t.met)]),
    },
  ];
}

function machineLine(report: BenchReport): string {
  const m = report.machine;
  return `${m.cpu}, ${m.cores} cores, ${m.memoryGiB} GiB, Node ${m.node}, load average ${m.loadAverage.map((v) => v.toFixed(2)).join(' ')} at the end`;
}

/** Formats the plain-text tables printed after a run. */
export function textTable(report: BenchReport): string {
  const parts = [`${report.command} (${report.date}, ${fixed(report.durationSeconds, 0)} s)`, machineLine(report)];
  for (const s of sections(report)) parts.push(`\n${s.title}\n${table(s.header, s.rows)}`);
  return parts.join('\n');
}

/** Formats the markdown report, which links the chart file `svgName`. */
export function markdownReport(report: BenchReport, svgName: string): string {
  const parts = [
    `# Benchmark ${report.date}`,
    '',
    `Command: \`${report.command}\`. Machine: ${machineLine(report)}. Duration ${fixed(report.durationSeconds, 0)} s` +
      (report.modelWriteSeconds > 0 ? `, of which ${fixed(report.modelWriteSeconds, 0)} s writing synthetic models.` : '.'),
    '',
    `![One forward over the KV cache](${svgName})`,
  ];
  for (const s of sections(report)) parts.push('', `## ${s.title}`, '', markdownTable(s.header, s.rows));
  return parts.join('\n') + '\n';
}

/** Draws a grouped bar chart of the forward latencies: one group per block size, one bar per cache size. */
export function svgChart(report: BenchReport): string {
  const figures = report.forward.filter((f) => f.int8 && f.threads === 2 && f.model === report.forward[0]?.model);
  const blocks = [...new Set(figures.map((f) => f.block))].sort((a, b) => a - b);
  const caches = [...new Set(figures.map((f) => f.cache))].sort((a, b) => a - b);
  const width = 640, height = 320, left = 60, bottom = 40, top = 40;
  const plotHeight = height - top - bottom;
  const maxMs = Math.max(1, ...figures.map((f) => f.medianMs));
  const groupWidth = (width - left - 20) / Math.max(1, blocks.length);
  const barWidth = (groupWidth * 0.8) / Math.max(1, caches.length);
  const colours = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759'];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<text x="${left}" y="20" font-size="14">${figures[0]?.model ?? ''}, int8, 2 threads: one forward, median ms</text>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${height - bottom}" stroke="#333"/>`,
    `<line x1="${left}" y1="${height - bottom}" x2="${width - 10}" y2="${height - bottom}" stroke="#333"/>`,
  ];
  for (let tick = 0; tick <= 4; tick++) {
    const value = (maxMs * tick) / 4;
    const y = height - bottom - (plotHeight * tick) / 4;
    parts.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end">${value.toFixed(0)}</text>`);
  }
  blocks.forEach((block, g) => {
    const x0 = left + g * groupWidth + groupWidth * 0.1;
    caches.forEach((cache, c) => {
      const figure = figures.find((f) => f.block === block && f.cache === cache);
      if (!figure) return;
      const h = (plotHeight * figure.medianMs) / maxMs;
      parts.push(`<rect x="${x0 + c * barWidth}" y="${height - bottom - h}" width="${barWidth - 2}" height="${h}" fill="${colours[c % colours.length]}"><title>block ${block}, cache ${cache}: ${figure.medianMs.toFixed(1)} ms</title></rect>`);
    });
    parts.push(`<text x="${x0 + (caches.length * barWidth) / 2}" y="${height - bottom + 16}" text-anchor="middle">block ${block}</text>`);
  });
  caches.forEach((cache, c) => {
    parts.push(`<rect x="${width - 150}" y="${top + c * 16}" width="10" height="10" fill="${colours[c % colours.length]}"/>`);
    parts.push(`<text x="${width - 135}" y="${top + c * 16 + 9}">cache ${cache}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
