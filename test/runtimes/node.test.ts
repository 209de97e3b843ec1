// Node: the packed package imported inside a worker_threads worker (whose model starts its own compute
// workers), the `dllm` bin, and the files that package.json `exports` points at.
import { copyFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consumerDir, root, run, testModelFolder } from './helpers.js';

const installed = join(consumerDir, 'node_modules', 'dllm-wasm');

test('worker_threads example runs 2 threads', async () => {
  copyFileSync(join(root, 'examples', 'node', 'worker-thread.mjs'), join(consumerDir, 'worker-thread.mjs'));
  const result = await run(process.execPath, ['worker-thread.mjs', testModelFolder(), 'Hello'], { cwd: consumerDir, timeoutMs: 120_000 });
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stdout, /\[2 threads, \d+(\.\d+)? tokens\/s\]/);
  assert.match(result.stderr, /dllm-wasm: node, 2 threads with shared memory/);
});

test('dllm bin generates from the install', async () => {
  const bin = join(consumerDir, 'node_modules', '.bin', 'dllm');
  const args = ['generate', '--model', testModelFolder(), '--prompt', 'Hello', '--max-tokens', '8', '--threads', '2'];
  const result = await run(bin, args, { cwd: consumerDir, timeoutMs: 120_000 });
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stderr, /forwards \d+/);
});

test('exports resolve per condition', async () => {
  const script = `console.log(JSON.stringify({ node: import.meta.resolve('dllm-wasm'), browser: import.meta.resolve('dllm-wasm/browser') }))`;
  const result = await run(process.execPath, ['--input-type=module', '-e', script], { cwd: consumerDir });
  assert.is(result.code, 0, result.stderr);
  const resolved = JSON.parse(result.stdout) as { node: string; browser: string };
  assert.ok(resolved.node.endsWith('/node_modules/dllm-wasm/dist/index.js'), resolved.node);
  assert.ok(resolved.browser.endsWith('/node_modules/dllm-wasm/dist/browser/index.js'), resolved.browser);
});

test('package ships bundles, wasm and types', () => {
  const expected = [
    'dist/index.js', 'dist/worker.js', 'dist/cli.js', 'dist/dllm-shared.wasm', 'dist/dllm-single.wasm',
    'dist/browser/index.js', 'dist/browser/worker.js', 'dist/browser/coordinator.js',
    'dist/browser/dllm-shared.wasm', 'dist/browser/dllm-single.wasm',
    'dist/types/index.d.ts', 'dist/types/browser.d.ts',
    'models/sdar-micro/config.json', 'models/sdar-micro/tokenizer.json',
  ];
  for (const file of expected) assert.ok(existsSync(join(installed, file)), `${file} is missing from the packed package`);
});

test.run();
