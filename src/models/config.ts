// Normalises a model's configuration into ModelConfig, either from Hugging Face JSON files (config.json,
// generation_config.json, tokenizer_config.json, tokenizer.json) or from GGUF metadata. The family fixes the
// defaults (attention kind, block size, logit shift, mask id) that a checkpoint leaves out. The tensors
// present decide qk-norm, q/k/v biases and tied embeddings.

import { ConfigError, UnsupportedModelError } from '../errors.js';
import type { GgufValue } from '../formats/gguf.js';
import type { AttentionKind, Family, ModelConfig, MoeConfig, RopeLayout } from './types.js';

/** Only the tensor names matter here; any map keyed by GGUF tensor name works. */
export type TensorNames = ReadonlyMap<string, unknown> | Iterable<string>;

interface FamilyDefaults {
  attention: AttentionKind;
  blockSize: number;
  shiftLogits: boolean;
  qkNorm: boolean;
  qkvBias: boolean;
  /** Mask id of the published checkpoints of the family, used when no file names one; -1 for AR models. */
  maskTokenId: number;
}

const FAMILY_DEFAULTS: Record<Family, FamilyDefaults> = {
  'sdar': { attention: 'block-causal', blockSize: 4, shiftLogits: false, qkNorm: true, qkvBias: false, maskTokenId: 151669 },
  'fast-dllm-v2': { attention: 'block-causal', blockSize: 32, shiftLogits: true, qkNorm: false, qkvBias: true, maskTokenId: 151665 },
  'dream': { attention: 'full', blockSize: 0, shiftLogits: true, qkNorm: false, qkvBias: true, maskTokenId: 151666 },
  'llada': { attention: 'full', blockSize: 0, shiftLogits: false, qkNorm: false, qkvBias: false, maskTokenId: 126336 },
  // LLaDA-MoE and LLaDA 2.x share the Ling tokenizer, whose mask id no config file records.
  'llada-moe': { attention: 'full', blockSize: 0, shiftLogits: false, qkNorm: true, qkvBias: false, maskTokenId: 156895 },
  'llada2': { attention: 'block-causal', blockSize: 32, shiftLogits: false, qkNorm: true, qkvBias: false, maskTokenId: 156895 },
  'qwen2': { attention: 'causal', blockSize: 0, shiftLogits: false, qkNorm: false, qkvBias: true, maskTokenId: -1 },
  'qwen3': { attention: 'causal', blockSize: 0, shiftLogits: false, qkNorm: true, qkvBias: false, maskTokenId: -1 },
};

const HF_ARCHITECTURES: Record<string, Family> = {
  SDARForCausalLM: 'sdar',
  Fast_dLLM_QwenForCausalLM: 'fast-dllm-v2',
  DreamModel: 'dream',
  LLaDAModelLM: 'llada',
  LLaDAMoEModelLM: 'llada-moe',
  LLaDA2MoeModelLM: 'llada2',
  Qwen2ForCausalLM: 'qwen2',
  Qwen3ForCausalLM: 'qwen3',
};

/** `model_type` values, consulted only when config.json has no `architectures`. */
const HF_MODEL_TYPES: Record<string, Family> = {
  sdar: 'sdar',
  Fast_dLLM_Qwen: 'fast-dllm-v2',
  Dream: 'dream',
  llada: 'llada',
  llada2_moe: 'llada2',
  qwen2: 'qwen2',
  qwen3: 'qwen3',
};

// bailingmoe2 is llama.cpp's name for the Ling 2.0 body that LLaDA 2.x diffusion models share.
const GGUF_ARCHITECTURES: Record<string, Family> = {
  qwen2: 'qwen2', qwen3: 'qwen3', dream: 'dream', llada: 'llada', 'llada-moe': 'llada-moe', bailingmoe2: 'llada2',
};

/** Mask token strings used by the supported families' tokenizers. */
const MASK_TOKEN_STRINGS = ['<|MASK|>', '|<MASK>|', '<|mask|>', '<|mdm_mask|>'];

// ---------------------------------------------------------------------------------------------------
// Small helpers

type Json = Record<string, unknown>;

function asObject(value: unknown, what: string): Json | null {
  if (value === undefined || value === null) return null;
  const parsed = typeof value === 'string' ? parseJson(value, what) : value;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('INVALID_OPTION', `${what} must be a JSON object, got ${Array.isArray(parsed) ? 'an array' : typeof parsed}`);
  }
  return parsed as Json;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError('INVALID_OPTION', `${what} is not valid JSON (${(error as Error).message})`, { cause: error });
  }
}

function isSet(value: unknown): boolean {
  return value !== undefined && value !== null;
}

function positiveInteger(value: unknown, field: string, source: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
    if (!isSet(value)) throw new ConfigError('MISSING_FIELD', `${source} has no "${field}"; add it (a positive integer) to the file`);
    throw new ConfigError('INVALID_OPTION', `${source} "${field}" is ${JSON.stringify(value)}; expected a positive integer`);
  }
  return value;
}

function positiveNumber(value: unknown, field: string, source: string): number {
  if (typeof value !== 'number' || !(value > 0) || !Number.isFinite(value)) {
    if (!isSet(value)) throw new ConfigError('MISSING_FIELD', `${source} has no "${field}"; add it (a positive number) to the file`);
    throw new ConfigError('INVALID_OPTION', `${source} "${field}" is ${JSON.stringify(value)}; expected a positive number`);
  }
  return value;
}

/** Collects token ids from a number, a list of numbers, or nothing. */
function idList(value: unknown): number[] {
  const list = Array.isArray(value) ? value : [value];
  return list.filter((id): id is number => typeof id === 'number' && Number.isInteger(id) && id >= 0);
}

function unique(ids: number[]): number[] {
  return [...new Set(ids)];
}

function tensorNameSet(tensors: TensorNames | undefined): Set<string> | null {
  if (!tensors) return null;
  if (tensors instanceof Map) return new Set(tensors.keys());
  return new Set(tensors as Iterable<string>);
}

/** Looks up special-token strings in tokenizer.json `added_tokens` and tokenizer_config.json `added_tokens_decoder`. */
class TokenLookup {
  private ids = new Map<string, number>();

  constructor(tokenizerJson: Json | null, tokenizerConfig: Json | null) {
    const added = tokenizerJson?.added_tokens;
    if (Array.isArray(added)) {
      for (const token of added as Array<{ id?: unknown; content?: unknown }>) {
        if (typeof token?.content === 'string' && typeof token.id === 'number') this.ids.set(token.content, token.id);
      }
    }
    const decoder = tokenizerConfig?.added_tokens_decoder;
    if (decoder && typeof decoder === 'object') {
      for (const [id, token] of Object.entries(decoder as Record<string, { content?: unknown }>)) {
        if (typeof token?.content === 'string' && !this.ids.has(token.content) && /^\d+$/.test(id)) {
          this.ids.set(token.content, Number(id));
        }
      }
    }
    // Ordinary vocabulary entries come last: special tokens are normally all in added_tokens.
    const vocab = (tokenizerJson?.model as Json | undefined)?.vocab;
    if (vocab && typeof vocab === 'object' && !Array.isArray(vocab)) {
      for (const [content, id] of Object.entries(vocab as Record<string, unknown>)) {
        if (typeof id === 'number' && !this.ids.has(content)) this.ids.set(content, id);
      }
    }
  }

  /** Id of a token given as a string or as tokenizer_config's {content: string} object; -1 when unknown. */
  id(token: unknown): number {
    const content = typeof token === 'string' ? token : (token as { content?: unknown } | null)?.content;
    return typeof content === 'string' ? (this.ids.get(content) ?? -1) : -1;
  }

  findMask(): number {
    for (const text of MASK_TOKEN_STRINGS) {
      const id = this.ids.get(text);
      if (id !== undefined) return id;
    }
    return -1;
  }
}

function unsupportedArchitecture(name: string, supported: string[], where: string): UnsupportedModelError {
  return new UnsupportedModelError(
    'UNSUPPORTED_ARCHITECTURE',
    `unsupported model architecture "${name}" (${where}); supported: ${supported.join(', ')}`,
  );
}

/** Picks the family default mask id when it fits the vocabulary; diffusion families cannot run without one. */
function fallbackMaskId(family: Family, vocab: number, source: string): number {
  const id = FAMILY_DEFAULTS[family].maskTokenId;
  if (id >= 0 && id < vocab) return id;
  if (FAMILY_DEFAULTS[family].attention === 'causal') return -1;
  throw new ConfigError(
    'MISSING_FIELD',
    `${source} names no mask token for this ${family} model: set "mask_token_id" in config.json, or add one of ` +
      `${MASK_TOKEN_STRINGS.join(', ')} to the tokenizer's added tokens`,
  );
}

/**
 * Checks the relations between fields that the kernels rely on: whole groups of query heads per key/value
 * head, an even RoPE width within the head, and a mask token inside the vocabulary.
 */
function checkConsistency(config: ModelConfig, where: string): ModelConfig {
  if (config.nHeads % config.nKvHeads !== 0) {
    throw new ConfigError('INVALID_OPTION', `${where}: ${config.nHeads} attention heads is not a multiple of ${config.nKvHeads} key/value heads`);
  }
  if (config.ropeDim % 2 !== 0 || config.ropeDim > config.headDim) {
    throw new ConfigError(
      'INVALID_OPTION',
      `${where}: the rotary dimension ${config.ropeDim} must be even and at most the head dimension ${config.headDim}`,
    );
  }
  const moe = config.moe;
  if (moe) {
    const perGroup = moe.experts / moe.groups;
    if (!Number.isInteger(perGroup) || moe.groupsUsed > moe.groups || moe.expertsUsed > moe.groupsUsed * perGroup) {
      throw new ConfigError(
        'INVALID_OPTION',
        `${where}: ${moe.expertsUsed} experts per token cannot be chosen from ${moe.groupsUsed} of ${moe.groups} groups of ${moe.experts} experts`,
      );
    }
    if (moe.groups > 1 && perGroup < 2) {
      throw new ConfigError('INVALID_OPTION', `${where}: group-limited routing scores each group by its two best experts, but the ${moe.groups} groups hold ${perGroup} expert each`);
    }
  }
  if (config.maskTokenId >= config.vocab) {
    throw new ConfigError('INVALID_OPTION', `${where}: mask token id ${config.maskTokenId} is outside the vocabulary of ${config.vocab} rows`);
  }
  return config;
}

// ---------------------------------------------------------------------------------------------------
// Hugging Face

/**
 * Builds a ModelConfig from Hugging Face files. Each argument may be JSON text or an already parsed
 * object; all but config.json are optional. When `tensors` (GGUF-named) is given, it decides qk-norm,
 * q/k/v biases and tied embeddings; otherwise the config flags and family defaults do.
 */
export function configFromHf(
  configJson: unknown,
  generationConfigJson?: unknown,
  tokenizerConfigJson?: unknown,
  tokenizerJson?: unknown,
  tensors?: TensorNames,
): ModelConfig {
  const config = asObject(configJson, 'config.json');
  if (!config) throw new ConfigError('MISSING_FIELD', 'config.json is required to load a Hugging Face checkpoint');
  const generation = asObject(generationConfigJson, 'generation_config.json');
  const tokenizerConfig = asObject(tokenizerConfigJson, 'tokenizer_config.json');
  const tokenizer = asObject(tokenizerJson, 'tokenizer.json');
  const tokens = new TokenLookup(tokenizer, tokenizerConfig);
  const names = tensorNameSet(tensors);

  const architectures = Array.isArray(config.architectures) ? (config.architectures as unknown[]) : [];
  const architecture = typeof architectures[0] === 'string' ? architectures[0] : String(config.model_type ?? '');
  const family = architectures.length > 0 ? HF_ARCHITECTURES[architecture] : HF_MODEL_TYPES[architecture];
  if (!family) {
    throw unsupportedArchitecture(architecture || '(none)', Object.keys(HF_ARCHITECTURES), 'config.json "architectures"');
  }
  const defaults = FAMILY_DEFAULTS[family];
  const where = 'config.json';

  // LLaDA keeps OLMo's field names.
  const olmo = family === 'llada';
  const hidden = positiveInteger(olmo ? config.d_model : config.hidden_size, olmo ? 'd_model' : 'hidden_size', where);
  const nLayers = positiveInteger(olmo ? config.n_layers : config.num_hidden_layers, olmo ? 'n_layers' : 'num_hidden_layers', where);
  const nHeads = positiveInteger(olmo ? config.n_heads : config.num_attention_heads, olmo ? 'n_heads' : 'num_attention_heads', where);
  const kvField = olmo ? 'n_kv_heads' : 'num_key_value_heads';
  const nKvHeads = isSet(config[kvField]) ? positiveInteger(config[kvField], kvField, where) : nHeads;
  let ffn: number;
  if (olmo) {
    ffn = isSet(config.mlp_hidden_size)
      ? positiveInteger(config.mlp_hidden_size, 'mlp_hidden_size', where)
      : positiveInteger(config.mlp_ratio, 'mlp_ratio', where) * hidden;
  } else if (family === 'llada-moe' || family === 'llada2') {
    // The dense FFN width of the leading dense layers; LLaDA-MoE has none and names its fields differently.
    const field = ['intermediate_size', 'dense_intermediate_size', 'expert_intermediate_size', 'moe_intermediate_size']
      .find((name) => isSet(config[name])) ?? 'intermediate_size';
    ffn = positiveInteger(config[field], field, where);
  } else {
    ffn = positiveInteger(config.intermediate_size, 'intermediate_size', where);
  }
  const vocabValue = olmo && isSet(config.embedding_size) ? config.embedding_size : config.vocab_size;
  const vocab = positiveInteger(vocabValue, olmo && isSet(config.embedding_size) ? 'embedding_size' : 'vocab_size', where);

  let headDim: number;
  if (isSet(config.head_dim)) headDim = positiveInteger(config.head_dim, 'head_dim', where);
  else if (hidden % nHeads === 0) headDim = hidden / nHeads;
  else {
    throw new ConfigError('MISSING_FIELD', `${where} has no "head_dim" and hidden size ${hidden} is not divisible by ${nHeads} heads`);
  }
  if (nHeads % nKvHeads !== 0) {
    throw new ConfigError('INVALID_OPTION', `${where}: ${nHeads} attention heads is not a multiple of ${nKvHeads} key/value heads`);
  }
  // LLaDA 2.x rotates half of each head when the config leaves the factor out, as llama.cpp's converter assumes.
  const defaultRopeFraction = family === 'llada2' ? 0.5 : 1;
  const ropeFraction = isSet(config.partial_rotary_factor)
    ? positiveNumber(config.partial_rotary_factor, 'partial_rotary_factor', where)
    : defaultRopeFraction;
  const scaling = config.rope_scaling as { type?: unknown; rope_type?: unknown } | null | undefined;
  if (scaling && (scaling.rope_type ?? scaling.type ?? 'default') !== 'default') {
    throw new UnsupportedModelError(
      'UNSUPPORTED_FEATURE',
      `${where} sets rope_scaling ${JSON.stringify(scaling)}; only plain RoPE is implemented. Set "rope_scaling" to null ` +
        'to run with plain RoPE within the original context length.',
    );
  }

  const maxField = olmo ? 'max_sequence_length' : 'max_position_embeddings';
  const maxContext = positiveInteger(config[maxField] ?? config.max_position_embeddings, maxField, where);

  // Biases, qk-norm and tying: the tensors decide when they are known.
  const configBias = olmo
    ? Boolean(config.include_qkv_bias ?? config.include_bias ?? false)
    : isSet(config.attention_bias) ? Boolean(config.attention_bias) : defaults.qkvBias;
  const configTied = olmo ? Boolean(config.weight_tying ?? false) : Boolean(config.tie_word_embeddings ?? false);
  const qkNorm = names ? names.has('blk.0.attn_q_norm.weight') : defaults.qkNorm;
  const qkvBias = names ? names.has('blk.0.attn_q.bias') : configBias;
  const tiedEmbeddings = names ? !names.has('output.weight') : configTied;

  let blockSize = defaults.blockSize;
  if (family === 'sdar' && isSet(config.block_size)) blockSize = positiveInteger(config.block_size, 'block_size', where);
  if (family === 'fast-dllm-v2' && isSet(config.bd_size)) blockSize = positiveInteger(config.bd_size, 'bd_size', where);

  // Mask: config, then tokenizer_config's mask_token, then a known mask string among the tokenizer's tokens.
  let maskTokenId = idList(config.mask_token_id)[0] ?? -1;
  if (maskTokenId < 0) maskTokenId = tokens.id(tokenizerConfig?.mask_token);
  if (maskTokenId < 0) maskTokenId = tokens.findMask();
  if (maskTokenId < 0) maskTokenId = fallbackMaskId(family, vocab, 'the config and tokenizer files');

  const stopTokenIds = unique([
    ...idList(config.eos_token_id),
    ...idList(generation?.eos_token_id),
    ...[tokens.id(tokenizerConfig?.eos_token)].filter((id) => id >= 0),
  ]);

  let bosTokenId = idList(config.bos_token_id)[0] ?? idList(generation?.bos_token_id)[0] ?? -1;
  if (bosTokenId < 0) bosTokenId = tokens.id(tokenizerConfig?.bos_token);
  const addBos = tokenizerConfig?.add_bos_token === true;

  return checkConsistency({
    family,
    architecture,
    nLayers,
    hidden,
    nHeads,
    nKvHeads,
    headDim,
    ffn,
    vocab,
    ropeTheta: isSet(config.rope_theta) ? positiveNumber(config.rope_theta, 'rope_theta', where) : 10000,
    ropeDim: Math.round(headDim * ropeFraction),
    ropeLayout: 'neox',
    normEps: isSet(config.rms_norm_eps) ? positiveNumber(config.rms_norm_eps, 'rms_norm_eps', where) : olmo ? 1e-5 : 1e-6,
    qkNorm,
    qkvBias,
    tiedEmbeddings,
    attention: defaults.attention,
    blockSize,
    shiftLogits: defaults.shiftLogits,
    maskTokenId,
    stopTokenIds,
    bosTokenId,
    addBos,
    maxContext,
    fusedQkv: names ? names.has('blk.0.attn_qkv.weight') : family === 'llada2',
    moe: moeFromHf(family, config, nLayers, names, where),
  }, where);
}

/** Reads the expert fields of a LLaDA-MoE or LLaDA 2.x config.json; undefined for dense families. */
function moeFromHf(family: Family, config: Json, nLayers: number, names: Set<string> | null, where: string): MoeConfig | undefined {
  if (family !== 'llada-moe' && family !== 'llada2') return undefined;
  const optional = (field: string, fallback: number) => (isSet(config[field]) ? positiveInteger(config[field], field, where) : fallback);
  const experts = positiveInteger(config.num_experts, 'num_experts', where);
  const widthField = isSet(config.moe_intermediate_size) ? 'moe_intermediate_size' : 'expert_intermediate_size';
  const expertFfn = positiveInteger(config[widthField], widthField, where);
  const denseLayers = isSet(config.first_k_dense_replace) ? Number(config.first_k_dense_replace) : 0;
  if (!Number.isInteger(denseLayers) || denseLayers < 0 || denseLayers > nLayers) {
    throw new ConfigError('INVALID_OPTION', `${where} "first_k_dense_replace" is ${JSON.stringify(config.first_k_dense_replace)}; expected an integer in [0, ${nLayers}]`);
  }
  const sharedCount = isSet(config.num_shared_experts) ? Number(config.num_shared_experts) : 0;
  let sharedFfn = sharedCount > 0 ? optional('moe_shared_expert_intermediate_size', expertFfn * sharedCount) : 0;
  const firstMoe = `blk.${denseLayers}.`;
  if (names) sharedFfn = names.has(firstMoe + 'ffn_gate_shexp.weight') ? sharedFfn || expertFfn : 0;
  const groups = optional('n_group', 1);
  const scale = isSet(config.routed_scaling_factor) ? positiveNumber(config.routed_scaling_factor, 'routed_scaling_factor', where) : 1;
  return {
    experts,
    expertsUsed: positiveInteger(config.num_experts_per_tok, 'num_experts_per_tok', where),
    expertFfn,
    denseLayers,
    gating: family === 'llada2' ? 'sigmoid' : 'softmax',
    selectionBias: names ? names.has(firstMoe + 'exp_probs_b.bias') : family === 'llada2',
    groups,
    groupsUsed: optional('topk_group', groups),
    // llama.cpp never renormalises LLaDA-MoE's weights, whatever norm_topk_prob says.
    normaliseWeights: family === 'llada2' ? Boolean(config.norm_topk_prob ?? true) : false,
    weightsScale: scale,
    sharedFfn,
  };
}

// ---------------------------------------------------------------------------------------------------
// GGUF

function ggufNumber(metadata: Record<string, unknown>, key: string, required: true): number;
function ggufNumber(metadata: Record<string, unknown>, key: string, required: false): number | undefined;
function ggufNumber(metadata: Record<string, unknown>, key: string, required: boolean): number | undefined {
  let value: unknown = metadata[key];
  // Some converters store per-layer values as arrays; the engine needs them equal across layers.
  if (Array.isArray(value)) {
    const perLayer: unknown[] = value;
    if (perLayer.length === 0 || perLayer.some((v) => v !== perLayer[0])) {
      throw new UnsupportedModelError(
        'UNSUPPORTED_FEATURE',
        `GGUF "${key}" differs between layers (${perLayer.slice(0, 8).join(', ')}); only uniform layers are supported`,
      );
    }
    value = perLayer[0];
  }
  if (value === undefined) {
    if (required) throw new ConfigError('MISSING_FIELD', `GGUF metadata has no "${key}"; convert the model again with a current llama.cpp`);
    return undefined;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ConfigError('INVALID_OPTION', `GGUF "${key}" is ${String(value)}; expected a number`);
  }
  return value;
}

/** Reads a GGUF boolean that llama.cpp's diffusion code also accepts as the strings "true" and "false". */
function ggufBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (value === 'true') return true;
  if (value === 'false') return false;
  return undefined;
}

/**
 * Builds a ModelConfig from GGUF metadata and the file's tensors, keyed by GGUF name. The rows of
 * `token_embd.weight` give the vocabulary size when the metadata lacks it.
 */
export function configFromGguf(
  metadata: Record<string, GgufValue | unknown>,
  tensors: ReadonlyMap<string, { shape: number[] }> | Iterable<{ name: string; shape: number[] }>,
): ModelConfig {
  const architecture = metadata['general.architecture'];
  if (typeof architecture !== 'string') {
    throw new ConfigError('MISSING_FIELD', 'GGUF metadata has no "general.architecture"; the file is not a model');
  }
  const family = GGUF_ARCHITECTURES[architecture];
  if (!family) throw unsupportedArchitecture(architecture, Object.keys(GGUF_ARCHITECTURES), 'GGUF general.architecture');
  const defaults = FAMILY_DEFAULTS[family];
  const shapes = new Map<string, number[]>();
  if (tensors instanceof Map) for (const [name, t] of tensors) shapes.set(name, t.shape);
  else for (const t of tensors as Iterable<{ name: string; shape: number[] }>) shapes.set(t.name, t.shape);

  const key = (suffix: string) => `${architecture}.${suffix}`;
  const integer = (suffix: string, required: boolean, fallback?: number): number => {
    const value = required ? ggufNumber(metadata, key(suffix), true) : (ggufNumber(metadata, key(suffix), false) ?? fallback);
    return positiveInteger(value, key(suffix), 'GGUF metadata');
  };

  const hidden = integer('embedding_length', true);
  const nLayers = integer('block_count', true);
  const ffn = integer('feed_forward_length', true);
  const nHeads = integer('attention.head_count', true);
  const nKvHeads = integer('attention.head_count_kv', false, nHeads);
  const headDim = integer('attention.key_length', false, hidden % nHeads === 0 ? hidden / nHeads : undefined);
  const ropeDim = integer('rope.dimension_count', false, headDim);
  const maxContext = integer('context_length', true);
  const normEps = positiveNumber(ggufNumber(metadata, key('attention.layer_norm_rms_epsilon'), true), key('attention.layer_norm_rms_epsilon'), 'GGUF metadata');
  const ropeTheta = positiveNumber(ggufNumber(metadata, key('rope.freq_base'), false) ?? 10000, key('rope.freq_base'), 'GGUF metadata');
  const embeddingRows = shapes.get('token_embd.weight')?.[0];
  const vocab = integer('vocab_size', false, embeddingRows ?? (metadata['tokenizer.ggml.tokens'] as unknown[] | undefined)?.length);

  const scaling = metadata[key('rope.scaling.type')];
  if (typeof scaling === 'string' && scaling !== 'none') {
    throw new UnsupportedModelError(
      'UNSUPPORTED_FEATURE',
      `GGUF ${key('rope.scaling.type')} is "${scaling}"; only plain RoPE is implemented`,
    );
  }

  let maskTokenId = idList(metadata['tokenizer.ggml.mask_token_id'])[0] ?? -1;
  if (maskTokenId < 0) {
    const tokenList = metadata['tokenizer.ggml.tokens'];
    if (Array.isArray(tokenList)) {
      for (const text of MASK_TOKEN_STRINGS) {
        const index = tokenList.indexOf(text);
        if (index >= 0) {
          maskTokenId = index;
          break;
        }
      }
    }
  }
  if (maskTokenId < 0) maskTokenId = fallbackMaskId(family, vocab, 'GGUF metadata (tokenizer.ggml.mask_token_id)');

  const stopTokenIds = unique([
    ...idList(metadata['tokenizer.ggml.eos_token_id']),
    ...idList(metadata['tokenizer.ggml.eot_token_id']),
    ...idList(metadata['tokenizer.ggml.eom_token_id']),
  ]);

  // llama.cpp shifts unless diffusion.shift_logits is false, and its llada converter writes false.
  const shiftKey = ggufBoolean(metadata['diffusion.shift_logits']);
  const shiftLogits = family === 'dream' || family === 'llada' ? (shiftKey ?? defaults.shiftLogits) : defaults.shiftLogits;

  // llama.cpp's converter permutes LLaDA's q/k rows for its interleaved (NORM) RoPE; the others stay NEOX.
  const ropeLayout: RopeLayout = family === 'llada' ? 'norm' : 'neox';

  return checkConsistency({
    family,
    architecture,
    nLayers,
    hidden,
    nHeads,
    nKvHeads,
    headDim,
    ffn,
    vocab,
    ropeTheta,
    ropeDim,
    ropeLayout,
    normEps,
    qkNorm: shapes.has('blk.0.attn_q_norm.weight'),
    qkvBias: shapes.has('blk.0.attn_q.bias'),
    tiedEmbeddings: !shapes.has('output.weight'),
    attention: defaults.attention,
    blockSize: defaults.blockSize,
    shiftLogits,
    maskTokenId,
    stopTokenIds,
    bosTokenId: idList(metadata['tokenizer.ggml.bos_token_id'])[0] ?? -1,
    addBos: metadata['tokenizer.ggml.add_bos_token'] === true,
    maxContext,
    fusedQkv: shapes.has('blk.0.attn_qkv.weight'),
    moe: moeFromGguf(family, metadata, key, shapes, nLayers, ffn),
  }, 'GGUF metadata');
}

/** llama.cpp's expert_gating_func values. */
const GGUF_GATING: Record<number, MoeConfig['gating']> = { 1: 'softmax', 2: 'sigmoid' };

/** Reads the expert keys of a llada-moe or bailingmoe2 GGUF; undefined for dense families. */
function moeFromGguf(
  family: Family, metadata: Record<string, unknown>, key: (suffix: string) => string, shapes: Map<string, number[]>,
  nLayers: number, ffn: number,
): MoeConfig | undefined {
  if (family !== 'llada-moe' && family !== 'llada2') return undefined;
  const where = 'GGUF metadata';
  const number = (suffix: string) => ggufNumber(metadata, key(suffix), false);
  const integer = (suffix: string, fallback: number) => positiveInteger(number(suffix) ?? fallback, key(suffix), where);
  const experts = positiveInteger(ggufNumber(metadata, key('expert_count'), true), key('expert_count'), where);
  const denseLayers = number('leading_dense_block_count') ?? 0;
  if (!Number.isInteger(denseLayers) || denseLayers < 0 || denseLayers > nLayers) {
    throw new ConfigError('INVALID_OPTION', `GGUF ${key('leading_dense_block_count')} is ${denseLayers}; expected an integer in [0, ${nLayers}]`);
  }
  const gatingId = number('expert_gating_func');
  const gating = gatingId === undefined ? (family === 'llada2' ? 'sigmoid' : 'softmax') : GGUF_GATING[gatingId];
  if (!gating) {
    throw new UnsupportedModelError('UNSUPPORTED_FEATURE', `GGUF ${key('expert_gating_func')} is ${gatingId}; only 1 (softmax) and 2 (sigmoid) are implemented`);
  }
  const firstMoe = `blk.${denseLayers}.`;
  const groups = integer('expert_group_count', 1);
  const normalise = ggufBoolean(metadata[key('expert_weights_norm')]);
  return {
    experts,
    expertsUsed: positiveInteger(ggufNumber(metadata, key('expert_used_count'), true), key('expert_used_count'), where),
    expertFfn: integer('expert_feed_forward_length', ffn),
    denseLayers,
    gating,
    selectionBias: shapes.has(firstMoe + 'exp_probs_b.bias'),
    groups,
    groupsUsed: integer('expert_group_used_count', groups),
    // llama.cpp's llada-moe graph never renormalises; bailingmoe2 follows the key.
    normaliseWeights: family === 'llada2' ? (normalise ?? false) : false,
    weightsScale: positiveNumber(number('expert_weights_scale') ?? 1, key('expert_weights_scale'), where),
    sharedFfn: shapes.get(firstMoe + 'ffn_gate_shexp.weight')?.[0] ?? 0,
  };
}
