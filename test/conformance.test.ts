// Logits of every fixture family, attention kind and weight format against llama.cpp (an independent
// implementation) and against float64 forwards on the exactly dequantised weights. Tolerances are the
// ones the fixtures were measured with: 1e-4 for F32 math against F32 or dequantised references.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { openCheckpoint } from '../src/models/load-checkpoint.js';
import type { AttentionKind } from '../src/models/types.js';
import { WasmEngine } from '../src/runtime/engine.js';
import { fixturePath, maxAbsDiff, readFixtureJson, sequenceLogits } from './support/logits.js';

interface Case {
  name: string;
  model: string;
  reference: string;
  attention: AttentionKind;
  blockSize?: number;
  logitsKey?: string;   // field of the reference that holds { logits } (the twins' block_causal / causal)
  tolerance: number;
  atLeast?: number;     // the engine must differ by more than this (BF16 against F32 references)
}

const cases: Case[] = [
  // SDAR-style twin (Qwen3 body, untied head): GGUF, HF F32 and HF BF16
  { name: 'sdar-tiny gguf block-causal', model: 'sdar-tiny/sdar-tiny-f32.gguf', reference: 'sdar-tiny/logits-f32.json', logitsKey: 'block_causal', attention: 'block-causal', blockSize: 4, tolerance: 1e-4 },
  { name: 'sdar-tiny gguf causal', model: 'sdar-tiny/sdar-tiny-f32.gguf', reference: 'sdar-tiny/logits-f32.json', logitsKey: 'causal', attention: 'causal', tolerance: 1e-4 },
  { name: 'sdar-tiny hf-f32 block-causal', model: 'sdar-tiny/hf-f32', reference: 'sdar-tiny/logits-f32.json', logitsKey: 'block_causal', attention: 'block-causal', blockSize: 4, tolerance: 1e-4 },
  { name: 'sdar-tiny hf-bf16 block-causal', model: 'sdar-tiny/hf-bf16', reference: 'sdar-tiny/logits-bf16.json', logitsKey: 'block_causal', attention: 'block-causal', blockSize: 4, tolerance: 1e-4 },
  { name: 'sdar-tiny hf-bf16 off the f32 logits', model: 'sdar-tiny/hf-bf16', reference: 'sdar-tiny/logits-f32.json', logitsKey: 'block_causal', attention: 'block-causal', blockSize: 4, tolerance: Infinity, atLeast: 0.01 },
  // Fast-dLLM v2-style twin (Qwen2 body, biases, tied head, B = 32)
  { name: 'fastdllm-tiny gguf block-causal', model: 'fastdllm-tiny/fastdllm-tiny-f32.gguf', reference: 'fastdllm-tiny/logits-f32.json', logitsKey: 'block_causal', attention: 'block-causal', blockSize: 32, tolerance: 1e-4 },
  { name: 'fastdllm-tiny hf-f32 causal', model: 'fastdllm-tiny/hf-f32', reference: 'fastdllm-tiny/logits-f32.json', logitsKey: 'causal', attention: 'causal', tolerance: 1e-4 },
  { name: 'fastdllm-tiny hf-f32 block-causal', model: 'fastdllm-tiny/hf-f32', reference: 'fastdllm-tiny/logits-f32.json', logitsKey: 'block_causal', attention: 'block-causal', blockSize: 32, tolerance: 1e-4 },
  { name: 'fastdllm-tiny hf-bf16 block-causal', model: 'fastdllm-tiny/hf-bf16', reference: 'fastdllm-tiny/logits-bf16.json', logitsKey: 'block_causal', attention: 'block-causal', blockSize: 32, tolerance: 1e-4 },
  // quantised GGUFs against float64 forwards on their dequantised weights, and against llama.cpp
  { name: 'small-qwen3 Q8_0 dequantised', model: 'small-qwen3/small-qwen3-Q8_0.gguf', reference: 'small-qwen3/reference-dequantized-Q8_0.json', attention: 'causal', tolerance: 1e-4 },
  { name: 'small-qwen3 Q8_0 llama.cpp', model: 'small-qwen3/small-qwen3-Q8_0.gguf', reference: 'small-qwen3/logits-Q8_0.json', attention: 'causal', tolerance: 0.15 },
  { name: 'small-qwen3 Q4_0 dequantised', model: 'small-qwen3/small-qwen3-Q4_0.gguf', reference: 'small-qwen3/reference-dequantized-Q4_0.json', attention: 'causal', tolerance: 1e-4 },
  { name: 'small-qwen3 Q4_K_M dequantised', model: 'small-qwen3/small-qwen3-Q4_K_M.gguf', reference: 'small-qwen3/reference-dequantized-Q4_K_M.json', attention: 'causal', tolerance: 1e-4 },
  { name: 'small-qwen3 Q4_K_M llama.cpp', model: 'small-qwen3/small-qwen3-Q4_K_M.gguf', reference: 'small-qwen3/logits-Q4_K_M.json', attention: 'causal', tolerance: 0.15 },
  { name: 'small-dream Q8_0 dequantised', model: 'small-dream/small-dream-Q8_0.gguf', reference: 'small-dream/reference-dequantized-Q8_0.json', attention: 'full', tolerance: 1e-4 },
  { name: 'small-dream Q4_0 dequantised', model: 'small-dream/small-dream-Q4_0.gguf', reference: 'small-dream/reference-dequantized-Q4_0.json', attention: 'full', tolerance: 1e-4 },
  { name: 'small-llada Q4_0 dequantised', model: 'small-llada/small-llada-Q4_0.gguf', reference: 'small-llada/reference-dequantized-Q4_0.json', attention: 'full', tolerance: 1e-4 },
  { name: 'small-llada Q4_0 llama.cpp', model: 'small-llada/small-llada-Q4_0.gguf', reference: 'small-llada/logits-Q4_0.json', attention: 'full', tolerance: 0.15 },
  // tiny F32 models of every arch, and F16/BF16 weights
  { name: 'tiny-dream full', model: 'tiny/fixtures/tiny-dream-f32.gguf', reference: 'tiny/logits/tiny-dream-prompt+32mask_fa_off.json', attention: 'full', tolerance: 1e-4 },
  { name: 'tiny-llada full', model: 'tiny/fixtures/tiny-llada-f32.gguf', reference: 'tiny/logits/tiny-llada-prompt+32mask_fa_off.json', attention: 'full', tolerance: 1e-4 },
  { name: 'tiny-qwen2 causal', model: 'tiny/fixtures/tiny-qwen2-f32.gguf', reference: 'tiny/logits/tiny-qwen2-prompt-causal_fa_off_kvf32.json', attention: 'causal', tolerance: 1e-4 },
  { name: 'tiny-qwen3 causal', model: 'tiny/fixtures/tiny-qwen3-f32.gguf', reference: 'tiny/logits/tiny-qwen3-prompt-causal_fa_off_kvf32.json', attention: 'causal', tolerance: 1e-4 },
  { name: 'tiny-qwen3 F16 dequantised', model: 'tiny/fixtures/tiny-qwen3-F16.gguf', reference: 'tiny/logits/tiny-qwen3-F16-reference-dequantized.json', attention: 'causal', tolerance: 1e-4 },
  { name: 'tiny-dream BF16 dequantised', model: 'tiny/fixtures/tiny-dream-BF16.gguf', reference: 'tiny/logits/tiny-dream-BF16-reference-dequantized.json', attention: 'full', tolerance: 1e-4 },
];

for (const threads of [1, 2]) {
  for (const c of cases) {
    // The 2-thread pass covers one case per family to keep the suite short; 1 vs 2 threads is bit-compared below.
    if (threads === 2 && !/gguf block-causal|Q8_0 dequantised|tiny-llada/.test(c.name)) continue;
    test(`${c.name}, ${threads} thread${threads > 1 ? 's' : ''}`, async () => {
      const reference = readFixtureJson(c.reference);
      const expected: number[][] = c.logitsKey ? reference[c.logitsKey].logits : reference.logits;
      const checkpoint = await openCheckpoint(fixturePath(c.model));
      const engine = await WasmEngine.load(checkpoint, { threads, contextLength: 128 });
      try {
        const actual = await sequenceLogits(engine, reference.ids, c.attention, c.blockSize ?? 1);
        const diff = maxAbsDiff(actual, expected);
        if (c.atLeast !== undefined) assert.ok(diff > c.atLeast, `max |diff| ${diff} should exceed ${c.atLeast}`);
        else assert.ok(diff <= c.tolerance, `max |diff| ${diff} exceeds ${c.tolerance}`);
      } finally {
        await engine.dispose();
        await checkpoint.close();
      }
    });
  }
}

test('1 and 2 threads give identical logits', async () => {
  const reference = readFixtureJson('small-qwen3/reference-dequantized-Q4_0.json');
  const outputs: number[][][] = [];
  for (const threads of [1, 2]) {
    const checkpoint = await openCheckpoint(fixturePath('small-qwen3/small-qwen3-Q4_0.gguf'));
    const engine = await WasmEngine.load(checkpoint, { threads, contextLength: 64 });
    outputs.push(await sequenceLogits(engine, reference.ids, 'block-causal', 4));
    await engine.dispose();
    await checkpoint.close();
  }
  assert.is(maxAbsDiff(outputs[0], outputs[1]), 0);
});

test.run();
