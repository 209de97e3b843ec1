// Failure behaviour of a loaded model. Bad requests and limits raise typed errors, and a request can be
// aborted at every forward. Worker threads may throw or die, and the model may be disposed mid-request.
// Concurrent requests are serialised, non-finite numbers are reported, and greedy output does not depend
// on the thread count.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  AbortError,
  ConfigError,
  ContextOverflowError,
  DllmError,
  ModelDisposedError,
  ModelFormatError,
  ModelTooLargeError,
  NumericError,
  WorkerError,
} from '../src/errors.js';
import { dequantize, f32ToF16 } from '../src/formats/quant.js';
import { loadModel, tokenizerOf } from '../src/index.js';
import { Model, type GenerateOptions } from '../src/model.js';
import { openCheckpoint } from '../src/models/load-checkpoint.js';
import type { Checkpoint, TensorInfo } from '../src/models/types.js';
import { stallLimit } from '../src/runtime/barrier.js';
import { WasmEngine, type EngineOptions } from '../src/runtime/engine.js';
import { chooseKernelBuild } from '../src/runtime/kernel-build.js';
import { CONTROL } from '../src/runtime/layout.js';
import { TextTokenizer } from '../src/tokenizer.js';

const SDAR = 'test/fixtures/sdar-tiny/hf-f32';           // block-causal, block size 4
const LLADA = 'test/fixtures/tiny/fixtures/tiny-llada-f32.gguf'; // full attention
const QWEN3_F16 = 'test/fixtures/tiny/fixtures/tiny-qwen3-F16.gguf';
const DREAM_BF16 = 'test/fixtures/tiny/fixtures/tiny-dream-BF16.gguf';
const quiet = { log: () => {} };

/** Greedy settings that commit by a step budget, so every request takes several forwards. */
const GREEDY: GenerateOptions = { maxTokens: 16, stepsPerBlock: 2, threshold: null, temperature: 0 };
const PROMPT = [265, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100]; // 11 ids: two prefill blocks of 4, then a partial block

/** Asserts that `promise` rejects with an instance of `type` whose code is `code`, and returns the error. */
async function rejects<T extends DllmError>(promise: Promise<unknown>, type: new (...args: never[]) => T, code: string): Promise<T> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, type, `expected ${type.name}, got ${String(error)}`);
    assert.is((error as DllmError).code, code, (error as Error).message);
    return error as T;
  }
  assert.unreachable(`expected ${type.name} ${code}, but the promise resolved`);
  throw new Error('unreachable');
}

async function withModel(path: string, options: Parameters<typeof loadModel>[1], body: (model: Model) => Promise<void>): Promise<void> {
  const model = await loadModel(path, { ...quiet, ...options });
  try {
    await body(model);
  } finally {
    await model.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------
// Requests and limits

test('invalid generate options reject with INVALID_OPTION', async () => {
  await withModel(SDAR, { threads: 1, contextLength: 64 }, async (model) => {
    const cases: [string, GenerateOptions][] = [
      ['steps', { steps: 0 }],
      ['stepsPerBlock', { stepsPerBlock: 0 }],
      ['threshold', { threshold: 0 }],
      ['threshold', { threshold: 1.5 }],
      ['threshold', { threshold: NaN }],
      ['blockLength', { blockLength: 0 }],
      ['maxTokens', { maxTokens: 0 }],
      ['maxTokens', { maxTokens: 2.5 }],
      ['temperature', { temperature: -1 }],
      ['topK', { topK: -1 }],
      ['topP', { topP: 0 }],
      ['seed', { seed: 0.5 }],
    ];
    for (const [name, options] of cases) {
      const error = await rejects(model.generate(PROMPT, options).result, ConfigError, 'INVALID_OPTION');
      assert.ok(error.message.includes(name), `message names ${name}: ${error.message}`);
    }
  });
});

test('invalid engine options reject with INVALID_OPTION', async () => {
  const checkpoint = await openCheckpoint(SDAR);
  try {
    const invalid: Array<Record<string, unknown>> = [
      { threads: 0 }, { threads: 1000 }, { contextLength: 0 }, { contextLength: 1.5 }, { maxRows: -1 },
      { loadPartBytes: 0 }, { loadPartBytes: '7' }, { maxShardBytes: -1 }, { int8: 'yes' },
    ];
    for (const options of invalid) {
      const error = await rejects(WasmEngine.load(checkpoint, { ...quiet, ...options } as EngineOptions), ConfigError, 'INVALID_OPTION');
      assert.ok(error.message.includes(Object.keys(options)[0]), error.message);
    }
  } finally {
    await checkpoint.close();
  }
});

test('kernelModule of the other memory kind rejects', async () => {
  const checkpoint = await openCheckpoint(SDAR);
  try {
    const shared = (await chooseKernelBuild(true, 'baseline', () => {})).module;
    const plain = (await chooseKernelBuild(false, 'baseline', () => {})).module;
    for (const [threads, kernelModule] of [[1, shared], [2, plain]] as const) {
      const error = await rejects(WasmEngine.load(checkpoint, { ...quiet, threads, kernelModule }), ConfigError, 'INVALID_OPTION');
      assert.ok(error.message.includes('kernelModule'), error.message);
    }
  } finally {
    await checkpoint.close();
  }
});

test('kernelModule of another version rejects', async () => {
  // A module that imports env.memory and exports no kernels links, but reports no Q4_0x4 byte order.
  const bytes = Uint8Array.of(0, 97, 115, 109, 1, 0, 0, 0, 2, 18, 1, 3, 101, 110, 118, 6, 109, 101, 109, 111, 114, 121, 2, 1, 1, 0x80, 0x80, 4);
  const checkpoint = await openCheckpoint(SDAR);
  try {
    const error = await rejects(WasmEngine.load(checkpoint, { ...quiet, threads: 1, kernelModule: new WebAssembly.Module(bytes) }), ConfigError, 'INVALID_OPTION');
    assert.match(error.message, /another dllm-wasm version/);
  } finally {
    await checkpoint.close();
  }
});

test('token ids outside the vocabulary reject', async () => {
  await withModel(SDAR, { threads: 1, contextLength: 64 }, async (model) => {
    await rejects(model.generate([1, 272]).result, ConfigError, 'INVALID_OPTION');
    await rejects(model.generate([1, -1]).result, ConfigError, 'INVALID_OPTION');
    await rejects(model.logits([1.5]), ConfigError, 'INVALID_OPTION');
  });
});

test('prompt longer than the context overflows', async () => {
  await withModel(SDAR, { threads: 1, contextLength: 32 }, async (model) => {
    const long = await rejects(model.generate(new Array(40).fill(10), GREEDY).result, ContextOverflowError, 'CONTEXT_OVERFLOW');
    assert.is(long.requested, 40);
    assert.is(long.limit, 32);
    // The prompt fits, but not with maxTokens more positions.
    const total = await rejects(model.generate(new Array(20).fill(10), GREEDY).result, ContextOverflowError, 'CONTEXT_OVERFLOW');
    assert.is(total.requested, 36);
    await rejects(model.logits(new Array(33).fill(10)), ContextOverflowError, 'CONTEXT_OVERFLOW');
  });
});

test('very long text prompt overflows quickly', async () => {
  await withModel(SDAR, { threads: 1, contextLength: 256 }, async (model) => {
    const started = performance.now();
    await rejects(model.generate('word '.repeat(20_000), GREEDY).result, ContextOverflowError, 'CONTEXT_OVERFLOW');
    assert.ok(performance.now() - started < 5000, 'tokenising 100 kB of text took more than 5 s');
  });
});

/** A checkpoint with the given config whose tensors exist only as shapes; reading one fails the test. */
function shapeOnlyCheckpoint(base: Checkpoint, overrides: Partial<Checkpoint['config']>): Checkpoint {
  const config = { ...base.config, ...overrides, tiedEmbeddings: false, qkNorm: false, qkvBias: false };
  const tensors = new Map<string, TensorInfo>();
  const add = (name: string, shape: number[]) => tensors.set(name, {
    name, type: 'F32', shape, byteLength: shape.reduce((a, b) => a * b, 4),
    read: () => { throw new Error(`${name} was read, but the model should be rejected before any read`); },
  });
  const q = config.nHeads * config.headDim;
  const kv = config.nKvHeads * config.headDim;
  add('token_embd.weight', [config.vocab, config.hidden]);
  add('output.weight', [config.vocab, config.hidden]);
  add('output_norm.weight', [config.hidden]);
  for (let l = 0; l < config.nLayers; l++) {
    add(`blk.${l}.attn_norm.weight`, [config.hidden]);
    add(`blk.${l}.attn_q.weight`, [q, config.hidden]);
    add(`blk.${l}.attn_k.weight`, [kv, config.hidden]);
    add(`blk.${l}.attn_v.weight`, [kv, config.hidden]);
    add(`blk.${l}.attn_output.weight`, [config.hidden, q]);
    add(`blk.${l}.ffn_norm.weight`, [config.hidden]);
    add(`blk.${l}.ffn_gate.weight`, [config.ffn, config.hidden]);
    add(`blk.${l}.ffn_up.weight`, [config.ffn, config.hidden]);
    add(`blk.${l}.ffn_down.weight`, [config.hidden, config.ffn]);
  }
  return { ...base, config, tensors };
}

// A 7B-like shape: about 26 GiB in F32, so no format fits; 2.9 GiB-ish shapes fit as Q8_0 or Q4_0.
const SEVEN_B = { hidden: 4096, nLayers: 32, nHeads: 32, nKvHeads: 8, headDim: 128, ffn: 14336, vocab: 32000 };
const ONE_B = { hidden: 2048, nLayers: 22, nHeads: 32, nKvHeads: 4, headDim: 64, ffn: 5632, vocab: 32000 };

test('model over the memory limit is refused before allocating', async () => {
  const base = await openCheckpoint(SDAR);
  try {
    // Over 4 GiB the engine splits a model over several memories, so the limit that refuses it is the total.
    const limit = 8 * 2 ** 30;
    const huge = await rejects(WasmEngine.load(shapeOnlyCheckpoint(base, SEVEN_B), { ...quiet, threads: 1, contextLength: 256, maxMemoryBytes: limit }),
      ModelTooLargeError, 'MODEL_TOO_LARGE');
    assert.ok(huge.requiredBytes > limit, `requiredBytes ${huge.requiredBytes}`);
    assert.is(huge.limitBytes, limit);
    assert.match(huge.message, /GiB/);
    assert.match(huge.message, /Q8_0/);  // 7B weights at 8.5 bits fit in 8 GiB

    // About 4.4 GiB in F32 against a 4 GiB limit: the message names a quantisation that fits.
    const large = await rejects(WasmEngine.load(shapeOnlyCheckpoint(base, ONE_B), { ...quiet, threads: 1, contextLength: 256, maxMemoryBytes: 2 ** 32 }),
      ModelTooLargeError, 'MODEL_TOO_LARGE');
    assert.match(large.message, /Q8_0/);

    // A layer larger than one wasm memory cannot be split.
    const wide = await rejects(WasmEngine.load(shapeOnlyCheckpoint(base, { ...SEVEN_B, ffn: 14336 * 8 }), { ...quiet, threads: 1, contextLength: 256 }),
      ModelTooLargeError, 'MODEL_TOO_LARGE');
    assert.match(wide.message, /GiB/);
  } finally {
    await base.close();
  }
});

test('wasm memory allocation failure is OUT_OF_MEMORY', async () => {
  const base = await openCheckpoint(SDAR);
  const original = WebAssembly.Memory;
  // Stands in for a runtime whose memory limit is lower than the model: Node and browsers throw RangeError.
  (WebAssembly as { Memory: unknown }).Memory = function Memory() {
    throw new RangeError('WebAssembly.Memory(): could not allocate memory');
  };
  try {
    const error = await rejects(WasmEngine.load(base, { ...quiet, threads: 1, contextLength: 64 }), ModelTooLargeError, 'OUT_OF_MEMORY');
    assert.ok(error.requiredBytes > 0);
    assert.match(error.message, /could not allocate/);
  } finally {
    (WebAssembly as { Memory: unknown }).Memory = original;
    await base.close();
  }
});

// ---------------------------------------------------------------------------------------------------
// Text and chat inputs

test('empty prompt rejects with INVALID_OPTION', async () => {
  await withModel(SDAR, { threads: 1, contextLength: 64 }, async (model) => {
    await rejects(model.generate('', GREEDY).result, ConfigError, 'INVALID_OPTION');
    await rejects(model.generate([], GREEDY).result, ConfigError, 'INVALID_OPTION');
  });
});

test('special tokens and lone surrogates generate', async () => {
  await withModel(SDAR, { threads: 1, contextLength: 64 }, async (model) => {
    const special = await model.generate('<|im_end|><|im_start|>', GREEDY).result;
    assert.is(special.stats.promptTokens, 2);
    const surrogates = await model.generate('\uD800 a \uDC00b', GREEDY).result;
    assert.type(surrogates.text, 'string');
    assert.ok(surrogates.stats.promptTokens > 0);
  });
});

test('chat template failures reject typed', async () => {
  const base = await openCheckpoint(SDAR);
  const json = base.tokenizerJson!;
  const config = base.tokenizerConfigJson!;
  await base.close();
  const tokenizer = (chatTemplate: string) => {
    return TextTokenizer.fromHuggingFace(json, config, { chatTemplate });
  };
  const messages = [{ role: 'user', content: 'Hi' }];

  const raising = tokenizer("{% if messages[0].role == 'user' %}{{ raise_exception('Conversations must start with a system message') }}{% endif %}");
  const rejected = (() => { try { raising.applyChatTemplate(messages); } catch (e) { return e as ConfigError; } })();
  assert.instance(rejected, ConfigError);
  assert.is(rejected!.code, 'INVALID_OPTION');
  assert.match(rejected!.message, /must start with a system message/);

  for (const broken of ['{% for m in messages %}{{ m.content }}', '{{ messages | no_such_filter }}', '{{ undefined_function() }}']) {
    try {
      tokenizer(broken).applyChatTemplate(messages);
      assert.unreachable(`template ${broken} rendered`);
    } catch (error) {
      assert.instance(error, ConfigError, String(error));
      assert.is((error as ConfigError).code, 'INVALID_CHAT_TEMPLATE', (error as Error).message);
    }
  }

  const good = tokenizer('{% for m in messages %}{{ m.content }}{% endfor %}');
  for (const bad of [null, [{ role: 'user' }], [{ role: 1, content: 'x' }], 'text']) {
    try {
      good.applyChatTemplate(bad as never);
      assert.unreachable(`messages ${JSON.stringify(bad)} were accepted`);
    } catch (error) {
      assert.instance(error, ConfigError, String(error));
      assert.is((error as ConfigError).code, 'INVALID_OPTION');
    }
  }
});

test('chat with a throwing template rejects the request', async () => {
  await withModel(SDAR, { threads: 1, contextLength: 64 }, async (model) => {
    const generation = model.chat([{ role: 'assistant', content: 'x' }, { role: 'assistant', content: 'y' }, { role: 'tool' as string, content: 1 as never }]);
    await rejects(generation.result, ConfigError, 'INVALID_OPTION');
  });
});

test('checkpoint without tokenizer files is MISSING_FIELD', async () => {
  const base = await openCheckpoint(SDAR);
  try {
    const bare = { ...base, tokenizerJson: null, tokenizerConfigJson: null, ggufMetadata: undefined };
    try {
      tokenizerOf(bare);
      assert.unreachable('a tokenizer was built without tokenizer files');
    } catch (error) {
      assert.instance(error, ConfigError);
      assert.is((error as ConfigError).code, 'MISSING_FIELD');
    }
  } finally {
    await base.close();
  }
});

// ---------------------------------------------------------------------------------------------------
// Abort

test('abort at every forward, then the same output', async () => {
  await withModel(SDAR, { threads: 1, contextLength: 64 }, async (model) => {
    const reference = await model.generate(PROMPT, GREEDY).result;
    const forwards = reference.stats.forwards;
    assert.ok(forwards >= 6, `only ${forwards} forwards`);

    // Abort before the first forward, after each prefill forward and in the middle of each block.
    for (let at = 0; at < forwards; at++) {
      const controller = new AbortController();
      if (at === 0) controller.abort();
      const generation = model.generate(PROMPT, {
        ...GREEDY,
        signal: controller.signal,
        onStep: (event) => { if (event.forward === at) controller.abort(new Error('stop')); },
      });
      const error = await rejects(generation.result, AbortError, 'ABORTED');
      assert.is(error.name, 'AbortError');
      const again = await model.generate(PROMPT, GREEDY).result;
      assert.equal(again.tokens, reference.tokens, `output after aborting at forward ${at}`);
    }
  });
});

test('abort while loading rejects with AbortError', async () => {
  const controller = new AbortController();
  controller.abort();
  await rejects(loadModel(SDAR, { ...quiet, threads: 1, signal: controller.signal }), AbortError, 'ABORTED');

  const midway = new AbortController();
  await rejects(loadModel(SDAR, { ...quiet, threads: 1, signal: midway.signal, onProgress: () => midway.abort() }), AbortError, 'ABORTED');

  // A model loaded afterwards works.
  await withModel(SDAR, { threads: 1, contextLength: 64 }, async (model) => {
    assert.ok((await model.generate(PROMPT, GREEDY).result).tokens.length > 0);
  });
});

// ---------------------------------------------------------------------------------------------------
// Queue and dispose

test('concurrent requests run one after another', async () => {
  await withModel(SDAR, { threads: 1, contextLength: 64 }, async (model) => {
    const reference = await model.generate(PROMPT, GREEDY).result;
    const order: number[] = [];
    const generations = [0, 1, 2].map((id) => model.generate(PROMPT, { ...GREEDY, onStep: () => order.push(id) }));
    const results = await Promise.all(generations.map((g) => g.result));
    for (const result of results) assert.equal(result.tokens, reference.tokens);
    const expected = [...order].sort((a, b) => a - b);
    assert.equal(order, expected, 'step events of different requests interleaved');
  });
});

test('dispose during a request rejects it', async () => {
  const model = await loadModel(SDAR, { ...quiet, threads: 1, contextLength: 64 });
  let disposing: Promise<void> | null = null;
  const running = model.generate(PROMPT, { ...GREEDY, onStep: (event) => { if (event.forward === 2) disposing = model.dispose(); } });
  const queued = model.generate(PROMPT, GREEDY);
  await rejects(running.result, ModelDisposedError, 'MODEL_DISPOSED');
  await rejects(queued.result, ModelDisposedError, 'MODEL_DISPOSED');
  await disposing;
  await rejects(model.generate(PROMPT, GREEDY).result, ModelDisposedError, 'MODEL_DISPOSED');
  await model.dispose();
});

// ---------------------------------------------------------------------------------------------------
// Worker failures

interface PoolInternals {
  workers: { terminate(): Promise<void> }[];
  runStep(): void;
}

function poolOf(model: Model): PoolInternals {
  const pool = (model.engine as unknown as { pool: PoolInternals | null }).pool;
  if (!pool) throw new Error('the model runs without a worker pool');
  return pool;
}

test('worker that throws mid-step closes the model', async () => {
  await withModel(SDAR, { threads: 2, contextLength: 64 }, async (model) => {
    const engine = model.engine as WasmEngine;
    const pool = poolOf(model);
    const runStep = pool.runStep.bind(pool);
    let step = 0;
    // On the third forward, the last row (embedded by worker thread 1, since the rows are split in two
    // halves) gets a token id far outside the memory. The worker's embedding kernel traps while the
    // coordinating thread waits at the barrier.
    pool.runStep = () => {
      if (++step === 3) {
        const buffer = (engine as unknown as { memory: WebAssembly.Memory }).memory.buffer;
        const rows = new Int32Array(buffer, 0, CONTROL.slots)[CONTROL.rows];
        assert.ok(rows >= 2, `the third forward has ${rows} rows`);
        new Int32Array(buffer, engine.layout.tokens, rows)[rows - 1] = 1 << 20;
      }
      runStep();
    };
    const started = performance.now();
    const error = await rejects(model.generate(PROMPT, GREEDY).result, WorkerError, 'WORKER_FAILED');
    assert.ok(performance.now() - started < 10_000, 'the failure took more than 10 s to surface');
    assert.match(error.message, /thread 1/);
    // The model stays closed, with the same error, instead of running with a broken pool.
    await rejects(model.generate(PROMPT, GREEDY).result, WorkerError, 'WORKER_FAILED');
  });
});

test('terminated worker between requests', async () => {
  await withModel(SDAR, { threads: 2, contextLength: 64 }, async (model) => {
    const reference = await model.generate(PROMPT, GREEDY).result;
    assert.ok(reference.tokens.length > 0);
    await poolOf(model).workers[0].terminate();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await rejects(model.generate(PROMPT, GREEDY).result, WorkerError, 'WORKER_FAILED');
  });
});

test('terminated worker during a request', async () => {
  const saved = stallLimit.ms;
  // A terminated worker cannot report, so the coordinating thread notices it only as a stalled barrier.
  stallLimit.ms = 1000;
  try {
    await withModel(SDAR, { threads: 2, contextLength: 64 }, async (model) => {
      const pool = poolOf(model);
      const generation = model.generate(PROMPT, {
        ...GREEDY,
        onStep: (event) => { if (event.forward === 2) void pool.workers[0].terminate(); },
      });
      const started = performance.now();
      await rejects(generation.result, WorkerError, 'WORKER_FAILED');
      assert.ok(performance.now() - started < 10_000, 'the dead worker took more than 10 s to surface');
      await rejects(model.generate(PROMPT, GREEDY).result, WorkerError, 'WORKER_FAILED');
    });
  } finally {
    stallLimit.ms = saved;
  }
});

// ---------------------------------------------------------------------------------------------------
// Numbers

/** Returns a copy of `checkpoint` whose 2-D weights are multiplied by `factor` and stored as `type`. */
function scaledCheckpoint(checkpoint: Checkpoint, factor: number, type: 'F32' | 'F16'): Checkpoint {
  const tensors = new Map<string, TensorInfo>();
  for (const [name, info] of checkpoint.tensors) {
    if (info.shape.length !== 2) {
      tensors.set(name, info);
      continue;
    }
    const count = info.shape[0] * info.shape[1];
    const read = async () => {
      const values = dequantize(info.type, await info.read(), count).map((v) => v * factor);
      if (type === 'F32') return new Uint8Array(values.buffer);
      const halves = Uint16Array.from(values, (v) => f32ToF16(v));
      return new Uint8Array(halves.buffer);
    };
    tensors.set(name, { name, type, shape: info.shape, byteLength: count * (type === 'F32' ? 4 : 2), read });
  }
  return { ...checkpoint, tensors };
}

async function forwardLogits(checkpoint: Checkpoint): Promise<Float32Array> {
  const engine = await WasmEngine.load(checkpoint, { ...quiet, threads: 1, contextLength: 16 });
  try {
    const result = await engine.forward({ tokens: Int32Array.of(1, 2, 3, 4, 5, 6), start: 0, attention: 'causal', logitRows: Int32Array.of(0, 5) });
    return result.logits.slice();
  } finally {
    await engine.dispose();
  }
}

for (const [label, path] of [['F16', QWEN3_F16], ['BF16', DREAM_BF16]]) {
  test(`${label} weights with large magnitudes stay finite`, async () => {
    const checkpoint = await openCheckpoint(path);
    try {
      // The largest power of two that keeps every weight below the F16 maximum of 65504. The matmul
      // products then exceed the F16 range, so only float32 accumulation keeps them finite.
      let maxWeight = 0;
      for (const info of checkpoint.tensors.values()) {
        if (info.shape.length !== 2) continue;
        for (const v of dequantize(info.type, await info.read(), info.shape[0] * info.shape[1])) maxWeight = Math.max(maxWeight, Math.abs(v));
      }
      const factor = 2 ** Math.floor(Math.log2(65504 / maxWeight));
      const half = await forwardLogits(label === 'F16' ? scaledCheckpoint(checkpoint, factor, 'F16') : scaledBf16(checkpoint, factor));
      const single = await forwardLogits(scaledCheckpoint(checkpoint, factor, 'F32'));
      let maxAbs = 0;
      for (const v of single) maxAbs = Math.max(maxAbs, Math.abs(v));
      assert.ok(maxAbs > 65504, `logits reach ${maxAbs}, which does not test the F16 range`);
      for (let i = 0; i < half.length; i++) {
        assert.ok(Number.isFinite(half[i]), `logit ${i} is ${half[i]}`);
        assert.ok(Math.abs(half[i] - single[i]) <= 1e-3 * maxAbs, `logit ${i}: ${half[i]} vs ${single[i]} in F32`);
      }
    } finally {
      await checkpoint.close();
    }
  });
}

/** Multiplies BF16 weights by a power of two by raising their exponent, which is exact. */
function scaledBf16(checkpoint: Checkpoint, factor: number): Checkpoint {
  const shift = Math.log2(factor);
  const tensors = new Map<string, TensorInfo>();
  for (const [name, info] of checkpoint.tensors) {
    if (info.shape.length !== 2 || info.type !== 'BF16') {
      tensors.set(name, info);
      continue;
    }
    const read = async () => {
      const bytes = (await info.read()).slice();
      const halves = new Uint16Array(bytes.buffer);
      for (let i = 0; i < halves.length; i++) if (halves[i] & 0x7f80) halves[i] += shift << 7;
      return bytes;
    };
    tensors.set(name, { ...info, read });
  }
  return { ...checkpoint, tensors };
}

test('NaN that bypasses the load check fails the forward', async () => {
  const checkpoint = await openCheckpoint(SDAR);
  try {
    const info = checkpoint.tensors.get('blk.1.attn_q.weight')!;
    const poisoned: TensorInfo = {
      ...info,
      read: async () => {
        const bytes = (await info.read()).slice();
        new DataView(bytes.buffer).setFloat32(4 * 100, NaN, true);
        return bytes;
      },
    };
    // openCheckpoint's readers reject NaN weights; this reader does not, so the forward must catch it.
    const tensors = new Map(checkpoint.tensors).set(info.name, poisoned);
    await rejects(forwardLogits({ ...checkpoint, tensors }), NumericError, 'NON_FINITE_OUTPUT');
  } finally {
    await checkpoint.close();
  }
});

test('NaN in a GGUF file is NON_FINITE_WEIGHT', async () => {
  const { readFileSync } = await import('node:fs');
  const bytes = new Uint8Array(readFileSync(LLADA));
  const checkpoint = await openCheckpoint(bytes);
  const info = checkpoint.tensors.get('blk.0.ffn_up.weight')!;
  const offset = await findTensorOffset(bytes, info);
  await checkpoint.close();
  new DataView(bytes.buffer).setFloat32(offset + 4 * 7, NaN, true);
  const poisoned = await openCheckpoint(bytes);
  try {
    const error = await rejects(WasmEngine.load(poisoned, { ...quiet, threads: 1, contextLength: 16 }), ModelFormatError, 'NON_FINITE_WEIGHT');
    assert.match(error.message, /blk\.0\.ffn_up\.weight/);
    assert.match(error.message, /element 7/);
  } finally {
    await poisoned.close();
  }
});

/** Locates a tensor's bytes in a GGUF file by searching for its first 64 bytes. */
async function findTensorOffset(file: Uint8Array, info: TensorInfo): Promise<number> {
  const head = (await info.read()).subarray(0, 64);
  outer: for (let i = 0; i + head.length <= file.length; i += 4) {
    for (let k = 0; k < head.length; k++) if (file[i + k] !== head[k]) continue outer;
    return i;
  }
  throw new Error(`tensor ${info.name} not found in the file`);
}

test('overflowing activations reject instead of becoming tokens', async () => {
  const checkpoint = await openCheckpoint(SDAR);
  try {
    const overflowing = scaledCheckpoint(checkpoint, 1e18, 'F32');
    const engine = await WasmEngine.load(overflowing, { ...quiet, threads: 1, contextLength: 64 });
    const model = new Model(engine, null, overflowing.config);
    try {
      const error = await rejects(model.generate(PROMPT, GREEDY).result, NumericError, 'NON_FINITE_OUTPUT');
      assert.match(error.message, /NaN or infinite/);
    } finally {
      await model.dispose();
    }
  } finally {
    await checkpoint.close();
  }
});

// ---------------------------------------------------------------------------------------------------
// Determinism

for (const [label, path] of [['block-causal', SDAR], ['full attention', LLADA]]) {
  test(`greedy ${label} output is the same for 1, 2 and 3 threads`, async () => {
    const outputs: number[][] = [];
    for (const threads of [1, 2, 3]) {
      await withModel(path, { threads, contextLength: 64 }, async (model) => {
        for (let run = 0; run < 2; run++) outputs.push((await model.generate(PROMPT, GREEDY).result).tokens);
      });
    }
    assert.ok(outputs[0].length > 0);
    for (let i = 1; i < outputs.length; i++) assert.equal(outputs[i], outputs[0], `run ${i % 2} with ${Math.floor(i / 2) + 1} threads`);
  });
}

test.run();
