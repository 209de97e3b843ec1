// Generates text with the embedded model on Deno, with a worker pool of two threads.
//   deno run --allow-read --allow-env main.ts [model-folder-or-gguf] [prompt]
// Deno resolves dllm-wasm from npm (import 'npm:dllm-wasm', or a package.json dependency as here).
import { loadModel } from 'dllm-wasm';

const [source, prompt = 'Once upon a time'] = Deno.args;
const model = await loadModel(source, { threads: 2 });
const generation = model.generate(prompt, { maxTokens: 32 });
for await (const event of generation) {
  if (event.type === 'text') await Deno.stdout.write(new TextEncoder().encode(event.text));
}
const { stats } = await generation.result;
console.log(`\n[${model.engine.threads} threads, ${stats.tokensPerSecond.toFixed(1)} tokens/s]`);
await model.dispose();
