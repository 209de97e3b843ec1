// Runs every test/*.test.ts file in its own Node process (so that worker pools and wasm memories of
// one file cannot leak into the next), reads uvu's per-file summary, and ends with the plain closing
// line "N passed, N failed" that CI reads. A file that crashes before printing a summary counts as
// one failed test. Pass file names or substrings as arguments to run a subset.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const testDir = dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = readdirSync(testDir)
  .filter((name) => name.endsWith('.test.ts'))
  .filter((name) => filters.length === 0 || filters.some((f) => name.includes(f)))
  .sort();

function runFile(file) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(testDir, file)], {
      cwd: join(testDir, '..'),
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; process.stdout.write(chunk); });
    child.stderr.on('data', (chunk) => { output += chunk; process.stderr.write(chunk); });
    child.on('close', (code) => resolve({ code, output }));
  });
}

let passed = 0;
let failed = 0;
for (const file of files) {
  console.log(`\n# ${file}`);
  const { code, output } = await runFile(file);
  const total = /Total:\s+(\d+)/.exec(output);
  const ok = /Passed:\s+(\d+)/.exec(output);
  const skipped = /Skipped:\s+(\d+)/.exec(output);
  if (!total || !ok) {
    console.log(`# ${file}: no uvu summary (exit code ${code}), counted as 1 failed`);
    failed += 1;
    continue;
  }
  const filePassed = Number(ok[1]);
  const fileFailed = Number(total[1]) - filePassed - Number(skipped ? skipped[1] : 0);
  passed += filePassed;
  failed += fileFailed;
  if (code !== 0 && fileFailed === 0) {
    console.log(`# ${file}: exit code ${code} after its tests, counted as 1 failed`);
    failed += 1;
  }
}

console.log(`\n${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
