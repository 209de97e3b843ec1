// Runs uvu test files, each in its own Node process (so that worker pools and wasm memories of one file
// cannot leak into the next), and adds up uvu's per-file summaries. Shared by `npm test` (test/run.mjs)
// and `npm run test:runtimes` (test/runtimes/run.mjs), which both end with "N passed, N failed".
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Lists the *.test.ts files of `dir`, keeping those whose name contains one of `filters` (all when empty). */
export function listTestFiles(dir, filters) {
  return readdirSync(dir)
    .filter((name) => name.endsWith('.test.ts'))
    .filter((name) => filters.length === 0 || filters.some((filter) => name.includes(filter)))
    .sort();
}

function runFile(path, cwd) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path], {
      cwd,
      env: { ...process.env, FORCE_COLOR: '0', NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => { output += chunk; process.stdout.write(chunk); });
    child.stderr.on('data', (chunk) => { output += chunk; process.stderr.write(chunk); });
    child.on('close', (code) => resolve({ code, output }));
  });
}

/**
 * Runs `files` of `dir` one after another and returns the summed counts. A file that exits without a uvu
 * summary counts as one failed test, and so does a file that exits non-zero after passing its tests.
 */
export async function runTestFiles(dir, files, cwd) {
  let passed = 0;
  let failed = 0;
  for (const file of files) {
    console.log(`\n# ${file}`);
    const started = Date.now();
    const { code, output } = await runFile(join(dir, file), cwd);
    console.log(`# ${file}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
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
  return { passed, failed };
}
