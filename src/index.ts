// Public entry of dllm-wasm: load a checkpoint into the wasm engine, then generate or chat with it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './errors.js';
import { urlFolder, type ModelFolder } from './formats/folder.js';
import { Model } from './model.js';
import { openCheckpoint } from './models/load-checkpoint.js';
import type { Checkpoint } from './models/types.js';
import { WasmEngine, type EngineOptions } from './runtime/engine.js';
import { embeddedModelUrl } from './runtime/platform.js';
import { TextTokenizer } from './tokenizer.js';

export * from './errors.js';
export { Model } from './model.js';
export type { ForwardEngine, ForwardRequest, ForwardResult } from './models/engine-types.js';
export type { AttentionKind, ModelConfig } from './models/types.js';
export { WasmEngine, type EngineOptions, type LoadProgress } from './runtime/engine.js';
export { TextTokenizer } from './tokenizer.js';
export { memoryFolder, urlFolder, type FolderFiles, type ModelFolder } from './formats/folder.js';
export { detectRuntime, type RuntimeName } from './runtime/platform.js';

export type ModelSource = string | URL | ArrayBuffer | Uint8Array | ModelFolder;

export interface LoadModelOptions extends EngineOptions {}

/** Folder of the model that ships with the package, used when `loadModel` gets no source. */
export function embeddedModelPath(): string {
  const folder = fileURLToPath(embeddedModelUrl());
  if (!existsSync(folder)) {
    throw new ConfigError('MISSING_FIELD', `The embedded model is missing at ${folder}. Reinstall dllm-wasm or pass a model path.`);
  }
  return folder;
}

/** Returns the embedded model as a local folder on Node and Deno, or as a folder fetched over HTTP in browsers. */
function embeddedModelSource(): string | ModelFolder {
  const url = embeddedModelUrl();
  return url.protocol === 'file:' ? embeddedModelPath() : urlFolder(url);
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
 * of a GGUF file or of a folder (ending in `/`), a ModelFolder (urlFolder, memoryFolder) or an
 * ArrayBuffer holding a GGUF. Without a source it loads the small embedded model.
 */
export async function loadModel(source?: ModelSource, options: LoadModelOptions = {}): Promise<Model> {
  const checkpoint = await openCheckpoint(source ?? embeddedModelSource());
  try {
    const tokenizer = tokenizerOf(checkpoint);
    const engine = await WasmEngine.load(checkpoint, options);
    return new Model(engine, tokenizer, checkpoint.config);
  } finally {
    await checkpoint.close();
  }
}
