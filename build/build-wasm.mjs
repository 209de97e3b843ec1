// Compiles assembly/ into the wasm builds listed in asconfig.json: "shared" (shared memory, SIMD,
// threads) for the worker pool and "single" (plain memory, SIMD) for runtimes without cross-origin
// isolation. The .wasm files land in build/ and are copied to dist/ by build-js.mjs.
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const asc = join(dirname(require.resolve('assemblyscript/package.json')), 'bin', 'asc.js');

for (const target of ['shared', 'single']) {
  execFileSync(process.execPath, [asc, '--config', 'asconfig.json', '--target', target], { cwd: root, stdio: 'inherit' });
}
