// `npm run test:runtimes`: checks that the package runs in Node worker threads, Deno, Cloudflare's
// workerd and headless Chromium. Steps:
//   1. builds the wasm kernels (when stale) and the bundles, as `npm test` does;
//   2. installs the runtimes listed in test/runtimes/package.json (deno, workerd; about 240 MB, so not
//      dependencies of the package itself) unless they are installed already;
//   3. packs the package with `npm pack` and installs the tarball into .work/consumer, so that the
//      examples import dllm-wasm the way a user's project does, through package.json `exports`;
//   4. runs each test/runtimes/*.test.ts in its own process and ends with "N passed, N failed".
// Chromium is not installed here: on Debian, `apt-get install -y chromium` (.ci/run does).
// Pass file names or substrings as arguments to run a subset.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listTestFiles, runTestFiles } from '../uvu-files.mjs';

const testDir = dirname(fileURLToPath(import.meta.url));
const root = join(testDir, '..', '..');
const work = join(testDir, '.work');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const quiet = ['--no-audit', '--no-fund', '--loglevel=error'];

function step(title, run) {
  const started = Date.now();
  run();
  console.log(`# ${title}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

step('build', () => {
  execFileSync(process.execPath, ['build/build-wasm.mjs', '--if-stale'], { cwd: root, stdio: 'inherit' });
  execFileSync(process.execPath, ['build/build-js.mjs'], { cwd: root, stdio: 'inherit' });
});

step('runtimes', () => {
  const installed = ['deno', 'workerd'].every((name) => existsSync(join(testDir, 'node_modules', '.bin', name)));
  if (!installed) execFileSync(npm, ['ci', ...quiet], { cwd: testDir, stdio: 'inherit' });
});

step('packed install', () => {
  rmSync(work, { recursive: true, force: true });
  const consumer = join(work, 'consumer');
  mkdirSync(consumer, { recursive: true });
  const packed = JSON.parse(execFileSync(npm, ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root, encoding: 'utf8' }));
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({
    name: 'dllm-wasm-consumer',
    private: true,
    type: 'module',
    dependencies: { 'dllm-wasm': `file:../${packed[0].filename}` },
  }, null, 2));
  execFileSync(npm, ['install', ...quiet, '--ignore-scripts'], { cwd: consumer, stdio: 'inherit' });
});

const files = listTestFiles(testDir, process.argv.slice(2));
const { passed, failed } = await runTestFiles(testDir, files, root);

console.log(`\n${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
