// `npm test`: runs every test/*.test.ts file with uvu, each in its own process, and ends with the plain
// closing line "N passed, N failed" that CI reads. Pass file names or substrings as arguments to run a
// subset.
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { listTestFiles, runTestFiles } from './uvu-files.mjs';

const testDir = dirname(fileURLToPath(import.meta.url));
const files = listTestFiles(testDir, process.argv.slice(2));
const { passed, failed } = await runTestFiles(testDir, files, join(testDir, '..'));

console.log(`\n${passed} passed, ${failed} failed`);
process.exitCode = failed > 0 || passed === 0 ? 1 : 0;
