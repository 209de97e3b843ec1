// `npm run fuzz`: mutates the fixture checkpoints and checks that every case loads, or fails with a typed
// DllmError, within the timeout. Exits with status 1 on any crash, hang or untyped error.
//
//   npm run fuzz -- [--cases N] [--seed S] [--jobs J] [--timeout MS] [--only INDEX,...]

import { parseArgs } from 'node:util';
import { runFuzz } from './harness.js';

const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '10000' },
    seed: { type: 'string', default: '1' },
    jobs: { type: 'string', default: '2' },
    timeout: { type: 'string', default: '20000' },
    only: { type: 'string' },
  },
});

const seed = Number(values.seed);
const indices = values.only
  ? values.only.split(',').map(Number)
  : Array.from({ length: Number(values.cases) }, (_, i) => i);
console.log(`fuzzing ${indices.length} cases, seed ${seed}, ${values.jobs} jobs, timeout ${values.timeout} ms per case`);

const started = performance.now();
let lastPrint = 0;
const report = await runFuzz({
  seed,
  indices,
  jobs: Number(values.jobs),
  timeoutMs: Number(values.timeout),
  onProgress: (done, total) => {
    if (performance.now() - lastPrint > 10_000 || done === total) {
      lastPrint = performance.now();
      console.log(`  ${done}/${total} cases, ${((performance.now() - started) / 1000).toFixed(0)} s`);
    }
  },
});

console.log('\noutcomes (stage:result -> cases):');
for (const [key, n] of [...report.outcomes].sort((a, b) => b[1] - a[1])) console.log(`  ${key.padEnd(40)} ${n}`);

const byKind = (kind: string) => report.findings.filter((f) => f.kind === kind).length;
console.log(`\n${report.cases} cases: ${byKind('crash')} crashes, ${byKind('hang')} hangs, ${byKind('untyped')} untyped errors`);
for (const finding of report.findings.slice(0, 50)) console.log(`\n[${finding.kind}] case ${finding.index}\n  ${finding.detail}`);
process.exitCode = report.findings.length > 0 ? 1 : 0;
