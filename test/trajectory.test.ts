// Greedy diffusion trajectories of llama.cpp's llama-diffusion-cli (an independent implementation) on the
// tiny dream and llada models. Only the `greedy_topk1` cases are compared: with top-k 1 every confidence
// is 1, so positions commit left to right and the output depends on no RNG.
// - Block cases run the llada strategy. llama.cpp counts its blocks over prompt + generation
//   (48 / block length) and gives each `steps / blocks` steps, so the engine runs the same per-block
//   step count through `stepsPerBlock`.
// - Timestep (eps) cases run the dream strategy with maskgit_plus over one block of 32, and compare
//   every intermediate canvas too, which pins the number of positions each step commits.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { loadModel } from '../src/index.js';
import type { GenerateOptions } from '../src/model.js';

const FIXTURES = new URL('./fixtures/tiny/', import.meta.url);
const runs = JSON.parse(readFileSync(new URL('diffusion_cli_tiny_fa_off.json', FIXTURES), 'utf8'));
const MODELS: Record<string, string> = { dream: 'fixtures/tiny-dream-f32.gguf', llada: 'fixtures/tiny-llada-f32.gguf' };

for (const family of ['dream', 'llada']) {
  for (const run of runs.results[family]) {
    const params = run.effective_params;
    const isBlock = String(run.case).startsWith('greedy_topk1/block');
    const isEps = String(run.case).startsWith('greedy_topk1/eps');
    if (!isBlock && !isEps) continue;
    test(`${family} ${run.case}`, async () => {
      const canvasLength = run.input_ids.length + run.output_ids.length;
      const model = await loadModel(new URL(MODELS[family], FIXTURES).pathname, { threads: 1 });
      try {
        const common = { maxTokens: run.output_ids.length, temperature: 0, topK: 1, eosEarlyStop: isEps ? false : undefined };
        const options: GenerateOptions = isBlock
          ? { ...common, strategy: 'llada', blockLength: params.block_length, stepsPerBlock: params.steps / (canvasLength / params.block_length), threshold: null }
          : { ...common, strategy: 'dream', algorithm: 'maskgit_plus', steps: params.steps, eps: params.eps, blockLength: run.output_ids.length };
        const canvases: number[][] = [];
        const generation = model.generate(run.input_ids, { ...options, onStep: (event) => canvases.push(Array.from(event.canvas)) });
        const result = await generation.result;
        const expected: number[] = run.output_ids;
        assert.ok(result.tokens.length >= 8, `only ${result.tokens.length} tokens generated`);
        assert.equal(result.tokens, expected.slice(0, result.tokens.length), 'generated ids');
        if (result.tokens.length < expected.length) {
          assert.ok(model.config.stopTokenIds.includes(expected[result.tokens.length]), 'generation ended at a stop id');
        }
        if (isEps) {
          // step_states[i] is the canvas before step i. Steps that commit nothing run no forward here.
          const before = run.step_states.map((state: number[]) => JSON.stringify(state));
          const seen = canvases.map((canvas) => JSON.stringify(canvas));
          for (const canvas of seen.slice(0, -1)) assert.ok(before.includes(canvas), `canvas ${canvas} is not one of llama.cpp's states`);
          assert.equal(canvases[canvases.length - 1], expected, 'final canvas');
        }
      } finally {
        await model.dispose();
      }
    });
  }
}

test.run();
