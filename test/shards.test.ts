// Memory shards: a model forced over several small wasm memories must give the logits of one memory,
// with 1 and 2 threads. The cases cover a dense model with a tied LM head, an MoE model and Q4_0 weights.
// Planning must reject what cannot fit.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ModelTooLargeError } from '../src/errors.js';
import { openCheckpoint } from '../src/models/load-checkpoint.js';
import type { AttentionKind, Checkpoint } from '../src/models/types.js';
import { WasmEngine, type EngineOptions } from '../src/runtime/engine.js';
import { planLayout, type LayoutOptions } from '../src/runtime/layout.js';
import { planShards } from '../src/runtime/shards.js';

const FIXTURES = new URL('./fixtures/', import.meta.url);
const path = (relative: string) => new URL(relative, FIXTURES).pathname;
const readJson = (relative: string) => JSON.parse(readFileSync(path(relative), 'utf8'));

/** Returns the smallest shard budget that still fits the embedding, the LM head and each layer alone. */
function smallestBudget(checkpoint: Checkpoint, options: LayoutOptions): number {
  const { config, tensors } = checkpoint;
  const alone = (layers: [number, number], embedding: boolean, head: boolean) => planLayout(config, tensors, { ...options, layers, embedding, head }).totalBytes;
  let budget = Math.max(alone([0, 0], true, false), alone([0, 0], false, true));
  for (let l = 0; l < config.nLayers; l++) budget = Math.max(budget, alone([l, l + 1], false, false));
  return budget;
}

/** Logits of every row of `ids`, block by block, and the log lines of the load. */
async function run(model: string, ids: number[], attention: AttentionKind, blockSize: number, options: EngineOptions) {
  const lines: string[] = [];
  const checkpoint = await openCheckpoint(path(model));
  const engine = await WasmEngine.load(checkpoint, { contextLength: 128, maxRows: 128, log: (line) => lines.push(line), ...options });
  const logits: Float32Array[] = [];
  try {
    const step = attention === 'block-causal' ? blockSize : ids.length;
    for (let start = 0; start < ids.length; start += step) {
      const tokens = Int32Array.from(ids.slice(start, start + step));
      const result = await engine.forward({ tokens, start, attention, blockSize, logitRows: Int32Array.from(tokens, (_, i) => i) });
      logits.push(result.logits.slice());
    }
  } finally {
    await engine.dispose();
    await checkpoint.close();
  }
  return { logits, lines };
}

const models = [
  // tied LM head: the last shard gets its own copy of token_embd
  { name: 'fastdllm-tiny', model: 'fastdllm-tiny/fastdllm-tiny-f32.gguf', reference: 'fastdllm-tiny/logits-f32.json', key: 'block_causal', attention: 'block-causal' as const, blockSize: 32 },
  { name: 'moe-bailing', model: 'moe-bailing/moe-bailing-F32.gguf', reference: 'moe-bailing/logits-F32-block8.json', key: '', attention: 'block-causal' as const, blockSize: 8 },
  { name: 'small-qwen3 Q4_0', model: 'small-qwen3/small-qwen3-Q4_0.gguf', reference: 'small-qwen3/logits-Q4_0.json', key: '', attention: 'causal' as const, blockSize: 1 },
];

for (const m of models) {
  test(`${m.name}: shards give the logits of one memory`, async () => {
    const reference = readJson(m.reference);
    const ids: number[] = m.key ? reference[m.key].ids ?? reference.ids : reference.ids;
    const checkpoint = await openCheckpoint(path(m.model));
    const options = { threads: 2, contextLength: 128, maxRows: 128, maxLogitRows: 128 };
    assert.is(planShards(checkpoint.config, checkpoint.tensors, options).length, 1);
    const maxShardBytes = smallestBudget(checkpoint, options);
    await checkpoint.close();

    const baseline = await run(m.model, ids, m.attention, m.blockSize, { threads: 1 });
    assert.is(baseline.lines.filter((line) => line.includes('memory shards')).length, 0);
    for (const threads of [1, 2]) {
      const sharded = await run(m.model, ids, m.attention, m.blockSize, { threads, maxShardBytes });
      const description = sharded.lines.find((line) => line.includes('memory shards'));
      assert.ok(description, `no shard log line in ${JSON.stringify(sharded.lines)}`);
      const count = Number(/(\d+) memory shards/.exec(description!)![1]);
      assert.ok(count >= 3, description);
      assert.match(description!, /embedding/);
      assert.match(description!, /LM head/);
      sharded.logits.forEach((block, b) => {
        assert.equal(Array.from(block), Array.from(baseline.logits[b]), `block ${b}, ${threads} thread(s)`);
      });
    }
  });
}

test('shard planning covers every layer once, in order', async () => {
  const checkpoint = await openCheckpoint(path('small-qwen3/small-qwen3-Q4_0.gguf'));
  try {
    const options = { threads: 1, contextLength: 128, maxRows: 128, maxLogitRows: 128 };
    const budget = smallestBudget(checkpoint, options);
    const layouts = planShards(checkpoint.config, checkpoint.tensors, options, { maxShardBytes: budget });
    assert.ok(layouts.length >= 3, `${layouts.length} shards`);
    const layers = layouts.flatMap((layout) => layout.layers.map((_, i) => layout.firstLayer + i));
    assert.equal(layers, Array.from({ length: checkpoint.config.nLayers }, (_, i) => i));
    assert.ok(layouts[0].embeds && layouts.slice(1).every((layout) => !layout.embeds));
    assert.ok(layouts[layouts.length - 1].head && layouts.slice(0, -1).every((layout) => !layout.head));
    assert.ok(layouts.every((layout) => layout.totalBytes <= budget));
  } finally {
    await checkpoint.close();
  }
});

test('shard planning rejects what cannot fit', async () => {
  const checkpoint = await openCheckpoint(path('small-qwen3/small-qwen3-Q4_0.gguf'));
  try {
    const options = { threads: 1, contextLength: 128, maxRows: 128, maxLogitRows: 128 };
    const whole = planShards(checkpoint.config, checkpoint.tensors, options)[0].totalBytes;
    // a budget below one layer with its activations
    const tiny = (() => { try { planShards(checkpoint.config, checkpoint.tensors, options, { maxShardBytes: 4096 }); } catch (error) { return error; } })();
    assert.instance(tiny, ModelTooLargeError);
    assert.match((tiny as Error).message, /splitting the model over several memories cannot help/);
    // a total limit below the model
    const total = (() => { try { planShards(checkpoint.config, checkpoint.tensors, options, { maxMemoryBytes: Math.floor(whole / 2) }); } catch (error) { return error; } })();
    assert.instance(total, ModelTooLargeError);
    assert.match((total as Error).message, /over the limit/);
  } finally {
    await checkpoint.close();
  }
});

test.run();
