// A fixed-seed slice of the checkpoint fuzzer, which `npm run fuzz` runs for 10,000 cases. Mutated GGUF
// and safetensors files must load or fail with a typed DllmError. Cases run in child processes with a
// timeout, so a crash or a hang fails the test instead of stopping it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { runFuzz } from '../tools/fuzz/harness.js';
import { buildCase } from '../tools/fuzz/mutate.js';

const SEED = 20240611;
const CASES = 300;

test('same seed builds the same case', () => {
  for (const index of [0, 7, 123]) {
    const a = buildCase(SEED, index);
    const b = buildCase(SEED, index);
    assert.equal(a.mutations, b.mutations);
    assert.equal(a.kind === 'gguf' ? a.bytes : a.files.get('model.safetensors'), b.kind === 'gguf' ? b.bytes : b.files.get('model.safetensors'));
  }
});

test(`${CASES} mutated checkpoints fail only with typed errors`, async () => {
  const report = await runFuzz({ seed: SEED, indices: Array.from({ length: CASES }, (_, i) => i), jobs: 2, timeoutMs: 20_000 });
  const details = report.findings.map((f) => `[${f.kind}] case ${f.index}: ${f.detail}`).join('\n');
  assert.is(report.findings.filter((f) => f.kind === 'crash').length, 0, `crashes:\n${details}`);
  assert.is(report.findings.filter((f) => f.kind === 'hang').length, 0, `hangs:\n${details}`);
  assert.is(report.findings.filter((f) => f.kind === 'untyped').length, 0, `untyped errors:\n${details}`);
  // The mutations must leave some cases loadable, or the engine half of the fuzzer tests nothing.
  assert.ok((report.outcomes.get('load:ok') ?? 0) > CASES / 50, `only ${report.outcomes.get('load:ok') ?? 0} cases loaded`);
});

test.run();
