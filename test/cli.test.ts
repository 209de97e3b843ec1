// The `dllm` bin as a user runs it: the bundled dist/cli.js (built by `npm test`'s pretest step) in a
// child process, against the fixture models.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = new URL('..', import.meta.url).pathname;
const CLI = join(ROOT, 'dist', 'cli.js');
const fixture = (relative: string) => join(ROOT, 'test', 'fixtures', relative);

function dllm(...args: string[]) {
  return dllmWithInput('', ...args);
}

function dllmWithInput(input: string, ...args: string[]) {
  const run = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', input, timeout: 60_000, maxBuffer: 64 * 2 ** 20 });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

function maxAbsDiff(actual: number[][], expected: number[][]): number {
  assert.is(actual.length, expected.length, 'row count');
  let worst = 0;
  actual.forEach((row, r) => {
    assert.is(row.length, expected[r].length, `row ${r} width`);
    row.forEach((value, i) => { worst = Math.max(worst, Math.abs(value - expected[r][i])); });
  });
  return worst;
}

for (const [model, attention, key] of [
  ['sdar-tiny/sdar-tiny-f32.gguf', 'block:4', 'block_causal'],
  ['sdar-tiny/hf-f32', 'causal', 'causal'],
  ['fastdllm-tiny/hf-f32', 'block:32', 'block_causal'],
] as const) {
  test(`logits ${model} ${attention} reproduce llama.cpp`, () => {
    const reference = JSON.parse(readFileSync(fixture(model.split('/')[0] + '/logits-f32.json'), 'utf8'));
    const run = dllm('logits', '--model', fixture(model), '--tokens', reference.ids.join(','), '--attention', attention, '--threads', '2');
    assert.is(run.code, 0, run.stderr);
    const output = JSON.parse(run.stdout);
    assert.ok(maxAbsDiff(output.logits, reference[key].logits) <= 1e-4);
  });
}

test('logits of a quantised GGUF with full attention', () => {
  const reference = JSON.parse(readFileSync(fixture('small-llada/reference-dequantized-Q4_0.json'), 'utf8'));
  const run = dllm('logits', '--model', fixture('small-llada/small-llada-Q4_0.gguf'), '--tokens', reference.ids.join(','), '--threads', '1');
  assert.is(run.code, 0, run.stderr);
  assert.ok(maxAbsDiff(JSON.parse(run.stdout).logits, reference.logits) <= 1e-4);
});

test('generate prints text and one summary line', () => {
  const run = dllm('generate', '--model', fixture('sdar-tiny/hf-f32'), '--prompt', 'the cat is', '--max-tokens', '10', '--threads', '2');
  assert.is(run.code, 0, run.stderr);
  const summary = run.stderr.trim().split('\n').filter((line) => /forwards \d+/.test(line));
  assert.is(summary.length, 1, `summary lines in: ${run.stderr}`);
  assert.match(summary[0], /tokens\/forward [\d.]+/);
  assert.match(summary[0], /[\d.]+ tokens\/s/);
});

test('generate ends when the model predicts the mask token', () => {
  // The random-weight small-qwen3 model predicts its own mask id at some positions; committing it would
  // leave those positions masked forever. Each flag set runs the same file through a different path.
  for (const extra of [[], ['--int8'], ['--strategy', 'wedlm', '--temperature', '0.8', '--seed', '3']]) {
    const run = dllm('generate', '--model', fixture('small-qwen3/small-qwen3-Q8_0.gguf'), '--prompt', 'the cat', '--max-tokens', '8', ...extra);
    assert.is(run.code, 0, `${extra.join(' ')}: ${run.stderr}`);
    assert.match(run.stderr, /8 tokens, reached --max-tokens/);
  }
});

test('generate is deterministic and thread-independent when greedy', () => {
  const args = ['generate', '--model', fixture('fastdllm-tiny/hf-f32'), '--prompt', 'Name three colors.', '--max-tokens', '24'];
  const one = dllm(...args, '--threads', '1');
  const two = dllm(...args, '--threads', '2');
  assert.is(one.code, 0, one.stderr);
  assert.is(two.code, 0, two.stderr);
  assert.is(one.stdout, two.stdout);
});

test('chat answers every line of stdin', () => {
  const run = dllmWithInput('hello there\nsecond turn\n', 'chat', '--model', fixture('sdar-tiny/hf-f32'), '--max-tokens', '8', '--threads', '1');
  assert.is(run.code, 0, run.stderr);
  const summaries = run.stderr.split('\n').filter((line) => /forwards \d+/.test(line));
  assert.is(summaries.length, 2, `one summary per turn in: ${run.stderr}`);
});

test('token ids must be plain decimal integers', () => {
  for (const tokens of ['0x10', '1e2', '1,,2', '-1']) {
    const run = dllm('logits', '--model', fixture('sdar-tiny/sdar-tiny-f32.gguf'), `--tokens=${tokens}`);
    assert.is(run.code, 1, `--tokens ${tokens}`);
    assert.match(run.stderr, /--tokens entry/);
  }
});

test('truncated model file gives a clear error', () => {
  const dir = mkdtempSync(join(tmpdir(), 'dllm-cli-'));
  const bytes = readFileSync(fixture('sdar-tiny/sdar-tiny-f32.gguf'));
  const truncated = join(dir, 'truncated.gguf');
  writeFileSync(truncated, bytes.subarray(0, 5000));
  const run = dllm('logits', '--model', truncated, '--tokens', '1,2,3');
  rmSync(dir, { recursive: true, force: true });
  assert.is(run.code, 1);
  assert.match(run.stderr, /^dllm: /);
  assert.match(run.stderr, /truncat|past the end|beyond/i);
  assert.not.match(run.stderr, /\n\s+at /, 'no stack trace');
});

test('SIGINT stops generation with exit code 130', async () => {
  const child = spawn(process.execPath, [CLI, 'generate', '--prompt', 'Elizabeth walked into the garden, and', '--max-tokens', '1000', '--threads', '2'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (chunk) => { stderr += chunk; });
  // Interrupt once text is streaming, well before 1000 tokens are done.
  await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
  const sentAt = Date.now();
  child.kill('SIGINT');
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  assert.is(code, 130, stderr);
  assert.match(stderr, /interrupted/);
  assert.not.match(stderr, /forwards \d+/, 'no summary line after an interrupt');
  assert.ok(Date.now() - sentAt < 2000, `exit took ${Date.now() - sentAt} ms`);
});

test('unreachable model URL names the URL', async () => {
  // A port that was just free on loopback: the connection is refused.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  const url = `http://127.0.0.1:${port}/model.gguf`;
  const run = dllm('logits', '--model', url, '--tokens', '1');
  assert.is(run.code, 1);
  assert.ok(run.stderr.includes(url), run.stderr);
  assert.match(run.stderr, /failed/);
  assert.not.match(run.stderr, /\n\s+at /, 'no stack trace');
});

test('missing model path names the path', () => {
  const run = dllm('logits', '--model', '/nonexistent/model.gguf', '--tokens', '1');
  assert.is(run.code, 1);
  assert.match(run.stderr, /\/nonexistent\/model\.gguf/);
});

test('help lists every generate flag', () => {
  const run = dllm('generate', '--help');
  assert.is(run.code, 0);
  for (const flag of ['--model', '--prompt', '--max-tokens', '--block', '--steps', '--threshold', '--temperature', '--top-k', '--top-p', '--seed', '--threads']) {
    assert.ok(run.stdout.includes(flag), `${flag} missing from help`);
  }
});

test.run();
