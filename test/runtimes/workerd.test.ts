// Cloudflare Workers: the example Worker, bundled with the `workerd` export condition from the packed
// package, runs in workerd (the runtime behind Workers) and answers a request on 127.0.0.1.
import { spawn } from 'node:child_process';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { consumerDir, freePort, root, run, testModelFolder, workerdBin } from './helpers.js';

// The memory limit of one Workers isolate.
const ISOLATE_LIMIT_BYTES = 128 * 2 ** 20;

test('workerd serves a generation', async () => {
  const example = join(consumerDir, 'cloudflare');
  cpSync(join(root, 'examples', 'cloudflare'), example, { recursive: true, filter: (path) => !path.includes('/out') });
  const built = await run(process.execPath, ['build.mjs', testModelFolder()], { cwd: example });
  assert.is(built.code, 0, built.stderr);

  const port = await freePort();
  const server = spawn(workerdBin, ['serve', 'workerd.capnp', '--socket-addr', `http=127.0.0.1:${port}`], { cwd: example, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  server.stdout.on('data', (chunk) => { log += chunk; });
  server.stderr.on('data', (chunk) => { log += chunk; });
  try {
    let response: Response | null = null;
    for (let attempt = 0; attempt < 100 && !response; attempt++) {
      response = await fetch(`http://127.0.0.1:${port}/?prompt=Hello&max_tokens=16`).catch(() => null);
      if (!response) await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.ok(response, `workerd did not answer on port ${port}:\n${log}`);
    assert.is(response.status, 200, `${await response.clone().text()}\n${log}`);
    const body = await response.json() as { text: string; tokens: number; threads: number; wasmMemoryBytes: number };
    assert.is(body.threads, 1);
    assert.ok(body.tokens > 0, `no tokens generated: ${JSON.stringify(body)}`);
    assert.ok(body.wasmMemoryBytes < ISOLATE_LIMIT_BYTES / 2, `wasm memory ${body.wasmMemoryBytes} bytes`);
    assert.match(log, /dllm-wasm: workerd, 1 thread/);
  } finally {
    server.kill();
  }
});

test.run();
