// Public entry of dllm-wasm: load a checkpoint into the wasm engine, then generate or chat with it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './errors.js';
import { Model } from './model.js';
import { openCheckpoint } from './models/load-checkpoint.js';
import type { Checkpoint } from './models/types.js';
import { WasmEngine, type EngineOptions } from './runtime/engine.js';
import { TextTokenizer } from './tokenizer.js';

export * from './errors.js';
export { Model } from './model.js';
export type { ForwardEngine, ForwardRequest, ForwardResult } from './models/engine-types.js';
export type { AttentionKind, ModelConfig } from './models/types.js';
export { WasmEngine, type EngineOptions, type LoadProgress } from './runtime/engine.js';
export { TextTokenizer } from './tokenizer.js';

export type ModelSource = string | URL | ArrayBuffer | Uint8Array;

export interface LoadModelOptions extends EngineOptions {}

/** Folder of the model that ships with the package, used when `loadModel` gets no source. */
export function embeddedModelPath(): string {
  // From dist/ the package root is one level up; from src/ (tests through tsx) too.
  const folder = fileURLToPath(new URL('../models/sdar-micro/', import.meta.url));
  if (!existsSync(folder)) {
    throw new ConfigError('MISSING_FIELD', `The embedded model is missing at ${folder}. Reinstall dllm-wasm or pass a model path.`);
  }
  return folder;
}

/** Builds the tokenizer a checkpoint carries: tokenizer.json for HF folders, the GGUF vocabulary otherwise. */
export function tokenizerOf(checkpoint: Checkpoint): TextTokenizer {
  if (checkpoint.tokenizerJson) {
    return TextTokenizer.fromHuggingFace(checkpoint.tokenizerJson, checkpoint.tokenizerConfigJson ?? '{}', {
      chatTemplate: checkpoint.chatTemplate ?? undefined,
    });
  }
  if (checkpoint.ggufMetadata) return TextTokenizer.fromGguf(checkpoint.ggufMetadata);
  throw new ConfigError('MISSING_FIELD', 'The checkpoint has no tokenizer: add tokenizer.json and tokenizer_config.json to the model folder.');
}

/**
 * Loads a model from a GGUF file, a Hugging Face folder (config.json, safetensors, tokenizer.json), a URL
 * or an ArrayBuffer holding a GGUF; with no source, the small embedded model.
 */
export async function loadModel(source?: ModelSource, options: LoadModelOptions = {}): Promise<Model> {
  const checkpoint = await openCheckpoint(source ?? embeddedModelPath());
  try {
    const tokenizer = tokenizerOf(checkpoint);
    const engine = await WasmEngine.load(checkpoint, options);
    return new Model(engine, tokenizer, checkpoint.config);
  } finally {
    await checkpoint.close();
  }
}
