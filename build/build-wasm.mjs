// Compiles assembly/ into the wasm builds listed in asconfig.json: "shared" (shared memory, SIMD,
// threads) for the worker pool and "single" (plain memory, SIMD) for one thread and runtimes without
// cross-origin isolation, each also as a "-relaxed" twin with relaxed SIMD that
// src/runtime/kernel-build.ts chooses at start-up where the runtime supports it. The .wasm files land in build/ and are copied to dist/ by build-js.mjs. With --if-stale,
// a build whose .wasm is newer than every source file is skipped (used before `npm test`).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const asc = join(dirname(require.resolve('assemblyscript/package.json')), 'bin', 'asc.js');
const targets = {
  shared: 'build/dllm-shared.wasm',
  'shared-relaxed': 'build/dllm-shared-relaxed.wasm',
  single: 'build/dllm-single.wasm',
  'single-relaxed': 'build/dllm-single-relaxed.wasm',
};

function newestSourceTime() {
  const sources = readdirSync(join(root, 'assembly')).map((name) => join(root, 'assembly', name));
  sources.push(join(root, 'asconfig.json'));
  return Math.max(...sources.map((path) => statSync(path).mtimeMs));
}

const ifStale = process.argv.includes('--if-stale');
const sourceTime = ifStale ? newestSourceTime() : Infinity;
for (const [target, outFile] of Object.entries(targets)) {
  const out = join(root, outFile);
  if (ifStale && existsSync(out) && statSync(out).mtimeMs > sourceTime) continue;
  execFileSync(process.execPath, [asc, '--config', 'asconfig.json', '--target', target], { cwd: root, stdio: 'inherit' });
}
