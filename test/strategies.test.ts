// Every decoding strategy against its plain reference loop in test/reference, first over the mock model
// (greedy and seeded, with and without stop tokens), then on the fixture models through the wasm engine.
// Also: strategy and family compatibility, options that do not apply, abort and reuse, row limits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadModel } from '../src/index.js';
import { Model, type GenerateEvent, type GenerateOptions, type StepEvent, type TokenizerLike } from '../src/model.js';
import type { ForwardEngine } from '../src/models/engine-types.js';
import type { AttentionKind, ModelConfig } from '../src/models/types.js';
import { MASK_ID, MockEngine, STOP_ID, mockConfig } from './reference/mock-engine.js';
import {
  referenceBlockDiffusion, referenceFastDllm, referenceFullCanvas, referenceWedlm, type LogitsFn,
} from './reference/reference-loop.js';

const PROMPTS = [[5], [1, 2, 3], [4, 5, 6, 7], [9, 8, 7, 6, 5, 4, 3, 2, 1]];
const SDAR = mockConfig({ family: 'sdar', blockSize: 4 });
const FAST_DLLM_V2 = mockConfig({ family: 'fast-dllm-v2', blockSize: 16, shiftLogits: true });
const LLADA = mockConfig({ family: 'llada', attention: 'full', blockSize: 0 });
const DREAM = mockConfig({ family: 'dream', attention: 'full', blockSize: 0, shiftLogits: true });
const CAUSAL = mockConfig({ family: 'qwen3', attention: 'causal', blockSize: 0 });

async function run(model: Model, prompt: number[], options: GenerateOptions) {
  const generation = model.generate(prompt, options);
  const steps: StepEvent[] = [];
  for await (const event of generation) if (event.type === 'step') steps.push(event);
  return { steps, result: await generation.result };
}

/** Runs `options` on a fresh mock per prompt and stop-id set, and compares with `reference`. */
async function compare(
  config: ModelConfig,
  options: GenerateOptions,
  reference: (config: ModelConfig, prompt: number[]) => Promise<{ tokens: number[]; stopped: boolean }>,
): Promise<void> {
  for (const stopIds of [[], [STOP_ID]]) {
    const withStops = { ...config, stopTokenIds: stopIds };
    for (const prompt of PROMPTS) {
      const { result } = await run(new Model(new MockEngine(withStops), null), prompt, options);
      const expected = await reference(withStops, prompt);
      const label = `${options.strategy} prompt ${prompt.length}, stop ids [${stopIds}]`;
      assert.equal(result.tokens, expected.tokens, label);
      assert.is(result.stopReason, expected.stopped ? 'stop' : 'length', label);
      assert.ok(result.tokens.length <= (options.maxTokens ?? 128), label);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// LLaDA

test('llada low confidence equals reference', async () => {
  for (const config of [LLADA, DREAM]) {
    await compare(config, { strategy: 'llada', maxTokens: 13, blockLength: 4, steps: 8 },
      (c, p) => referenceFullCanvas(c, p, { maxTokens: 13, blockLength: 4, steps: 8, schedule: 'linear', score: 'raw', sampling: { temperature: 0 } }));
  }
});

test('llada random remasking seeded', async () => {
  await compare(LLADA, { strategy: 'llada', remasking: 'random', maxTokens: 12, blockLength: 6, steps: 6, seed: 7 },
    (c, p) => referenceFullCanvas(c, p, { maxTokens: 12, blockLength: 6, steps: 6, schedule: 'linear', score: 'random', sampling: { temperature: 0 }, seed: 7 }));
});

test('llada sampled seeded', async () => {
  await compare(LLADA, { strategy: 'llada', maxTokens: 10, blockLength: 5, steps: 6, temperature: 0.8, seed: 3 },
    (c, p) => referenceFullCanvas(c, p, { maxTokens: 10, blockLength: 5, steps: 6, schedule: 'linear', score: 'raw', sampling: { temperature: 0.8 }, seed: 3 }));
});

test('llada classifier-free guidance', async () => {
  await compare(LLADA, { strategy: 'llada', cfgScale: 1.5, maxTokens: 8, blockLength: 4, steps: 4 },
    (c, p) => referenceFullCanvas(c, p, { maxTokens: 8, blockLength: 4, steps: 4, schedule: 'linear', score: 'raw', cfgScale: 1.5, sampling: { temperature: 0 } }));
  // Guidance changes the result and costs two forwards per step.
  const engine = new MockEngine({ ...LLADA, stopTokenIds: [] });
  const { result } = await run(new Model(engine, null), [1, 2, 3], { strategy: 'llada', cfgScale: 1.5, maxTokens: 8, blockLength: 4, steps: 4 });
  assert.is(result.stats.forwards, 8);
  assert.ok(engine.calls.filter((call) => call.tokens.slice(0, 3).every((t) => t === MASK_ID)).length === 4);
});

test('llada suppressEos commits stop tokens last', async () => {
  // Boost the stop token at every row: without suppression it is committed first and ends the request.
  const boost = () => STOP_ID;
  const options: GenerateOptions = { strategy: 'llada', maxTokens: 8, blockLength: 8, steps: 8 };
  const plain = await run(new Model(new MockEngine(LLADA, { boost }), null), [1, 2, 3], options);
  assert.is(plain.result.tokens.length, 0);
  const suppressed = await run(new Model(new MockEngine(LLADA, { boost }), null), [1, 2, 3], { ...options, suppressEos: true });
  const expected = await referenceFullCanvas(LLADA, [1, 2, 3], { maxTokens: 8, blockLength: 8, steps: 8, schedule: 'linear', score: 'raw', suppressEos: true, sampling: { temperature: 0 }, boost });
  assert.equal(suppressed.result.tokens, expected.tokens);
  // The first step commits no stop token although every candidate is one, apart from ties.
  assert.ok(suppressed.steps[0].committed.length === 1);
});

// ---------------------------------------------------------------------------------------------------
// Dream

for (const [algorithm, score] of [['maskgit_plus', 'probability'], ['topk_margin', 'margin'], ['entropy', 'entropy']] as const) {
  test(`dream ${algorithm} equals reference`, async () => {
    for (const blockLength of [11, 4]) {
      await compare(DREAM, { strategy: 'dream', algorithm, maxTokens: 11, blockLength, steps: 6 },
        (c, p) => referenceFullCanvas(c, p, { maxTokens: 11, blockLength, steps: 6, schedule: 'timestep', score, sampling: { temperature: 0 } }));
    }
  });
}

test('dream sampled and origin seeded', async () => {
  await compare(DREAM, { strategy: 'dream', algorithm: 'maskgit_plus', maxTokens: 9, steps: 5, temperature: 0.7, seed: 11 },
    (c, p) => referenceFullCanvas(c, p, { maxTokens: 9, blockLength: 9, steps: 5, schedule: 'timestep', score: 'probability', sampling: { temperature: 0.7 }, seed: 11 }));
  await compare(DREAM, { strategy: 'dream', algorithm: 'origin', maxTokens: 9, steps: 5, seed: 5 },
    (c, p) => referenceFullCanvas(c, p, { maxTokens: 9, blockLength: 9, steps: 5, schedule: 'timestep', score: 'origin', sampling: { temperature: 0 }, seed: 5 }));
});

test('dream algTemp samples positions', async () => {
  const config = { ...DREAM, stopTokenIds: [] };
  const options: GenerateOptions = { strategy: 'dream', algorithm: 'entropy', algTemp: 0.5, maxTokens: 12, steps: 4, seed: 1 };
  const a = await run(new Model(new MockEngine(config), null), [1, 2], options);
  const b = await run(new Model(new MockEngine(config), null), [1, 2], options);
  assert.equal(a.result.tokens, b.result.tokens);
  assert.equal(a.steps.map((s) => s.committed.length), b.steps.map((s) => s.committed.length));
  // The timestep schedule fixes the counts whatever picks the positions.
  const top = await run(new Model(new MockEngine(config), null), [1, 2], { ...options, algTemp: 0 });
  assert.equal(a.steps.map((s) => s.committed.length), top.steps.map((s) => s.committed.length));
});

// ---------------------------------------------------------------------------------------------------
// Fast-dLLM v1

for (const cache of ['prefix', 'dual'] as const) {
  test(`fast-dllm ${cache} cache equals reference`, async () => {
    for (const config of [LLADA, DREAM]) {
      for (const stopIds of [[], [STOP_ID]]) {
        for (const prompt of PROMPTS) {
          const withStops = { ...config, stopTokenIds: stopIds };
          const engine = new MockEngine(withStops);
          const { result } = await run(new Model(engine, null), prompt, { strategy: 'fast-dllm', cache, maxTokens: 13, blockLength: 5, threshold: 0.7 });
          const expected = await referenceFastDllm(new MockEngine(withStops), prompt, { maxTokens: 13, blockLength: 5, threshold: 0.7, cache });
          assert.equal(result.tokens, expected.tokens, `${config.family} prompt ${prompt.length}`);
          // Only a block's first forward covers the whole sequence.
          const whole = engine.calls.filter((call) => call.start === 0).length;
          assert.ok(whole <= Math.ceil(13 / 5), `${whole} whole-sequence forwards`);
        }
      }
    }
  });
}

test('fast-dllm without cache equals threshold reference', async () => {
  await compare(DREAM, { strategy: 'fast-dllm', cache: 'none', maxTokens: 10, blockLength: 4, threshold: 0.6 },
    (c, p) => referenceFullCanvas(c, p, { maxTokens: 10, blockLength: 4, steps: 1000, schedule: 'linear', score: 'probability', threshold: 0.6, sampling: { temperature: 0 } }).then((r) => r));
});

test('dual cache differs from exact recomputation', async () => {
  // The mock stores what each index saw, so the approximation must show on some prompt.
  let differs = 0;
  for (const prompt of PROMPTS) {
    const config = { ...LLADA, stopTokenIds: [] };
    const dual = await run(new Model(new MockEngine(config), null), prompt, { strategy: 'fast-dllm', cache: 'dual', maxTokens: 16, blockLength: 8, threshold: 0.95 });
    const none = await run(new Model(new MockEngine(config), null), prompt, { strategy: 'fast-dllm', cache: 'none', maxTokens: 16, blockLength: 8, threshold: 0.95 });
    if (JSON.stringify(dual.result.tokens) !== JSON.stringify(none.result.tokens)) differs++;
  }
  assert.ok(differs > 0);
});

// ---------------------------------------------------------------------------------------------------
// Block-causal strategies

for (const remasking of ['low_confidence_dynamic', 'low_confidence_static', 'sequential'] as const) {
  test(`sdar ${remasking} equals reference`, async () => {
    const short = ({ low_confidence_dynamic: 'dynamic', low_confidence_static: 'static', sequential: 'sequential' } as const)[remasking];
    await compare(SDAR, { strategy: 'sdar', remasking, maxTokens: 14, stepsPerBlock: 2 },
      (c, p) => referenceBlockDiffusion(c, p, { maxTokens: 14, blockLength: 4, stepsPerBlock: 2, threshold: short === 'dynamic' ? 0.9 : null, remasking: short }));
  });
}

test('sdar sampled seeded', async () => {
  await compare(SDAR, { strategy: 'sdar', maxTokens: 14, temperature: 1, seed: 9 },
    (c, p) => referenceBlockDiffusion(c, p, { maxTokens: 14, blockLength: 4, stepsPerBlock: 4, threshold: 0.9, sampling: { temperature: 1 }, seed: 9 }));
});

test('llada2 threshold and early stop', async () => {
  await compare(SDAR, { strategy: 'llada2', maxTokens: 15, blockLength: 8, threshold: 0.6 },
    (c, p) => referenceBlockDiffusion(c, p, { maxTokens: 15, blockLength: 8, stepsPerBlock: 8, threshold: 0.6 }));
  // Without the early stop every block runs, and the output is the same.
  const boost = (q: number) => (q === 9 ? STOP_ID : -1);
  const early = await run(new Model(new MockEngine(SDAR, { boost }), null), [1, 2, 3], { strategy: 'llada2', maxTokens: 20 });
  const full = await run(new Model(new MockEngine(SDAR, { boost }), null), [1, 2, 3], { strategy: 'llada2', maxTokens: 20, eosEarlyStop: false });
  assert.is(early.result.stopReason, 'stop');
  assert.equal(full.result.tokens, early.result.tokens);
  assert.is(full.result.stopReason, 'stop');
  assert.ok(full.result.stats.forwards > early.result.stats.forwards);
});

test('fast-dllm-v2 sub-blocks equal reference', async () => {
  await compare(FAST_DLLM_V2, { strategy: 'fast-dllm-v2', maxTokens: 37, threshold: 0.7, subBlockLength: 4 },
    (c, p) => referenceBlockDiffusion(c, p, { maxTokens: 37, blockLength: 16, subBlockLength: 4, stepsPerBlock: null, threshold: 0.7 }));
});

test('fast-dllm-v2 sub-block cache feeds sub-blocks', async () => {
  const config = { ...FAST_DLLM_V2, stopTokenIds: [] };
  const engine = new MockEngine(config);
  const prompt = [1, 2, 3];
  const { steps, result } = await run(new Model(engine, null), prompt, { strategy: 'fast-dllm-v2', cache: 'dual', maxTokens: 29, threshold: 0.95, subBlockLength: 4 });
  assert.is(result.tokens.length, 29);
  const partial = engine.calls.filter((call, i) => steps[i].kind === 'refine' && call.tokens.length < 16 && call.keys > call.start + call.tokens.length);
  assert.ok(partial.length > 0, 'some forwards feed only a sub-block');
  for (const call of partial) {
    // A sub-block and, with shifted logits, the position before it; keys reach the block's end.
    assert.ok(call.tokens.length <= 5);
    assert.is(call.keys % 16 === 0 || call.keys === prompt.length + 29, true);
  }
});

test('editing equals reference and edits', async () => {
  const options = { maxTokens: 14, blockLength: 8, stepsPerBlock: null, threshold: 0.5, editThreshold: 0.3, maxPostSteps: 3 };
  await compare(SDAR, { strategy: 'editing', maxTokens: 14, blockLength: 8, threshold: 0.5, editThreshold: 0.3, maxPostSteps: 3 },
    (c, p) => referenceBlockDiffusion(c, p, options));
  await compare(FAST_DLLM_V2, { strategy: 'editing', maxTokens: 20, blockLength: 8, threshold: 0.5, editThreshold: 0.3, maxPostSteps: 3 },
    (c, p) => referenceBlockDiffusion(c, p, { ...options, maxTokens: 20 }));

  // Edits happen, and no streamed position is edited afterwards.
  let edits = 0;
  for (const prompt of PROMPTS) {
    const { steps } = await run(new Model(new MockEngine({ ...SDAR, stopTokenIds: [] }), null), prompt, { strategy: 'editing', maxTokens: 14, blockLength: 8, threshold: 0.5, editThreshold: 0.3 });
    let finalized = 0;
    for (const step of steps) {
      edits += step.edited.length;
      for (const index of step.edited) assert.ok(index >= finalized, `edited final index ${index}`);
      finalized = step.finalized;
    }
  }
  assert.ok(edits > 0);
});

// ---------------------------------------------------------------------------------------------------
// WeDLM

test('wedlm equals reference', async () => {
  for (const config of [CAUSAL, SDAR]) {
    for (const window of [4, 7]) {
      await compare(config, { strategy: 'wedlm', maxTokens: 17, window, entropyThreshold: 2.2, positionPenalty: 0.1 },
        (c, p) => referenceWedlm(c, p, { maxTokens: 17, window, entropyThreshold: 2.2, positionPenalty: 0.1 }));
    }
  }
});

test('wedlm reorders filled slots first', async () => {
  const engine = new MockEngine({ ...CAUSAL, stopTokenIds: [] });
  await run(new Model(engine, null), [1, 2, 3], { strategy: 'wedlm', maxTokens: 12, window: 6, entropyThreshold: 2.2, positionPenalty: 0 });
  let reordered = 0;
  for (const call of engine.calls.filter((c) => c.positions)) {
    const positions = call.positions!;
    const firstMask = call.tokens.indexOf(MASK_ID);
    if (firstMask < 0) continue;
    // Filled slots precede every mask, and both runs keep logical order.
    assert.ok(call.tokens.slice(firstMask).every((t) => t === MASK_ID));
    for (let i = 1; i < positions.length; i++) if (i !== firstMask) assert.ok(positions[i] > positions[i - 1]);
    if (firstMask > 0 && positions[firstMask] < positions[firstMask - 1]) reordered++;
  }
  assert.ok(reordered > 0, 'some forward put a filled slot before a mask to its left');
});

// ---------------------------------------------------------------------------------------------------
// Options, compatibility, limits, abort, text

test('incompatible strategy names both', async () => {
  const cases: [ModelConfig, GenerateOptions][] = [
    [SDAR, { strategy: 'llada' }],
    [SDAR, { strategy: 'fast-dllm' }],
    [LLADA, { strategy: 'sdar' }],
    [DREAM, { strategy: 'editing' }],
    [LLADA, { strategy: 'wedlm' }],
    [FAST_DLLM_V2, { strategy: 'wedlm' }],
  ];
  for (const [config, options] of cases) {
    try {
      await new Model(new MockEngine(config), null).generate([1, 2], options).result;
      assert.unreachable(`${options.strategy} on ${config.family} should be rejected`);
    } catch (error) {
      assert.is((error as Error).name, 'ConfigError');
      assert.match((error as Error).message, options.strategy!);
      assert.match((error as Error).message, config.family);
    }
  }
});

test('inapplicable options are rejected', async () => {
  const cases: [ModelConfig, GenerateOptions, string][] = [
    [SDAR, { strategy: 'sdar', window: 8 }, 'window'],
    [LLADA, { strategy: 'llada', eps: 0.01 }, 'eps'],
    [DREAM, { strategy: 'dream', threshold: 0.9 }, 'threshold'],
    [LLADA, { strategy: 'llada', cfgScale: 1, cache: 'dual' }, 'cache'],
    [SDAR, { strategy: 'sdar', remasking: 'random' }, 'remasking'],
    [LLADA, { strategy: 'llada', remasking: 'sequential' }, 'remasking'],
    [FAST_DLLM_V2, { strategy: 'fast-dllm-v2', cache: 'none' }, 'cache'],
    [FAST_DLLM_V2, { strategy: 'fast-dllm-v2', subBlockLength: 17 }, 'subBlockLength'],
    [DREAM, { strategy: 'dream', eps: 1 }, 'eps'],
    [SDAR, { strategy: 'editing', editThreshold: 2 }, 'editThreshold'],
    [SDAR, { strategy: 'nope' as never }, 'strategy'],
  ];
  for (const [config, options, name] of cases) {
    try {
      await new Model(new MockEngine(config), null).generate([1, 2], options).result;
      assert.unreachable(`${JSON.stringify(options)} should be rejected`);
    } catch (error) {
      assert.is((error as Error).name, 'ConfigError', JSON.stringify(options));
      assert.match((error as Error).message, name);
    }
  }
});

test('small maxLogitRows gives the same result', async () => {
  const cases: [ModelConfig, GenerateOptions][] = [
    [LLADA, { strategy: 'llada', maxTokens: 12, blockLength: 12, steps: 4 }],
    [DREAM, { strategy: 'fast-dllm', maxTokens: 12, blockLength: 12, threshold: 0.8 }],
    [SDAR, { strategy: 'sdar', maxTokens: 12, blockLength: 8 }],
    [CAUSAL, { strategy: 'wedlm', maxTokens: 12, window: 8 }],
  ];
  for (const [config, options] of cases) {
    const wide = await run(new Model(new MockEngine(config), null), [1, 2, 3], options);
    const narrow = await run(new Model(new MockEngine(config, { maxLogitRows: 3 }), null), [1, 2, 3], options);
    assert.equal(narrow.result.tokens, wide.result.tokens, options.strategy);
  }
});

test('lengths not a multiple of the block', async () => {
  const cases: [ModelConfig, GenerateOptions][] = [
    [LLADA, { strategy: 'llada', blockLength: 4 }],
    [DREAM, { strategy: 'dream', blockLength: 4 }],
    [LLADA, { strategy: 'fast-dllm', blockLength: 4 }],
    [FAST_DLLM_V2, { strategy: 'fast-dllm-v2' }],
    [SDAR, { strategy: 'sdar' }],
    [SDAR, { strategy: 'llada2', blockLength: 8 }],
    [SDAR, { strategy: 'editing', blockLength: 8 }],
    [CAUSAL, { strategy: 'wedlm', window: 4 }],
  ];
  for (const [config, options] of cases) {
    for (const maxTokens of [1, 5, 11]) {
      const engine = new MockEngine({ ...config, stopTokenIds: [] });
      const { result } = await run(new Model(engine, null), [1, 2, 3], { ...options, maxTokens });
      assert.is(result.tokens.length, maxTokens, `${options.strategy} maxTokens ${maxTokens}`);
      assert.ok(engine.calls.every((call) => call.keys <= 3 + maxTokens));
    }
  }
});

test('abort then reuse for every loop', async () => {
  const cases: [ModelConfig, GenerateOptions][] = [
    [LLADA, { strategy: 'llada', steps: 16 }],
    [DREAM, { strategy: 'fast-dllm', cache: 'dual' }],
    [SDAR, { strategy: 'editing' }],
    [FAST_DLLM_V2, { strategy: 'fast-dllm-v2', cache: 'dual' }],
    [CAUSAL, { strategy: 'wedlm' }],
  ];
  for (const [config, options] of cases) {
    const model = new Model(new MockEngine({ ...config, stopTokenIds: [] }), null);
    const controller = new AbortController();
    let seen = 0;
    const aborted = model.generate([1, 2, 3], { ...options, maxTokens: 16, signal: controller.signal, onStep: () => { if (++seen === 3) controller.abort(); } });
    const after = model.generate([1, 2, 3], { ...options, maxTokens: 16 });
    try {
      await aborted.result;
      assert.unreachable('should abort');
    } catch (error) {
      assert.is((error as Error).name, 'AbortError', options.strategy);
    }
    assert.is(seen, 3, `${options.strategy}: no forward after the abort`);
    const fresh = await new Model(new MockEngine({ ...config, stopTokenIds: [] }), null).generate([1, 2, 3], { ...options, maxTokens: 16 }).result;
    assert.equal((await after.result).tokens, fresh.tokens, options.strategy);
  }
});

/** Tokenizer whose ids are single bytes of "a".."h", "€" and "😀", so tokens split UTF-8 characters. */
function byteTokenizer(): TokenizerLike {
  const multiByte = [...new TextEncoder().encode('€😀')];
  const byteOf = (id: number) => (id < 8 ? 0x61 + id : multiByte[id % multiByte.length]);
  return {
    encode: (text) => Array.from(new TextEncoder().encode(text), (byte) => byte % 8),
    decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids, byteOf)),
    applyChatTemplate: (messages) => messages.map((m) => `${m.role}: ${m.content}\n`).join(''),
  };
}

test('text events match result for every strategy', async () => {
  const cases: [ModelConfig, GenerateOptions][] = [
    [LLADA, { strategy: 'llada' }],
    [DREAM, { strategy: 'dream' }],
    [FAST_DLLM_V2, { strategy: 'fast-dllm-v2' }],
    [SDAR, { strategy: 'editing', editThreshold: 0.3 }],
    [CAUSAL, { strategy: 'wedlm' }],
  ];
  for (const [config, options] of cases) {
    const model = new Model(new MockEngine({ ...config, stopTokenIds: [] }), byteTokenizer());
    const generation = model.chat([{ role: 'user', content: 'hé' }], { ...options, maxTokens: 21 });
    const pieces: string[] = [];
    for await (const event of generation as AsyncIterable<GenerateEvent>) {
      if (event.type !== 'text') continue;
      assert.ok(!event.text.includes('\ufffd') || event.text.length > 0);
      pieces.push(event.text);
    }
    const result = await generation.result;
    assert.is(pieces.join(''), result.text, options.strategy);
    for (const piece of pieces) assert.ok(!/[\ud800-\udbff]$/.test(piece), `${options.strategy}: piece ends inside a surrogate pair`);
  }
});

// ---------------------------------------------------------------------------------------------------
// Fixture models through the wasm engine

/** Logits from scratch on a real engine: the whole sequence written from cache index 0. */
function engineLogits(engine: ForwardEngine): LogitsFn {
  return async (tokens, rows, attention: AttentionKind, B, positions) => {
    const vocab = engine.config.vocab;
    const out = new Map<number, Float32Array>();
    const spans: [number, number, AttentionKind][] = [];
    if (attention === 'block-causal') {
      const kind = engine.config.blockSize === B ? 'block-causal' : 'full';
      for (let s = 0; s < tokens.length; s += B) spans.push([s, Math.min(s + B, tokens.length), kind]);
    } else {
      spans.push([0, tokens.length, attention]);
    }
    for (const [from, to, kind] of spans) {
      const wanted = rows.filter((r) => r >= from && r < to);
      const result = await engine.forward({
        tokens: Int32Array.from(tokens.slice(from, to)),
        start: from,
        positions: positions ? Int32Array.from(positions.slice(from, to)) : undefined,
        attention: kind,
        logitRows: Int32Array.from(wanted, (r) => r - from),
      });
      wanted.forEach((r, i) => out.set(r, result.logits.slice(i * vocab, (i + 1) * vocab)));
    }
    return rows.map((r) => out.get(r)!);
  };
}

const FIXTURES = new URL('./fixtures/', import.meta.url);

test('fixture models equal reference', async () => {
  const sdar = await loadModel(new URL('sdar-tiny/hf-f32/', FIXTURES).pathname, { threads: 1 });
  const fast = await loadModel(new URL('fastdllm-tiny/hf-f32/', FIXTURES).pathname, { threads: 1 });
  const dream = await loadModel(new URL('tiny/fixtures/tiny-dream-f32.gguf', FIXTURES).pathname, { threads: 1 });
  const llada = await loadModel(new URL('tiny/fixtures/tiny-llada-f32.gguf', FIXTURES).pathname, { threads: 1 });
  try {
    const prompt = [116, 257, 32, 99, 97, 116, 32, 105, 115];
    const check = async (model: Model, options: GenerateOptions, reference: (logits: LogitsFn) => Promise<{ tokens: number[] }>) => {
      const result = await model.generate(prompt, options).result;
      const expected = await reference(engineLogits(model.engine));
      assert.equal(result.tokens, expected.tokens, `${model.config.family} ${options.strategy}`);
    };

    await check(sdar, { strategy: 'sdar', maxTokens: 14, eosEarlyStop: false },
      (l) => referenceBlockDiffusion(sdar.config, prompt, { maxTokens: 14, blockLength: 4, stepsPerBlock: 4, threshold: 0.9, eosEarlyStop: false }, l));
    await check(sdar, { strategy: 'sdar', maxTokens: 10, temperature: 0.9, seed: 4, eosEarlyStop: false },
      (l) => referenceBlockDiffusion(sdar.config, prompt, { maxTokens: 10, blockLength: 4, stepsPerBlock: 4, threshold: 0.9, sampling: { temperature: 0.9 }, seed: 4, eosEarlyStop: false }, l));
    await check(sdar, { strategy: 'editing', maxTokens: 10, blockLength: 4, editThreshold: 0.2, eosEarlyStop: false },
      (l) => referenceBlockDiffusion(sdar.config, prompt, { maxTokens: 10, blockLength: 4, stepsPerBlock: null, threshold: 0.7, editThreshold: 0.2, maxPostSteps: 16, eosEarlyStop: false }, l));
    await check(sdar, { strategy: 'wedlm', maxTokens: 10, window: 4, entropyThreshold: 3, eosEarlyStop: false },
      (l) => referenceWedlm(sdar.config, prompt, { maxTokens: 10, window: 4, entropyThreshold: 3, positionPenalty: 0.02 }, l));
    await check(fast, { strategy: 'fast-dllm-v2', maxTokens: 40, threshold: 0.5, eosEarlyStop: false },
      (l) => referenceBlockDiffusion(fast.config, prompt, { maxTokens: 40, blockLength: 32, subBlockLength: 8, stepsPerBlock: null, threshold: 0.5, eosEarlyStop: false }, l));
    await check(llada, { strategy: 'llada', maxTokens: 12, blockLength: 4, steps: 6, eosEarlyStop: false },
      (l) => referenceFullCanvas(llada.config, prompt, { maxTokens: 12, blockLength: 4, steps: 6, schedule: 'linear', score: 'raw', sampling: { temperature: 0 } }, l));
    await check(dream, { strategy: 'dream', algorithm: 'entropy', maxTokens: 12, steps: 6, eosEarlyStop: false },
      (l) => referenceFullCanvas(dream.config, prompt, { maxTokens: 12, blockLength: 12, steps: 6, schedule: 'timestep', score: 'entropy', sampling: { temperature: 0 } }, l));
    await check(dream, { strategy: 'fast-dllm', cache: 'none', maxTokens: 12, blockLength: 4, threshold: 0.3, eosEarlyStop: false },
      (l) => referenceFullCanvas(dream.config, prompt, { maxTokens: 12, blockLength: 4, steps: 1000, schedule: 'linear', score: 'probability', threshold: 0.3, sampling: { temperature: 0 } }, l));
  } finally {
    for (const model of [sdar, fast, dream, llada]) await model.dispose();
  }
});

test.run();
