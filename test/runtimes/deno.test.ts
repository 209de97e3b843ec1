// Deno: the example imports the packed package through the consumer project's package.json (the `deno`
// export condition) and generates on two threads, with Web Workers for the pool.
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consumerDir, denoBin, root, run, testModelFolder } from './helpers.js';

test('deno example runs 2 threads', async () => {
  copyFileSync(join(root, 'examples', 'deno', 'main.ts'), join(consumerDir, 'main.ts'));
  const env = { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' };
  const result = await run(denoBin, ['run', '--allow-read', '--allow-env', 'main.ts', testModelFolder(), 'Hello'], { cwd: consumerDir, env, timeoutMs: 120_000 });
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stdout, /\[2 threads, \d+(\.\d+)? tokens\/s\]/);
  assert.match(result.stderr, /dllm-wasm: deno, 2 threads with shared memory/);
});

test('deno type-checks the example', async () => {
  const env = { ...process.env, NO_COLOR: '1', DENO_NO_UPDATE_CHECK: '1' };
  const result = await run(denoBin, ['check', 'main.ts'], { cwd: consumerDir, env, timeoutMs: 120_000 });
  assert.is(result.code, 0, `${result.stdout}\n${result.stderr}`);
});

test.run();
