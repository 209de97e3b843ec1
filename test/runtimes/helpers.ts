// Shared by the runtime tests: paths, the model they load, child processes with a deadline, free ports.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const testDir = dirname(fileURLToPath(import.meta.url));
export const root = join(testDir, '..', '..');
/** The project created by run.mjs that installs the packed package, as a user's project would. */
export const consumerDir = join(testDir, '.work', 'consumer');
export const denoBin = join(testDir, 'node_modules', '.bin', 'deno');
export const workerdBin = join(testDir, 'node_modules', '.bin', 'workerd');
export const artifactsDir = join(root, 'test', 'artifacts');

/**
 * The Hugging Face folder the tests load: the embedded model once models/sdar-micro has its weights,
 * else the small random-weight fixture (whose generated text is noise, so tests check shapes, not words).
 */
export function testModelFolder(): string {
  const embedded = join(root, 'models', 'sdar-micro');
  return existsSync(join(embedded, 'model.safetensors')) ? embedded : join(root, 'test', 'fixtures', 'sdar-tiny', 'hf-f32');
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, killing it after `timeoutMs`. */
export function run(command: string, args: string[], options: { cwd?: string; timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd ?? root, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => { stdout += chunk; });
    child.stderr.on('data', (chunk) => { stderr += chunk; });
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Returns a TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
