// A Cloudflare Worker that generates text with the embedded model on one thread. The kernels arrive as
// a compiled wasm module import (Workers may not compile wasm bytes at run time) and the model files as
// data and text modules, so nothing is fetched. build.mjs bundles this file and lists those modules.
import { loadModel, memoryFolder } from 'dllm-wasm';
import kernelModule from './dllm-single.wasm';
import config from './model/config.json.txt';
import tokenizer from './model/tokenizer.json.txt';
import tokenizerConfig from './model/tokenizer_config.json.txt';
import weights from './model/model.safetensors.bin';

// Loaded on the first request and kept for the isolate's lifetime.
let modelPromise = null;

function getModel() {
  modelPromise ??= loadModel(
    memoryFolder({ 'config.json': config, 'tokenizer.json': tokenizer, 'tokenizer_config.json': tokenizerConfig, 'model.safetensors': weights }, 'embedded model'),
    { kernelModule, threads: 1, contextLength: 512 },
  );
  return modelPromise;
}

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const prompt = url.searchParams.get('prompt') ?? 'Once upon a time';
    const maxTokens = Number(url.searchParams.get('max_tokens') ?? 32);
    const model = await getModel();
    const result = await model.generate(prompt, { maxTokens }).result;
    return Response.json({
      text: result.text,
      tokens: result.tokens.length,
      threads: model.engine.threads,
      wasmMemoryBytes: model.engine.layout.totalBytes,
    });
  },
};
