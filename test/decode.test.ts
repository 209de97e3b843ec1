// Decoding loops, schedules and the Model API, over the deterministic mock engine in test/reference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { linearSchedule, selectCommits, commitByThreshold, commitTopK, stepsForBlock } from '../src/decode/schedule.js';
import { Model, type GenerateEvent, type GenerateOptions, type StepEvent, type TokenizerLike } from '../src/model.js';
import type { ModelConfig } from '../src/models/types.js';
import { MASK_ID, MockEngine, STOP_ID, VOCAB, mockConfig, mockLogitsRows } from './reference/mock-engine.js';
import { referenceBlockDiffusion, referenceFullCanvas } from './reference/reference-loop.js';

const PROMPTS = [[5], [1, 2, 3], [4, 5, 6, 7], [9, 8, 7, 6, 5, 4, 3, 2, 1]];

const SDAR = mockConfig({ family: 'sdar', blockSize: 4 });
const FAST_DLLM = mockConfig({ family: 'fast-dllm-v2', blockSize: 8, shiftLogits: true });
const LLADA = mockConfig({ family: 'llada', attention: 'full', blockSize: 0 });
const DREAM = mockConfig({ family: 'dream', attention: 'full', blockSize: 0, shiftLogits: true });

/** Runs a request to completion and returns its step events and result. */
async function run(model: Model, prompt: number[], options: GenerateOptions) {
  const generation = model.generate(prompt, options);
  const steps: StepEvent[] = [];
  for await (const event of generation) if (event.type === 'step') steps.push(event);
  return { steps, result: await generation.result };
}

/** Returns the config without stop tokens, so that every run reaches maxTokens. */
function noStop(config: ModelConfig): ModelConfig {
  return { ...config, stopTokenIds: [] };
}

// ---------------------------------------------------------------------------------------------------
// Schedule and commit rules

test('linearSchedule splits with the remainder first', () => {
  assert.equal(Array.from(linearSchedule(10, 4)), [3, 3, 2, 2]);
  assert.equal(Array.from(linearSchedule(32, 8)), [4, 4, 4, 4, 4, 4, 4, 4]);
  assert.equal(Array.from(linearSchedule(7, 1)), [7]);
  // More steps than masks: steps that would commit nothing are dropped.
  assert.equal(Array.from(linearSchedule(3, 5)), [1, 1, 1]);
});

test('stepsForBlock spreads total steps', () => {
  assert.equal([0, 1, 2, 3].map((b) => stepsForBlock(32, b, 4)), [8, 8, 8, 8]);
  assert.equal([0, 1, 2].map((b) => stepsForBlock(10, b, 3)), [4, 3, 3]);
  assert.equal([0, 1, 2].map((b) => stepsForBlock(2, b, 3)), [1, 1, 1]);
});

test('threshold commits all above tau', () => {
  assert.equal(commitByThreshold([0.95, 0.2, 0.91, 0.9, 0.89], 5, 0.9), [0, 2, 3]);
});

test('threshold commits at least one', () => {
  assert.equal(commitByThreshold([0.3, 0.5, 0.1], 3, 0.9), [1]);
  // Ties go to the lower index.
  assert.equal(commitByThreshold([0.4, 0.6, 0.6], 3, 0.9), [1]);
});

test('top-k and combined rule', () => {
  assert.equal(commitTopK([0.1, 0.7, 0.3, 0.9], 4, 2), [1, 3]);
  // The schedule's count when few pass the threshold, all that pass when more do.
  assert.equal(selectCommits([0.1, 0.95, 0.3, 0.2], 4, 2, 0.9), [1, 2]);
  assert.equal(selectCommits([0.96, 0.95, 0.93, 0.2], 4, 2, 0.9), [0, 1, 2]);
  assert.equal(commitTopK([0.5, 0.4], 2, 5), [0, 1]);
});

// ---------------------------------------------------------------------------------------------------
// Greedy loops against the reference

const TRAJECTORY_CASES: { name: string; config: ModelConfig; blockLength: number; maxTokens: number; threshold: number | null; stepsPerBlock: number | null }[] = [
  { name: 'sdar threshold', config: SDAR, blockLength: 4, maxTokens: 16, threshold: 0.5, stepsPerBlock: null },
  { name: 'sdar one per step', config: SDAR, blockLength: 4, maxTokens: 13, threshold: null, stepsPerBlock: 4 },
  { name: 'sdar dynamic', config: SDAR, blockLength: 4, maxTokens: 11, threshold: 0.6, stepsPerBlock: 2 },
  { name: 'sdar other block', config: SDAR, blockLength: 8, maxTokens: 19, threshold: 0.7, stepsPerBlock: null },
  { name: 'fast-dllm threshold', config: FAST_DLLM, blockLength: 8, maxTokens: 21, threshold: 0.6, stepsPerBlock: null },
  { name: 'fast-dllm steps', config: FAST_DLLM, blockLength: 8, maxTokens: 16, threshold: null, stepsPerBlock: 3 },
];

for (const c of TRAJECTORY_CASES) {
  test(`greedy equals reference: ${c.name}`, async () => {
    for (const stopIds of [[], [STOP_ID]]) {
      const config = { ...c.config, stopTokenIds: stopIds };
      for (const prompt of PROMPTS) {
        const model = new Model(new MockEngine(config), null);
        const strategy = config.family === 'sdar' ? 'sdar' : 'llada2';
        const options = { strategy, maxTokens: c.maxTokens, blockLength: c.blockLength, threshold: c.threshold, stepsPerBlock: c.stepsPerBlock ?? undefined } as const;
        const { result } = await run(model, prompt, options);
        const expected = await referenceBlockDiffusion(config, prompt, c);
        const label = `prompt ${prompt.length}, stop ids [${stopIds}]`;
        assert.equal(result.tokens, expected.tokens, label);
        assert.is(result.stopReason, expected.stopped ? 'stop' : 'length', label);
      }
    }
  });
}

test('greedy equals reference: llada and dream blocks', async () => {
  for (const config of [LLADA, DREAM]) {
    for (const prompt of PROMPTS) {
      const model = new Model(new MockEngine(config), null);
      const { result } = await run(model, prompt, { strategy: 'llada', maxTokens: 12, blockLength: 5, steps: 6 });
      const expected = await referenceFullCanvas(config, prompt, { maxTokens: 12, blockLength: 5, steps: 6, schedule: 'linear', score: 'raw', sampling: { temperature: 0 } });
      assert.equal(result.tokens, expected.tokens, `${config.family} prompt ${prompt.length}`);
    }
  }
});

test('steps spread over blocks', async () => {
  // 16 tokens in blocks of 4 from a block-aligned prompt: 8 total steps are 2 per block.
  const config = noStop(SDAR);
  const a = await run(new Model(new MockEngine(config), null), [1, 2, 3, 4], { maxTokens: 16, steps: 8, threshold: null });
  const b = await run(new Model(new MockEngine(config), null), [1, 2, 3, 4], { maxTokens: 16, stepsPerBlock: 2, threshold: null });
  assert.equal(a.result.tokens, b.result.tokens);
  assert.is(a.steps.filter((s) => s.kind === 'refine').length, 8);
});

// ---------------------------------------------------------------------------------------------------
// Block loop invariants

test('block loop commits only masked positions', async () => {
  for (const config of [noStop(SDAR), noStop(FAST_DLLM)]) {
    for (const prompt of PROMPTS) {
      const engine = new MockEngine(config);
      const { steps, result } = await run(new Model(engine, null), prompt, { maxTokens: 14, threshold: 0.7 });
      const seen = new Set<number>();
      let previous: Int32Array = new Int32Array(14).fill(MASK_ID);
      for (const step of steps) {
        for (const index of step.committed) {
          assert.ok(!seen.has(index), `canvas index ${index} committed twice`);
          assert.is(previous[index], MASK_ID, `canvas index ${index} was not masked`);
          seen.add(index);
        }
        for (let i = 0; i < 14; i++) {
          if (!step.committed.includes(i)) assert.is(step.canvas[i], previous[i], `canvas index ${i} changed without a commit`);
        }
        previous = step.canvas;
      }
      assert.is(seen.size, 14);
      assert.is(result.tokens.length, 14);

      // No forward ever rewrites a prompt position or goes past the sequence.
      for (const call of engine.calls) {
        for (let i = 0; i < call.tokens.length; i++) {
          const position = call.start + i;
          if (position < prompt.length) assert.is(call.tokens[i], prompt[position]);
        }
        assert.ok(call.start + call.tokens.length <= prompt.length + 14);
      }
    }
  }
});

test('finished block stored once with final tokens', async () => {
  for (const config of [noStop(SDAR), noStop(FAST_DLLM)]) {
    const B = config.blockSize;
    const prompt = [1, 2, 3];
    const maxTokens = 4 * B - 2;
    const engine = new MockEngine(config);
    const { steps, result } = await run(new Model(engine, null), prompt, { maxTokens, threshold: 0.8 });
    const sequence = [...prompt, ...result.tokens];

    // The sequence has 4B + 1 positions. Block 4 holds one position and is last, so its K/V is not stored.
    for (const blockStart of [0, B, 2 * B, 3 * B]) {
      const covering = engine.calls.filter((call) => call.start <= blockStart && call.start + call.tokens.length >= blockStart + B);
      const final = covering.filter((call) => {
        const offset = blockStart - call.start;
        return Array.from(call.tokens.slice(offset, offset + B)).every((id, i) => id === sequence[blockStart + i]);
      });
      assert.is(final.length, 1, `forwards of the final block at ${blockStart}`);
      const store = final[0];
      assert.is(store, covering[covering.length - 1], `the store is the last forward of the block at ${blockStart}`);
      const kind = steps[engine.calls.indexOf(store)].kind;
      if (config.shiftLogits) {
        // A separate store forward whose last row predicts the next block's first position.
        assert.is(kind, 'cache');
        assert.is(store.start, blockStart);
        assert.equal(store.logitRows, [B - 1]);
      } else {
        // Fused with the next block's first refinement: one forward over both blocks.
        assert.is(kind, 'refine');
        assert.is(store.start, blockStart);
        assert.is(store.tokens.length, Math.min(2 * B, sequence.length - blockStart));
        assert.ok(store.logitRows.every((row) => row >= B), 'logit rows only in the next block');
      }
    }
  }
});

test('stop token truncates and ends generation', async () => {
  const B = SDAR.blockSize;
  const prompt = [1, 2, 3, 4, 5];
  const stopPosition = prompt.length + 6;  // inside block 2 (positions 8..11)
  const boost = (q: number) => (q === stopPosition ? STOP_ID : -1);
  const engine = new MockEngine(SDAR, { boost });
  const { steps, result } = await run(new Model(engine, null), prompt, { maxTokens: 40 });
  assert.is(result.stopReason, 'stop');
  assert.is(result.tokens.length, 6);
  assert.ok(!result.tokens.includes(STOP_ID));
  const last = engine.calls[engine.calls.length - 1];
  assert.is(last.start, 2 * B, 'no forward after the stop block');
  assert.is(steps[steps.length - 1].kind, 'refine', 'the stop block is not stored');
  assert.ok(engine.calls.every((call) => call.start <= 2 * B));
});

test('stop token in a shifted family', async () => {
  const prompt = [1, 2, 3];
  const stopPosition = 8;  // first position of block 1, predicted by the last row of block 0
  const boost = (q: number) => (q === stopPosition - 1 ? STOP_ID : -1);
  const engine = new MockEngine(FAST_DLLM, { boost });
  const { result } = await run(new Model(engine, null), prompt, { maxTokens: 30 });
  assert.is(result.stopReason, 'stop');
  assert.is(result.tokens.length, stopPosition - prompt.length);
  assert.ok(engine.calls.every((call) => call.start === 0), 'block 1 is never forwarded');
});

test('maxTokens not a multiple of B', async () => {
  for (const config of [noStop(SDAR), noStop(FAST_DLLM), noStop(LLADA), noStop(DREAM)]) {
    for (const maxTokens of [1, 3, 5, 9, 13]) {
      const prompt = [1, 2, 3];
      const engine = new MockEngine(config);
      const { result } = await run(new Model(engine, null), prompt, { maxTokens });
      assert.is(result.tokens.length, maxTokens, `${config.family} maxTokens ${maxTokens}`);
      assert.is(result.stopReason, 'length');
      assert.ok(engine.calls.every((call) => call.start + call.tokens.length <= prompt.length + maxTokens));
    }
  }
});

test('prefill covers full prompt blocks', async () => {
  const engine = new MockEngine(noStop(SDAR));
  const prompt = Array.from({ length: 150 }, (_, i) => i % 20);
  const { steps } = await run(new Model(engine, null), prompt, { maxTokens: 4 });
  const prefill = engine.calls.filter((_, i) => steps[i].kind === 'prefill');
  // 150 tokens = 37 full blocks of 4 = 148 positions, in chunks of 128.
  assert.equal(prefill.map((call) => [call.start, call.tokens.length]), [[0, 128], [128, 20]]);
  assert.ok(prefill.every((call) => call.logitRows.length === 0 && call.attention === 'block-causal'));
  assert.is(engine.calls[prefill.length].start, 148);
});

test('shifted logits request previous rows', async () => {
  const config = noStop(FAST_DLLM);
  const B = config.blockSize;
  for (const prompt of [[1, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8]]) {
    const engine = new MockEngine(config);
    const { steps } = await run(new Model(engine, null), prompt, { maxTokens: 20, threshold: 0.9 });
    let canvasBefore: Int32Array = new Int32Array(20).fill(MASK_ID);
    engine.calls.forEach((call, i) => {
      const step = steps[i];
      if (step.kind === 'refine') {
        const masked: number[] = [];
        for (let p = Math.max(call.start, prompt.length); p < call.start + call.tokens.length; p++) {
          if (canvasBefore[p - prompt.length] === MASK_ID) masked.push(p);
        }
        assert.equal(call.logitRows, masked.map((p) => p - 1 - call.start));
      } else if (step.kind === 'prefill' && prompt.length % B === 0) {
        // The last prompt row predicts the first generated position.
        assert.equal(call.logitRows, [call.tokens.length - 1]);
        assert.equal(step.committed, [0]);
      } else if (step.kind === 'cache') {
        assert.equal(call.logitRows, [B - 1]);
        assert.equal(step.committed, [call.start + B - prompt.length]);
      }
      canvasBefore = step.canvas;
    });
  }
});

test('full canvas recomputes from start 0', async () => {
  const engine = new MockEngine(noStop(DREAM));
  const prompt = [1, 2, 3];
  const { steps } = await run(new Model(engine, null), prompt, { strategy: 'fast-dllm', cache: 'none', maxTokens: 10, blockLength: 4, threshold: 0.9 });
  assert.ok(engine.calls.every((call) => call.start === 0 && call.tokens.length === 13 && call.attention === 'full'));
  for (let i = 0; i < engine.calls.length; i++) {
    // Rows are the masked positions of the current block, shifted by one.
    const block = steps[i].block;
    const before = i === 0 ? new Int32Array(10).fill(MASK_ID) : steps[i - 1].canvas;
    const masked: number[] = [];
    for (let c = block * 4; c < Math.min(block * 4 + 4, 10); c++) if (before[c] === MASK_ID) masked.push(prompt.length + c - 1);
    assert.equal(engine.calls[i].logitRows, masked);
  }
});

// ---------------------------------------------------------------------------------------------------
// Model API: abort, queueing, validation, text

test('abort rejects and model stays usable', async () => {
  const config = noStop(SDAR);
  const model = new Model(new MockEngine(config), null);
  const controller = new AbortController();
  let seen = 0;
  const generation = model.generate([1, 2, 3], {
    maxTokens: 32,
    threshold: 1,
    signal: controller.signal,
    onStep: () => { if (++seen === 2) controller.abort(); },
  });
  try {
    await generation.result;
    assert.unreachable('generation should have been aborted');
  } catch (error) {
    assert.is((error as Error).name, 'AbortError');
  }
  assert.is(seen, 2, 'no forward after the abort');

  // Iterating the aborted request throws the same error.
  let iterationError: unknown = null;
  try {
    for await (const _ of generation) { /* drain */ }
  } catch (error) {
    iterationError = error;
  }
  assert.is((iterationError as Error).name, 'AbortError');

  const after = await model.generate([1, 2, 3], { maxTokens: 12 }).result;
  const fresh = await new Model(new MockEngine(config), null).generate([1, 2, 3], { maxTokens: 12 }).result;
  assert.equal(after.tokens, fresh.tokens);
});

test('abort before start rejects', async () => {
  const controller = new AbortController();
  controller.abort();
  const engine = new MockEngine(SDAR);
  const generation = new Model(engine, null).generate([1, 2], { signal: controller.signal });
  try {
    await generation.result;
    assert.unreachable('generation should have been aborted');
  } catch (error) {
    assert.is((error as Error).name, 'AbortError');
  }
  assert.is(engine.calls.length, 0);
});

test('concurrent requests are serialised', async () => {
  const config = noStop(FAST_DLLM);
  const engine = new MockEngine(config, { delayMs: 1 });
  const model = new Model(engine, null);
  const order: string[] = [];
  const a = model.generate([1, 2, 3], { maxTokens: 10, onStep: () => order.push('a') });
  const b = model.generate([4, 5, 6, 7, 8, 9, 1, 2, 3], { maxTokens: 10, onStep: () => order.push('b') });
  const logits = model.logits([1, 2, 3, 4, 5]);
  const [ra, rb] = await Promise.all([a.result, b.result, logits]);

  // MockEngine throws if two forwards overlap; the events show that b started after a ended.
  const firstB = order.indexOf('b');
  assert.ok(firstB > 0 && order.slice(firstB).every((tag) => tag === 'b'), order.join(''));
  const aloneA = await new Model(new MockEngine(config), null).generate([1, 2, 3], { maxTokens: 10 }).result;
  const aloneB = await new Model(new MockEngine(config), null).generate([4, 5, 6, 7, 8, 9, 1, 2, 3], { maxTokens: 10 }).result;
  assert.equal(ra.tokens, aloneA.tokens);
  assert.equal(rb.tokens, aloneB.tokens);
});

test('invalid options throw ConfigError', async () => {
  const model = new Model(new MockEngine(SDAR), null);
  const cases: [GenerateOptions, string][] = [
    [{ steps: 0 }, 'steps'],
    [{ stepsPerBlock: 0 }, 'stepsPerBlock'],
    [{ threshold: 0 }, 'threshold'],
    [{ threshold: 1.5 }, 'threshold'],
    [{ blockLength: 0 }, 'blockLength'],
    [{ maxTokens: 0 }, 'maxTokens'],
    [{ maxTokens: 2.5 }, 'maxTokens'],
    [{ temperature: -1 }, 'temperature'],
    [{ topP: 0 }, 'topP'],
    [{ topK: -2 }, 'topK'],
    [{ steps: 4, stepsPerBlock: 2 }, 'stepsPerBlock'],
  ];
  for (const [options, name] of cases) {
    try {
      await model.generate([1, 2], options).result;
      assert.unreachable(`${JSON.stringify(options)} should be rejected`);
    } catch (error) {
      assert.is((error as Error).name, 'ConfigError', JSON.stringify(options));
      assert.match((error as Error).message, name);
    }
  }
});

test('prompt longer than context overflows', async () => {
  const model = new Model(new MockEngine(SDAR, { contextLength: 16 }), null);
  for (const [prompt, maxTokens] of [[20, 1], [10, 8]]) {
    try {
      await model.generate(new Array(prompt).fill(1), { maxTokens }).result;
      assert.unreachable('should overflow');
    } catch (error) {
      assert.is((error as Error).name, 'ContextOverflowError');
    }
  }
  const ok = await model.generate(new Array(10).fill(1), { maxTokens: 6 }).result;
  assert.ok(ok.tokens.length <= 6);
});

test('causal model without mask is rejected', async () => {
  const config = mockConfig({ family: 'qwen3', attention: 'causal', blockSize: 0, maskTokenId: -1 });
  const model = new Model(new MockEngine(config), null);
  try {
    await model.generate([1, 2, 3]).result;
    assert.unreachable('should be rejected');
  } catch (error) {
    assert.is((error as Error).name, 'UnsupportedModelError');
    assert.match((error as Error).message, 'logits');
  }
});

test('seeded sampling is reproducible', async () => {
  const config = noStop(SDAR);
  const options = { maxTokens: 16, temperature: 0.8, topP: 0.9, topK: 10, seed: 42 };
  const a = await new Model(new MockEngine(config), null).generate([1, 2, 3], options).result;
  const b = await new Model(new MockEngine(config), null).generate([1, 2, 3], options).result;
  const c = await new Model(new MockEngine(config), null).generate([1, 2, 3], { ...options, seed: 43 }).result;
  assert.equal(a.tokens, b.tokens);
  assert.not.equal(a.tokens, c.tokens);
});

test('result stats are consistent', async () => {
  const engine = new MockEngine(noStop(SDAR));
  const { steps, result } = await run(new Model(engine, null), [1, 2, 3, 4, 5], { maxTokens: 12 });
  const { stats } = result;
  assert.is(stats.forwards, engine.calls.length);
  assert.is(stats.forwards, steps.length);
  assert.is(stats.promptTokens, 5);
  assert.is(stats.generatedTokens, 12);
  const prefill = steps.filter((s) => s.kind === 'prefill').length;
  assert.is(stats.tokensPerForward, 12 / (stats.forwards - prefill));
  assert.ok(stats.timeToFirstBlockMs >= 0);
  assert.ok(stats.totalMs >= stats.timeToFirstBlockMs);
});

/**
 * Builds a tokenizer whose ids are single bytes: ids below 8 map to ASCII letters and ids from 8 on to the bytes
 * of "€" and "😀", so generated sequences split characters across tokens and contain invalid UTF-8.
 */
function byteTokenizer(): TokenizerLike {
  const multiByte = [...new TextEncoder().encode('€😀')];
  const byteOf = (id: number) => (id < 8 ? 0x61 + id : multiByte[id % multiByte.length]);
  return {
    encode: (text) => Array.from(new TextEncoder().encode(text), (byte) => byte % 8),
    decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids, byteOf)),
    applyChatTemplate: (messages) => messages.map((m) => `${m.role}: ${m.content}\n`).join(''),
  };
}

test('text events concatenate to result text', async () => {
  const model = new Model(new MockEngine(mockConfig({ stopTokenIds: [] })), byteTokenizer());
  for (const maxTokens of [1, 7, 40]) {
    const generation = model.chat([{ role: 'user', content: 'hé' }], { maxTokens });
    const pieces: string[] = [];
    for await (const event of generation as AsyncIterable<GenerateEvent>) if (event.type === 'text') pieces.push(event.text);
    const result = await generation.result;
    assert.is(pieces.join(''), result.text);
    assert.is(result.text, byteTokenizer().decode(result.tokens));
    assert.is(result.stats.promptTokens, new TextEncoder().encode('user: hé\n').length);
  }
});

test('logits runs block by block', async () => {
  const engine = new MockEngine(SDAR);
  const model = new Model(engine, null);
  const tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
  const { rows, vocab, data } = await model.logits(tokens);
  assert.is(rows, 10);
  assert.is(vocab, VOCAB);
  assert.equal(engine.calls.map((call) => call.start), [0, 4, 8]);
  for (let q = 0; q < rows; q++) {
    const [expected] = mockLogitsRows(tokens, [q], 'block-causal', 4);
    assert.equal(Array.from(data.subarray(q * vocab, (q + 1) * vocab)), Array.from(expected), `row ${q}`);
  }

  const full = await model.logits(tokens, { attention: 'full' });
  assert.is(engine.calls[engine.calls.length - 1].tokens.length, 10);
  assert.equal(Array.from(full.data.subarray(0, vocab)), Array.from(mockLogitsRows(tokens, [0], 'full', 4)[0]));

  const causalCalls = engine.calls.length;
  const causal = await model.logits(tokens, { attention: 'causal' });
  assert.is(engine.calls.length, causalCalls + 1);
  assert.equal(Array.from(causal.data.subarray(9 * vocab)), Array.from(mockLogitsRows(tokens, [9], 'causal', 4)[0]));
});

test('logits splits rows past 64', async () => {
  const engine = new MockEngine(mockConfig({ attention: 'full', blockSize: 0 }));
  const tokens = Array.from({ length: 70 }, (_, i) => (i * 7) % 20);
  const { data } = await new Model(engine, null).logits(tokens);
  assert.equal(engine.calls.map((call) => [call.start, call.tokens.length, call.logitRows.length]), [[0, 70, 64], [0, 70, 6]]);
  for (const q of [0, 63, 64, 69]) {
    assert.equal(Array.from(data.subarray(q * VOCAB, (q + 1) * VOCAB)), Array.from(mockLogitsRows(tokens, [q], 'full', 0)[0]), `row ${q}`);
  }
});

test('unknown and mistyped options rejected', async () => {
  const model = new Model(new MockEngine(noStop(SDAR)), null);
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ max_tokens: 4 }, /Unknown option 'max_tokens'/],
    [{ topP: '0.5' }, /topP must be a number, got string '0.5'/],
    [{ eosEarlyStop: 'no' }, /eosEarlyStop must be a boolean/],
    [{ signal: {} }, /signal must be an AbortSignal/],
    [{ onStep: 'x' }, /onStep must be a function/],
  ];
  for (const [options, message] of cases) {
    const error = await model.generate([1, 2, 3], options as GenerateOptions).result.then(() => null, (reason: Error) => reason);
    assert.ok(error, `${JSON.stringify(options)} accepted`);
    assert.is(error!.name, 'ConfigError');
    assert.match(error!.message, message);
  }
  const accepted = await model.generate([1, 2, 3], { maxTokens: 4, threshold: null, stepsPerBlock: 4 }).result;
  assert.is(accepted.tokens.length, 4);
});

test.run();
