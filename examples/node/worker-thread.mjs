// Runs dllm-wasm inside a worker_threads worker, so that the main thread's event loop stays free (a
// server, say). The worker's forward blocks at barriers with its own compute workers; only messages
// cross to the main thread.
//   node examples/node/worker-thread.mjs [model-folder-or-gguf] [prompt]
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';

if (isMainThread) {
  const [model, prompt = 'Once upon a time'] = process.argv.slice(2);
  const worker = new Worker(new URL(import.meta.url), { workerData: { model, prompt } });
  const ticker = setInterval(() => process.stderr.write('.'), 100); // the main loop keeps running
  worker.on('message', (message) => {
    if (message.type === 'text') process.stdout.write(message.text);
    if (message.type === 'done') {
      console.log(`\n[${message.threads} threads, ${message.tokensPerSecond.toFixed(1)} tokens/s]`);
    }
  });
  worker.on('error', (error) => {
    console.error(`The model worker failed: ${error.stack ?? error}`);
    process.exitCode = 1;
  });
  worker.on('exit', () => clearInterval(ticker));
} else {
  const { loadModel } = await import('dllm-wasm');
  const model = await loadModel(workerData.model, { threads: 2 });
  const generation = model.generate(workerData.prompt, { maxTokens: 32 });
  for await (const event of generation) {
    if (event.type === 'text') parentPort.postMessage({ type: 'text', text: event.text });
  }
  const { stats } = await generation.result;
  parentPort.postMessage({ type: 'done', threads: model.engine.threads, tokensPerSecond: stats.tokensPerSecond });
  await model.dispose();
}
