// The synthetic GGUF writer (tools/synth/): files it writes open as checkpoints with the requested shape,
// types and mask token, are byte-for-byte reproducible, and run through the engine.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openCheckpoint } from '../src/models/load-checkpoint.js';
import { WasmEngine } from '../src/runtime/engine.js';
import { modelWeightBytes, writeSyntheticModel, type ModelShape } from '../tools/synth/synth-model.js';

const folder = mkdtempSync(join(tmpdir(), 'dllm-synth-test-'));
const shape = (arch: 'qwen2' | 'qwen3', tied: boolean): ModelShape => ({
  arch, hidden: 64, layers: 2, heads: 4, kvHeads: 2, headDim: 16, ffn: 96, vocab: 67, tied, context: 256, ropeTheta: 10000,
});

for (const arch of ['qwen2', 'qwen3'] as const) {
  for (const type of ['F32', 'Q8_0', 'Q4_0'] as const) {
    test(`${arch} ${type} opens with its shape`, async () => {
      const tied = arch === 'qwen2';
      const path = join(folder, `${arch}-${type}.gguf`);
      const bytes = writeSyntheticModel(path, shape(arch, tied), type, 3);
      assert.ok(bytes > modelWeightBytes(shape(arch, tied), type), 'file holds the weights and a header');
      const checkpoint = await openCheckpoint(path);
      try {
        const c = checkpoint.config;
        assert.equal([c.architecture, c.hidden, c.nLayers, c.nHeads, c.nKvHeads, c.headDim, c.ffn, c.vocab], [arch, 64, 2, 4, 2, 16, 96, 67]);
        assert.is(c.maskTokenId, 66);
        assert.equal(c.stopTokenIds, []);
        assert.is(c.tiedEmbeddings, tied);
        assert.is(c.qkvBias, arch === 'qwen2');
        assert.is(c.qkNorm, arch === 'qwen3');
        assert.is(checkpoint.tensors.get('blk.1.ffn_down.weight')?.type, type);
        assert.equal(checkpoint.tensors.get('blk.1.ffn_down.weight')?.shape, [64, 96]);
        assert.is(checkpoint.tensors.get('output_norm.weight')?.type, 'F32');
      } finally {
        await checkpoint.close();
      }
    });
  }
}

test('same seed writes the same bytes', () => {
  const a = join(folder, 'a.gguf'), b = join(folder, 'b.gguf'), c = join(folder, 'c.gguf');
  writeSyntheticModel(a, shape('qwen2', true), 'Q4_0', 9);
  writeSyntheticModel(b, shape('qwen2', true), 'Q4_0', 9);
  writeSyntheticModel(c, shape('qwen2', true), 'Q4_0', 10);
  assert.ok(readFileSync(a).equals(readFileSync(b)), 'seed 9 twice');
  assert.not.ok(readFileSync(a).equals(readFileSync(c)), 'seed 9 and 10');
});

test('synthetic Q8_0 model runs on both matmul paths', async () => {
  const path = join(folder, 'run.gguf');
  writeSyntheticModel(path, shape('qwen2', true), 'Q8_0', 5);
  const outputs: Float32Array[] = [];
  for (const int8 of [false, true]) {
    const checkpoint = await openCheckpoint(path);
    const engine = await WasmEngine.load(checkpoint, { threads: 2, contextLength: 64, int8, log: () => {} });
    const tokens = Int32Array.from({ length: 12 }, (_, i) => (i * 5) % 66);
    const result = await engine.forward({ tokens, start: 0, attention: 'causal', logitRows: Int32Array.from(tokens, (_, i) => i) });
    outputs.push(result.logits.slice());
    await engine.dispose();
    await checkpoint.close();
  }
  let worst = 0;
  for (let i = 0; i < outputs[0].length; i++) {
    assert.ok(Number.isFinite(outputs[0][i]), `f32 logit ${i} is ${outputs[0][i]}`);
    assert.ok(Number.isFinite(outputs[1][i]), `int8 logit ${i} is ${outputs[1][i]}`);
    worst = Math.max(worst, Math.abs(outputs[0][i] - outputs[1][i]));
  }
  assert.ok(worst < 0.15, `int8 and f32 activations differ by ${worst}`);
});

test.after(() => rmSync(folder, { recursive: true, force: true }));

test.run();
