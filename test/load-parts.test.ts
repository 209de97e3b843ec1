// Placing tensors through ranged reads into one reused buffer, and large ones part by part
// (EngineOptions.loadPartBytes). A model loaded that way, or in parts of 8 rows, must compute the logits
// of a model whose tensors are read whole, bit for bit. The cases cover every weight format the loader
// writes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ModelFormatError } from '../src/errors.js';
import { openCheckpoint } from '../src/models/load-checkpoint.js';
import { WasmEngine } from '../src/runtime/engine.js';
import { planLayout } from '../src/runtime/layout.js';
import { writeMatrixRows } from '../src/runtime/weights.js';

const FIXTURES = new URL('./fixtures/', import.meta.url);
const path = (relative: string) => new URL(relative, FIXTURES).pathname;

/** Logits of one forward over `tokens`, and how many ranged reads the load made. */
async function logitsOf(model: string, options: { int8: boolean; loadPartBytes?: number; whole?: boolean }) {
  const checkpoint = await openCheckpoint(path(model));
  let rangeReads = 0;
  for (const info of checkpoint.tensors.values()) {
    const readRange = info.readRange;
    if (options.whole) {
      delete info.readRange;
    } else if (readRange) {
      info.readRange = (begin, length, into) => {
        rangeReads++;
        return readRange.call(info, begin, length, into);
      };
    }
  }
  const engine = await WasmEngine.load(checkpoint, { threads: 1, contextLength: 32, log: () => {}, int8: options.int8, loadPartBytes: options.loadPartBytes });
  try {
    const tokens = Int32Array.from({ length: 12 }, (_, i) => (i * 37 + 5) % engine.config.vocab);
    const result = await engine.forward({ tokens, start: 0, attention: 'causal', logitRows: Int32Array.from(tokens, (_, i) => i) });
    return { logits: result.logits.slice(), rangeReads };
  } finally {
    await engine.dispose();
    await checkpoint.close();
  }
}

const cases: Array<{ model: string; int8: boolean }> = [
  { model: 'small-qwen3/small-qwen3-Q8_0.gguf', int8: false },   // q8_0 rows
  { model: 'small-qwen3/small-qwen3-Q8_0.gguf', int8: true },    // q8_0x4
  { model: 'small-qwen3/small-qwen3-Q4_0.gguf', int8: false },   // q4_0 rows
  { model: 'small-qwen3/small-qwen3-Q4_0.gguf', int8: true },    // q4_0x4
  { model: 'small-qwen3/small-qwen3-Q4_K_M.gguf', int8: false }, // dequantised to f32 panels
  { model: 'sdar-tiny/sdar-tiny-f32.gguf', int8: false },        // f32 panels
  { model: 'sdar-tiny/hf-bf16', int8: false },                   // bf16 from safetensors
];

for (const c of cases) {
  test(`${c.model.split('/')[1]}${c.int8 ? ' int8' : ''} loads alike in parts`, async () => {
    const whole = await logitsOf(c.model, { int8: c.int8, whole: true });
    const ranged = await logitsOf(c.model, { int8: c.int8 });
    const parts = await logitsOf(c.model, { int8: c.int8, loadPartBytes: 1 });
    assert.is(whole.rangeReads, 0, 'without readRange every tensor is read whole');
    assert.ok(parts.rangeReads > ranged.rangeReads, 'a part size of 1 byte reads tensors in more parts');
    assert.equal(Array.from(ranged.logits), Array.from(whole.logits), 'ranged reads into the reused buffer');
    assert.equal(Array.from(parts.logits), Array.from(whole.logits), 'parts of 8 rows');
  });
}

for (const model of ['moe-llada/moe-llada-Q8_0.gguf', 'moe-bailing/moe-bailing-F32.gguf']) {
  test(`${model.split('/')[1]} loads alike expert by expert`, async () => {
    const whole = await logitsOf(model, { int8: false, whole: true });
    const experts = await logitsOf(model, { int8: false });
    assert.is(whole.rangeReads, 0);
    assert.ok(experts.rangeReads > 0, 'expert tensors are read one expert at a time');
    assert.equal(Array.from(experts.logits), Array.from(whole.logits));
  });
}

test('parts start on a multiple of 8 rows', async () => {
  const checkpoint = await openCheckpoint(path('sdar-tiny/sdar-tiny-f32.gguf'));
  try {
    const layout = planLayout(checkpoint.config, checkpoint.tensors, { threads: 1, contextLength: 8, maxRows: 8, maxLogitRows: 8 });
    const info = checkpoint.tensors.get('blk.0.ffn_up.weight')!;
    const slot = layout.layers[0].up;
    const rowBytes = slot.cols * 4;
    const memory = new WebAssembly.Memory({ initial: Math.ceil(layout.totalBytes / 65536) });
    const target = { memory, q4Order: 'pairs' as const };
    const bytes = await info.readRange!(4 * rowBytes, 8 * rowBytes);
    assert.throws(() => writeMatrixRows(target, slot, info, bytes, 4), (error: unknown) => error instanceof ModelFormatError && /row 4/.test(error.message));
    assert.throws(() => writeMatrixRows(target, slot, info, bytes.subarray(1), 8), (error: unknown) => error instanceof ModelFormatError && /whole rows/.test(error.message));
  } finally {
    await checkpoint.close();
  }
});

test.run();
