// The model that ships in models/sdar-micro: it loads through the ordinary Hugging Face folder path,
// decodes deterministically, and writes text that is not one token repeated.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { embeddedModelPath, loadModel } from '../src/index.js';

const PROMPT = 'Elizabeth walked into the garden, and';
const OPTIONS = { maxTokens: 48, temperature: 0 } as const;

async function greedyTokens(threads: number): Promise<number[]> {
  const model = await loadModel(undefined, { threads });
  try {
    return (await model.generate(PROMPT, OPTIONS).result).tokens;
  } finally {
    await model.dispose();
  }
}

test('embedded model files stay under 16 MB', () => {
  const folder = embeddedModelPath();
  const bytes = readdirSync(folder).reduce((sum, name) => sum + statSync(join(folder, name)).size, 0);
  assert.ok(bytes < 16 * 2 ** 20, `${bytes} bytes`);
});

test('embedded model loads as an SDAR checkpoint', async () => {
  const model = await loadModel(undefined, { threads: 1 });
  try {
    assert.is(model.config.family, 'sdar');
    assert.is(model.config.attention, 'block-causal');
    assert.is(model.config.blockSize, 4);
    assert.ok(model.config.maskTokenId >= 0, 'mask token id');
  } finally {
    await model.dispose();
  }
});

test('greedy output is deterministic across runs and threads', async () => {
  const first = await greedyTokens(1);
  const second = await greedyTokens(1);
  const twoThreads = await greedyTokens(2);
  assert.ok(first.length > 0, 'generated tokens');
  assert.equal(second, first);
  assert.equal(twoThreads, first);
});

test('greedy output is not degenerate', async () => {
  const model = await loadModel(undefined, { threads: 2 });
  try {
    const result = await model.generate(PROMPT, OPTIONS).result;
    const counts = new Map<number, number>();
    for (const id of result.tokens) counts.set(id, (counts.get(id) ?? 0) + 1);
    const mostFrequent = Math.max(...counts.values());
    assert.ok(result.tokens.length >= 16, `only ${result.tokens.length} tokens`);
    assert.ok(counts.size >= 8, `only ${counts.size} distinct tokens in: ${result.text}`);
    assert.ok(mostFrequent <= result.tokens.length / 3, `one token fills ${mostFrequent} of ${result.tokens.length} positions: ${result.text}`);
    assert.match(result.text, /[a-z]+ [a-z]+/i, 'words separated by spaces');
  } finally {
    await model.dispose();
  }
});

test('timer abort stops a long request', async () => {
  const model = await loadModel(undefined, { threads: 2 });
  try {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const generation = model.generate(PROMPT, { maxTokens: 800, signal: controller.signal });
    const error = await generation.result.then(() => null, (reason: Error) => reason);
    assert.ok(error, 'the request rejected');
    assert.is(error!.name, 'AbortError');
    assert.ok(Date.now() - started < 1000, `abort took ${Date.now() - started} ms`);

    // The model stays usable and gives the same output as before the abort.
    const again = await model.generate(PROMPT, OPTIONS).result;
    assert.equal(again.tokens, await greedyTokens(1));
  } finally {
    await model.dispose();
  }
});

test.run();
