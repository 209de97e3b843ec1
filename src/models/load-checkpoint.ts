// Opens a checkpoint (a GGUF file, a Hugging Face folder with safetensors, or GGUF bytes in memory) as a
// Checkpoint: normalised config, GGUF-named tensor records whose bytes are read on demand, tokenizer files
// and chat template. Every tensor the config implies is checked for presence, shape and type.

import { ModelFormatError, UnsupportedModelError } from '../errors.js';
import { readGguf, type GgufFile } from '../formats/gguf.js';
import { ENGINE_TENSOR_TYPES, findNonFinite, ggmlTypeByName, isEngineTensorType } from '../formats/quant.js';
import {
  checkShards,
  hfToGgufName,
  parseSafetensorsIndex,
  readSafetensors,
  type SafetensorsFile,
} from '../formats/safetensors.js';
import { isModelFolder, localFolder, urlFolder, type ModelFolder } from '../formats/folder.js';
import { bufferSource, openFileSource, openSource, type ByteSource } from '../formats/source.js';
import { configFromGguf, configFromHf } from './config.js';
import { addMoeExpectedTensors, isMoeLayer, splitFusedQkv, stackExperts } from './moe-tensors.js';
import type { Checkpoint, ModelConfig, TensorInfo, TensorType } from './types.js';

const GGUF_MAGIC = [0x47, 0x47, 0x55, 0x46]; // "GGUF"

/**
 * Opens a checkpoint from a path (a `.gguf` file or a Hugging Face folder), a URL of a GGUF file or of a
 * Hugging Face folder (ending in `/`), a ModelFolder, or the bytes of a GGUF file. The caller must
 * `close()` it to release file handles.
 */
export async function openCheckpoint(input: string | URL | ArrayBuffer | Uint8Array | ModelFolder): Promise<Checkpoint> {
  if (input instanceof ArrayBuffer || input instanceof Uint8Array) {
    return openGgufCheckpoint(bufferSource(input));
  }
  if (isModelFolder(input)) return openHfFolder(input);
  const text = input.toString();
  const isRemote = /^https?:\/\//i.test(text);
  if (isRemote && new URL(text).pathname.endsWith('/')) return openHfFolder(urlFolder(text));
  if (isRemote) {
    const source = await openSource(input);
    return withCloseOnError(source, () => openGgufCheckpoint(source));
  }

  const path = text.startsWith('file:') ? (await import('node:url')).fileURLToPath(text) : text;
  const fs = await import('node:fs/promises');
  const stat = await fs.stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') throw new ModelFormatError('MISSING_FILE', `model path not found: ${path}`, { cause: error });
    throw error;
  });
  if (stat.isDirectory()) return openHfFolder(path);

  // A file: GGUF by its magic; config.json or a .safetensors file stand for their folder.
  const source = await openFileSource(path);
  const head = source.size >= 4 ? await source.read(0, 4) : new Uint8Array(0);
  if (GGUF_MAGIC.every((byte, i) => head[i] === byte)) return withCloseOnError(source, () => openGgufCheckpoint(source));
  await source.close();
  const { basename, dirname } = await import('node:path');
  const base = basename(path);
  if (base === 'config.json' || base.endsWith('.safetensors') || base.endsWith('.safetensors.index.json')) {
    return openHfFolder(dirname(path));
  }
  throw new ModelFormatError(
    'INVALID_GGUF',
    `${path} is neither a GGUF file (its first bytes are not "GGUF") nor part of a Hugging Face model folder. ` +
      'Pass a .gguf file or a folder with config.json and model.safetensors.',
  );
}

async function withCloseOnError<T>(source: ByteSource, open: () => Promise<T>): Promise<T> {
  try {
    return await open();
  } catch (error) {
    await source.close();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------------
// GGUF

async function openGgufCheckpoint(source: ByteSource): Promise<Checkpoint> {
  const gguf: GgufFile = await readGguf(source);
  const tensors = new Map<string, TensorInfo>();
  const unsupported = new Map<string, string>();
  for (const t of gguf.tensors) {
    if (!isEngineTensorType(t.type.name)) {
      unsupported.set(t.name, t.type.name);
      continue;
    }
    const { offset, byteLength } = t;
    const info: TensorInfo = {
      name: t.name,
      type: t.type.name,
      shape: t.shape,
      byteLength,
      read: () => readFinite(source, t.name, t.type.name as TensorType, offset, byteLength),
    };
    tensors.set(t.name, withReadRange(info, (begin, length, into) => readFinite(source, t.name, t.type.name as TensorType, offset + begin, length, begin, into)));
  }
  const config = configFromGguf(gguf.metadata, gguf.tensors);
  if (config.fusedQkv) splitFusedQkv(config, tensors, source.name);
  validateTensors(config, tensors, unsupported, source.name);

  const template = gguf.metadata['tokenizer.chat_template'];
  return {
    config,
    tensors,
    tokenizerJson: null,
    tokenizerConfigJson: null,
    chatTemplate: typeof template === 'string' ? template : null,
    ggufMetadata: gguf.metadata,
    close: () => source.close(),
  };
}

/**
 * Sets `info.readRange` as a property that object spread does not copy, so that a record made as
 * `{ ...info, read }` with another `read` is read through that `read`.
 */
function withReadRange(info: TensorInfo, readRange: NonNullable<TensorInfo['readRange']>): TensorInfo {
  Object.defineProperty(info, 'readRange', { value: readRange, enumerable: false, writable: true, configurable: true });
  return info;
}

/**
 * Reads byteLength bytes of tensor `name` at offset and throws NON_FINITE_WEIGHT if a weight or
 * quantisation scale is NaN or infinite, which would turn every forward into NaN. The bytes start
 * `tensorByte` bytes into the tensor, which places the reported element or block index.
 */
async function readFinite(
  source: ByteSource, name: string, type: TensorType, offset: number, byteLength: number, tensorByte = 0, into?: Uint8Array,
): Promise<Uint8Array> {
  const bytes = await source.read(offset, byteLength, into);
  const found = findNonFinite(type, bytes);
  if (found >= 0) {
    const unit = type === 'F32' || type === 'F16' || type === 'BF16' ? 'element' : `${type} block`;
    const index = found + tensorByte / (ggmlTypeByName(type)?.blockBytes ?? 1);
    throw new ModelFormatError(
      'NON_FINITE_WEIGHT',
      `${source.name}: tensor "${name}" (${type}) holds NaN or infinity at ${unit} ${index}. The checkpoint is ` +
        'corrupt or was exported with an overflow; export or download it again.',
    );
  }
  return bytes;
}

// ---------------------------------------------------------------------------------------------------
// Hugging Face folder

async function openHfFolder(location: string | ModelFolder): Promise<Checkpoint> {
  const reader = typeof location === 'string' ? localFolder(location) : location;
  const folder = reader.name;
  const configText = await reader.readText('config.json');
  if (configText === null) {
    throw new ModelFormatError(
      'MISSING_FILE',
      `${folder} has no config.json. A Hugging Face model folder needs config.json and model.safetensors ` +
        '(or model.safetensors.index.json with its shards).',
    );
  }
  const generationText = await reader.readText('generation_config.json');
  const tokenizerConfigText = await reader.readText('tokenizer_config.json');
  const tokenizerText = await reader.readText('tokenizer.json');
  const templateFile = await reader.readText('chat_template.jinja');

  const sources: ByteSource[] = [];
  const closeAll = async () => {
    await Promise.all(sources.map((s) => s.close()));
  };
  try {
    const files = await openSafetensorsFiles(reader, sources);
    const tensors = new Map<string, TensorInfo>();
    for (const file of files) {
      for (const t of file.tensors) {
        const name = hfToGgufName(t.name);
        if (name === null) continue;
        if (tensors.has(name)) {
          throw new ModelFormatError('INVALID_SAFETENSORS', `${folder}: two tensors map to the GGUF name "${name}" (one is "${t.name}")`);
        }
        const { source, offset, byteLength } = t;
        const read = () => readFinite(source, t.name, t.type, offset, byteLength);
        const readRange = (begin: number, length: number, into?: Uint8Array) => readFinite(source, t.name, t.type, offset + begin, length, begin, into);
        tensors.set(name, withReadRange({ name, type: t.type, shape: t.shape, byteLength, read }, readRange));
      }
    }
    stackExperts(tensors, folder);
    const config = configFromHf(configText, generationText, tokenizerConfigText, tokenizerText, tensors);
    if (config.fusedQkv) splitFusedQkv(config, tensors, folder);
    validateTensors(config, tensors, new Map(), folder);

    let chatTemplate = templateFile;
    if (chatTemplate === null && tokenizerConfigText !== null) {
      const template = (JSON.parse(tokenizerConfigText) as { chat_template?: unknown }).chat_template;
      if (typeof template === 'string') chatTemplate = template;
      // Some tokenizer_config.json files list several named templates; use the default one.
      else if (Array.isArray(template)) {
        const entry = (template as Array<{ name?: unknown; template?: unknown }>).find((t) => t?.name === 'default');
        if (typeof entry?.template === 'string') chatTemplate = entry.template;
      }
    }
    return {
      config,
      tensors,
      tokenizerJson: tokenizerText,
      tokenizerConfigJson: tokenizerConfigText,
      chatTemplate,
      close: closeAll,
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/** Opens `model.safetensors`, or every shard named by `model.safetensors.index.json`. */
async function openSafetensorsFiles(reader: ModelFolder, sources: ByteSource[]): Promise<SafetensorsFile[]> {
  const folder = reader.name;
  const indexName = `${folder.replace(/\/$/, '')}/model.safetensors.index.json`;
  const indexText = await reader.readText('model.safetensors.index.json');
  if (indexText === null) {
    const source = await reader.open('model.safetensors').catch((error: unknown) => {
      if (error instanceof ModelFormatError && error.code === 'MISSING_FILE') {
        throw new ModelFormatError(
          'MISSING_FILE',
          `${folder} has neither model.safetensors nor model.safetensors.index.json`,
          { cause: error },
        );
      }
      throw error;
    });
    sources.push(source);
    return [await readSafetensors(source)];
  }
  const { shards, weightMap } = parseSafetensorsIndex(indexText, indexName);
  const parsed = new Map<string, SafetensorsFile>();
  for (const shard of shards) {
    const source = await reader.open(shard);
    sources.push(source);
    parsed.set(shard, await readSafetensors(source));
  }
  checkShards(indexName, weightMap, parsed);
  return [...parsed.values()];
}

// ---------------------------------------------------------------------------------------------------
// Shape validation

/** Lists every tensor the config implies, with its row-major shape ([out, in] for linear layers). */
export function expectedTensors(config: ModelConfig): Map<string, number[]> {
  const { hidden, vocab, nHeads, nKvHeads, headDim, ffn } = config;
  const qWidth = nHeads * headDim;
  const kvWidth = nKvHeads * headDim;
  const expected = new Map<string, number[]>();
  expected.set('token_embd.weight', [vocab, hidden]);
  expected.set('output_norm.weight', [hidden]);
  if (!config.tiedEmbeddings) expected.set('output.weight', [vocab, hidden]);
  for (let i = 0; i < config.nLayers; i++) {
    const p = `blk.${i}.`;
    expected.set(`${p}attn_norm.weight`, [hidden]);
    expected.set(`${p}attn_q.weight`, [qWidth, hidden]);
    expected.set(`${p}attn_k.weight`, [kvWidth, hidden]);
    expected.set(`${p}attn_v.weight`, [kvWidth, hidden]);
    if (config.qkvBias) {
      expected.set(`${p}attn_q.bias`, [qWidth]);
      expected.set(`${p}attn_k.bias`, [kvWidth]);
      expected.set(`${p}attn_v.bias`, [kvWidth]);
    }
    if (config.qkNorm) {
      expected.set(`${p}attn_q_norm.weight`, [headDim]);
      expected.set(`${p}attn_k_norm.weight`, [headDim]);
    }
    expected.set(`${p}attn_output.weight`, [hidden, qWidth]);
    expected.set(`${p}ffn_norm.weight`, [hidden]);
    if (isMoeLayer(config, i)) {
      addMoeExpectedTensors(config, i, expected);
      continue;
    }
    expected.set(`${p}ffn_gate.weight`, [ffn, hidden]);
    expected.set(`${p}ffn_up.weight`, [ffn, hidden]);
    expected.set(`${p}ffn_down.weight`, [hidden, ffn]);
  }
  return expected;
}

/**
 * Checks that every tensor the config implies is present, has the implied shape and a type the engine
 * loads. `unsupported` maps names of tensors left out of `tensors` to their type names. Tensors that the
 * config does not use are ignored.
 */
export function validateTensors(
  config: ModelConfig,
  tensors: ReadonlyMap<string, TensorInfo>,
  unsupported: ReadonlyMap<string, string>,
  where: string,
): void {
  for (const [name, shape] of expectedTensors(config)) {
    const unsupportedType = unsupported.get(name);
    if (unsupportedType !== undefined) {
      throw new UnsupportedModelError(
        'UNSUPPORTED_TENSOR',
        `${where}: tensor "${name}" has type ${unsupportedType}, which the engine cannot load. Supported types: ` +
          `${ENGINE_TENSOR_TYPES.join(', ')}. Re-quantise the model, for example to Q4_K_M or Q8_0.`,
      );
    }
    const tensor = tensors.get(name);
    if (!tensor) {
      throw new ModelFormatError(
        'MISSING_TENSOR',
        `${where}: tensor "${name}" is missing; a ${config.family} model with this config needs it with shape [${shape.join(', ')}]`,
      );
    }
    if (tensor.shape.length !== shape.length || tensor.shape.some((d, i) => d !== shape[i])) {
      throw new ModelFormatError(
        'SHAPE_MISMATCH',
        `${where}: tensor "${name}" has shape [${tensor.shape.join(', ')}], expected [${shape.join(', ')}] from the config ` +
          `(hidden ${config.hidden}, heads ${config.nHeads}/${config.nKvHeads} x ${config.headDim}, ffn ${config.ffn}, vocab ${config.vocab})`,
      );
    }
  }
}
