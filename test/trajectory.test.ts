// Greedy diffusion trajectories of llama.cpp's llama-diffusion-cli (an independent implementation) on the
// tiny dream and llada models. Only the `greedy_topk1` block-schedule cases are compared: with top-k 1
// every confidence is 1, so positions commit left to right and the output depends on no RNG. llama.cpp
// counts its blocks over prompt + generation (48 / block length) and gives each `steps / blocks` steps,
// so the engine runs the same per-block step count through `stepsPerBlock`.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadModel } from '../src/index.js';

const FIXTURES = new URL('./fixtures/tiny/', import.meta.url);
const runs = JSON.parse(readFileSync(new URL('diffusion_cli_tiny_fa_off.json', FIXTURES), 'utf8'));
const MODELS: Record<string, string> = { dream: 'fixtures/tiny-dream-f32.gguf', llada: 'fixtures/tiny-llada-f32.gguf' };

for (const family of ['dream', 'llada']) {
  for (const run of runs.results[family]) {
    const params = run.effective_params;
    if (!String(run.case).startsWith('greedy_topk1/block')) continue;
    test(`${family} ${run.case}`, async () => {
      const canvasLength = run.input_ids.length + run.output_ids.length;
      const blockCount = canvasLength / params.block_length;
      const model = await loadModel(new URL(MODELS[family], FIXTURES).pathname, { threads: 1 });
      try {
        const generation = model.generate(run.input_ids, {
          maxTokens: run.output_ids.length,
          blockLength: params.block_length,
          stepsPerBlock: params.steps / blockCount,
          threshold: null,
          temperature: 0,
          topK: 1,
        });
        const result = await generation.result;
        const expected: number[] = run.output_ids;
        assert.ok(result.tokens.length >= 8, `only ${result.tokens.length} tokens generated`);
        assert.equal(result.tokens, expected.slice(0, result.tokens.length), 'generated ids');
        if (result.tokens.length < expected.length) {
          assert.ok(model.config.stopTokenIds.includes(expected[result.tokens.length]), 'generation ended at a stop id');
        }
      } finally {
        await model.dispose();
      }
    });
  }
}

test.run();
