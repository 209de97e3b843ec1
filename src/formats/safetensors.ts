// safetensors reader: one `model.safetensors` file or a folder sharded by `model.safetensors.index.json`,
// with the Hugging Face tensor names mapped onto GGUF names (Qwen2/Qwen3-style and LLaDA's OLMo-style).
//
// File layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the data section. The JSON
// maps each tensor name to {dtype, shape, data_offsets: [begin, end]} with offsets relative to the data
// section, and may hold a "__metadata__" object of strings.

import { ModelFormatError } from '../errors.js';
import type { TensorType } from '../models/types.js';
import type { ByteSource } from './source.js';

/** Headers larger than this are rejected before they are read (the reference implementation uses the same 100 MB limit). */
const MAX_HEADER_BYTES = 100_000_000;

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

export interface SafetensorsTensor {
  /** Name as stored in the file. */
  name: string;
  type: TensorType;
  shape: number[];
  /** Byte offset in the file. */
  offset: number;
  byteLength: number;
  source: ByteSource;
}

export interface SafetensorsFile {
  tensors: SafetensorsTensor[];
  metadata: Record<string, string>;
}

function invalid(source: ByteSource, message: string): ModelFormatError {
  return new ModelFormatError('INVALID_SAFETENSORS', `${source.name}: ${message}`);
}

/** Parses a safetensors header and checks every tensor's byte range against the file. */
export async function readSafetensors(source: ByteSource): Promise<SafetensorsFile> {
  if (source.size < 8) {
    throw new ModelFormatError(
      'TRUNCATED_FILE',
      `${source.name}: ${source.size} bytes is too short for a safetensors file (the header length alone is 8 bytes)`,
    );
  }
  const lengthBytes = await source.read(0, 8);
  const headerLength = new DataView(lengthBytes.buffer, lengthBytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(source.size - 8)) {
    throw new ModelFormatError(
      'TRUNCATED_FILE',
      `${source.name}: the safetensors header length is ${headerLength} bytes, but the file has only ` +
        `${source.size - 8} bytes after it. The file is truncated or not a safetensors file.`,
    );
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    throw invalid(source, `safetensors header length ${headerLength} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
  }
  const length = Number(headerLength);
  const headerBytes = await source.read(8, length);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (error) {
    throw new ModelFormatError(
      'INVALID_SAFETENSORS',
      `${source.name}: the safetensors header is not valid UTF-8 JSON (${(error as Error).message})`,
      { cause: error },
    );
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw invalid(source, 'the safetensors header is not a JSON object');
  }

  const dataStart = 8 + length;
  const dataSize = source.size - dataStart;
  const tensors: SafetensorsTensor[] = [];
  let metadata: Record<string, string> = {};
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    tensors.push(parseEntry(source, name, entry, dataStart, dataSize));
  }
  checkNoOverlap(source, tensors);
  return { tensors, metadata };
}

function parseEntry(source: ByteSource, name: string, entry: unknown, dataStart: number, dataSize: number): SafetensorsTensor {
  if (typeof entry !== 'object' || entry === null) throw invalid(source, `tensor "${name}" has no {dtype, shape, data_offsets} entry`);
  const { dtype, shape, data_offsets: offsets } = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };

  if (typeof dtype !== 'string') throw invalid(source, `tensor "${name}" has no dtype`);
  const elementBytes = DTYPE_BYTES[dtype];
  if (elementBytes === undefined) {
    throw new ModelFormatError(
      'UNKNOWN_DTYPE',
      `${source.name}: tensor "${name}" has dtype ${dtype}; supported safetensors dtypes are F32, F16 and BF16. ` +
        'Convert the checkpoint to one of them, or to GGUF for quantised weights.',
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw invalid(source, `tensor "${name}" has invalid shape ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
    throw invalid(source, `tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (begin > end || end > dataSize) {
    throw new ModelFormatError(
      'TRUNCATED_FILE',
      `${source.name}: tensor "${name}" has data_offsets [${begin}, ${end}] outside the data section of ` +
        `${dataSize} bytes. The file is truncated or corrupt.`,
    );
  }
  const elements = (shape as number[]).reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(elements * elementBytes) || elements * elementBytes !== end - begin) {
    throw new ModelFormatError(
      'SHAPE_MISMATCH',
      `${source.name}: tensor "${name}" of shape [${(shape as number[]).join(', ')}] ${dtype} needs ` +
        `${elements * elementBytes} bytes, but its data_offsets span ${end - begin}`,
    );
  }
  return { name, type: dtype as TensorType, shape: [...(shape as number[])], offset: dataStart + begin, byteLength: end - begin, source };
}

function checkNoOverlap(source: ByteSource, tensors: SafetensorsTensor[]): void {
  const sorted = tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1];
    if (previous.offset + previous.byteLength > sorted[i].offset) {
      throw invalid(source, `tensors "${previous.name}" and "${sorted[i].name}" overlap in the data section`);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Sharded checkpoints

/**
 * Parses `model.safetensors.index.json` text and returns the shard file names in order of first use,
 * with the tensor-to-shard map. Shard names must be plain file names in the same folder.
 */
export function parseSafetensorsIndex(text: string, indexName: string): { shards: string[]; weightMap: Map<string, string> } {
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch (error) {
    throw new ModelFormatError('INVALID_SAFETENSORS', `${indexName} is not valid JSON (${(error as Error).message})`, { cause: error });
  }
  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof weightMap !== 'object' || weightMap === null) {
    throw new ModelFormatError('INVALID_SAFETENSORS', `${indexName} has no "weight_map" object`);
  }
  const map = new Map<string, string>();
  const shards: string[] = [];
  for (const [tensor, file] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof file !== 'string' || file === '' || /[\\/]/.test(file) || file === '..' || file === '.') {
      throw new ModelFormatError(
        'INVALID_SAFETENSORS',
        `${indexName} maps tensor "${tensor}" to ${JSON.stringify(file)}; shard names must be file names in the same folder`,
      );
    }
    map.set(tensor, file);
    if (!shards.includes(file)) shards.push(file);
  }
  return { shards, weightMap: map };
}

/** Checks that every tensor the index lists is in the shard it names, and that no tensor is in two shards. */
export function checkShards(indexName: string, weightMap: Map<string, string>, shards: Map<string, SafetensorsFile>): void {
  const owner = new Map<string, string>();
  for (const [file, parsed] of shards) {
    for (const tensor of parsed.tensors) {
      const previous = owner.get(tensor.name);
      if (previous !== undefined) {
        throw new ModelFormatError('INVALID_SAFETENSORS', `tensor "${tensor.name}" is stored in both ${previous} and ${file}`);
      }
      owner.set(tensor.name, file);
    }
  }
  for (const [tensor, file] of weightMap) {
    if (owner.get(tensor) !== file) {
      throw new ModelFormatError(
        'MISSING_TENSOR',
        `${indexName} lists tensor "${tensor}" in ${file}, but ${owner.has(tensor) ? `it is in ${owner.get(tensor)}` : 'no shard contains it'}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Hugging Face -> GGUF tensor names

/** Per-layer suffixes of Qwen2/Qwen3/SDAR/Dream/Fast-dLLM checkpoints (after `model.layers.N.`). */
const QWEN_LAYER_NAMES: Record<string, string> = {
  'input_layernorm.weight': 'attn_norm.weight',
  'self_attn.q_proj.weight': 'attn_q.weight',
  'self_attn.k_proj.weight': 'attn_k.weight',
  'self_attn.v_proj.weight': 'attn_v.weight',
  'self_attn.q_proj.bias': 'attn_q.bias',
  'self_attn.k_proj.bias': 'attn_k.bias',
  'self_attn.v_proj.bias': 'attn_v.bias',
  'self_attn.o_proj.weight': 'attn_output.weight',
  'self_attn.q_norm.weight': 'attn_q_norm.weight',
  'self_attn.k_norm.weight': 'attn_k_norm.weight',
  'post_attention_layernorm.weight': 'ffn_norm.weight',
  'mlp.gate_proj.weight': 'ffn_gate.weight',
  'mlp.up_proj.weight': 'ffn_up.weight',
  'mlp.down_proj.weight': 'ffn_down.weight',
  // LLaDA-MoE (OLMoE names) and LLaDA 2.x (Ling 2.0 names): routers and shared experts
  'mlp.gate.weight': 'ffn_gate_inp.weight',
  'mlp.gate.expert_bias': 'exp_probs_b.bias',
  'mlp.shared_experts.gate_proj.weight': 'ffn_gate_shexp.weight',
  'mlp.shared_experts.up_proj.weight': 'ffn_up_shexp.weight',
  'mlp.shared_experts.down_proj.weight': 'ffn_down_shexp.weight',
  'attention.query_key_value.weight': 'attn_qkv.weight',
  'attention.query_layernorm.weight': 'attn_q_norm.weight',
  'attention.key_layernorm.weight': 'attn_k_norm.weight',
  'attention.dense.weight': 'attn_output.weight',
};

/** Per-block suffixes of LLaDA's OLMo-style checkpoints (after `model.transformer.blocks.N.`). */
const OLMO_BLOCK_NAMES: Record<string, string> = {
  'attn_norm.weight': 'attn_norm.weight',
  'q_proj.weight': 'attn_q.weight',
  'k_proj.weight': 'attn_k.weight',
  'v_proj.weight': 'attn_v.weight',
  'q_proj.bias': 'attn_q.bias',
  'k_proj.bias': 'attn_k.bias',
  'v_proj.bias': 'attn_v.bias',
  'attn_out.weight': 'attn_output.weight',
  'ff_norm.weight': 'ffn_norm.weight',
  'ff_proj.weight': 'ffn_gate.weight',
  'up_proj.weight': 'ffn_up.weight',
  'ff_out.weight': 'ffn_down.weight',
};

const GLOBAL_NAMES: Record<string, string> = {
  'model.embed_tokens.weight': 'token_embd.weight',
  'model.word_embeddings.weight': 'token_embd.weight',
  'model.norm.weight': 'output_norm.weight',
  'lm_head.weight': 'output.weight',
  'model.transformer.wte.weight': 'token_embd.weight',
  'model.transformer.ln_f.weight': 'output_norm.weight',
  'model.transformer.ff_out.weight': 'output.weight',
};

/**
 * Maps a Hugging Face tensor name to its GGUF name. Returns null for buffers that are not weights
 * (`rotary_emb.inv_freq`) and the input name unchanged when it matches no known pattern.
 */
export function hfToGgufName(name: string): string | null {
  if (name.endsWith('.rotary_emb.inv_freq')) return null;
  const global = GLOBAL_NAMES[name];
  if (global) return global;
  let match = /^model\.layers\.(\d+)\.(.+)$/.exec(name);
  if (match && QWEN_LAYER_NAMES[match[2]]) return `blk.${match[1]}.${QWEN_LAYER_NAMES[match[2]]}`;
  // One matrix of one routed expert; the loader stacks them into blk.N.ffn_*_exps.weight.
  const expert = match && /^mlp\.experts\.(\d+)\.(gate|up|down)_proj\.weight$/.exec(match[2]);
  if (match && expert) return `blk.${match[1]}.ffn_${expert[2]}_exps.${expert[1]}.weight`;
  match = /^model\.transformer\.blocks\.(\d+)\.(.+)$/.exec(name);
  if (match && OLMO_BLOCK_NAMES[match[2]]) return `blk.${match[1]}.${OLMO_BLOCK_NAMES[match[2]]}`;
  return name;
}
