// Config normalisation. Each fixture must map to its family, block size, mask id and stop ids, and LLaDA
// and Dream HF configs with the published checkpoints' fields must normalise. Unknown architectures and
// missing fields must raise typed errors.

import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, UnsupportedModelError } from '../src/errors.js';
import { configFromGguf, configFromHf } from '../src/models/config.js';
import { expectedTensors } from '../src/models/load-checkpoint.js';
import { openCheckpoint } from '../src/models/load-checkpoint.js';
import type { ModelConfig } from '../src/models/types.js';

const FIXTURES = 'test/fixtures';

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
}

function pick(config: ModelConfig, keys: Array<keyof ModelConfig>): Partial<ModelConfig> {
  return Object.fromEntries(keys.map((k) => [k, config[k]]));
}

const DECODE_KEYS: Array<keyof ModelConfig> = ['family', 'attention', 'blockSize', 'shiftLogits', 'maskTokenId', 'stopTokenIds'];

// ---------------------------------------------------------------------------------------------------
// Fixtures

const FIXTURE_CASES: Array<[string, Partial<ModelConfig>]> = [
  ['sdar-tiny/hf-f32', { family: 'sdar', attention: 'block-causal', blockSize: 4, shiftLogits: false, maskTokenId: 267, stopTokenIds: [264, 266] }],
  ['sdar-tiny/hf-bf16', { family: 'sdar', attention: 'block-causal', blockSize: 4, shiftLogits: false, maskTokenId: 267, stopTokenIds: [264, 266] }],
  ['fastdllm-tiny/hf-f32', { family: 'fast-dllm-v2', attention: 'block-causal', blockSize: 32, shiftLogits: true, maskTokenId: 267, stopTokenIds: [266, 264] }],
  // GGUF twins keep their llama.cpp arch; only the HF config names the diffusion family.
  ['sdar-tiny/sdar-tiny-f32.gguf', { family: 'qwen3', attention: 'causal', blockSize: 0, shiftLogits: false, maskTokenId: 267, stopTokenIds: [266] }],
  ['fastdllm-tiny/fastdllm-tiny-f32.gguf', { family: 'qwen2', attention: 'causal', blockSize: 0, shiftLogits: false, maskTokenId: 267, stopTokenIds: [266] }],
  ['small-qwen3/small-qwen3-Q8_0.gguf', { family: 'qwen3', attention: 'causal', blockSize: 0, shiftLogits: false, maskTokenId: 266, stopTokenIds: [264] }],
  ['small-dream/small-dream-Q4_0.gguf', { family: 'dream', attention: 'full', blockSize: 0, shiftLogits: true, maskTokenId: 266, stopTokenIds: [264] }],
  ['small-llada/small-llada-Q4_0.gguf', { family: 'llada', attention: 'full', blockSize: 0, shiftLogits: false, maskTokenId: 266, stopTokenIds: [264] }],
  ['tiny/fixtures/tiny-dream-BF16.gguf', { family: 'dream', attention: 'full', blockSize: 0, shiftLogits: true, maskTokenId: 266, stopTokenIds: [264] }],
  ['tiny/fixtures/tiny-qwen2-f32.gguf', { family: 'qwen2', attention: 'causal', blockSize: 0, shiftLogits: false, maskTokenId: 266, stopTokenIds: [264] }],
];

for (const [path, expected] of FIXTURE_CASES) {
  test(`${path} decoding fields`, async () => {
    const checkpoint = await openCheckpoint(`${FIXTURES}/${path}`);
    assert.equal(pick(checkpoint.config, DECODE_KEYS), expected);
    await checkpoint.close();
  });
}

test('sdar-tiny HF and GGUF shapes agree', async () => {
  const hf = await openCheckpoint(`${FIXTURES}/sdar-tiny/hf-f32`);
  const gguf = await openCheckpoint(`${FIXTURES}/sdar-tiny/sdar-tiny-f32.gguf`);
  const shapeKeys: Array<keyof ModelConfig> = [
    'nLayers', 'hidden', 'nHeads', 'nKvHeads', 'headDim', 'ffn', 'vocab', 'ropeTheta', 'ropeDim', 'ropeLayout', 'qkNorm',
    'qkvBias', 'tiedEmbeddings', 'bosTokenId', 'addBos', 'maxContext',
  ];
  const expected = {
    nLayers: 2, hidden: 64, nHeads: 4, nKvHeads: 2, headDim: 32, ffn: 160, vocab: 272, ropeTheta: 1e6, ropeDim: 32,
    ropeLayout: 'neox', qkNorm: true, qkvBias: false, tiedEmbeddings: false, bosTokenId: 264, addBos: false, maxContext: 4096,
  };
  assert.equal(pick(hf.config, shapeKeys), expected);
  assert.equal(pick(gguf.config, shapeKeys), expected);
  assert.ok(Math.abs(hf.config.normEps - 1e-6) < 1e-12);
  assert.ok(Math.abs(gguf.config.normEps - 1e-6) < 1e-12);
  await hf.close();
  await gguf.close();
});

test('fastdllm-tiny head_dim comes from hidden / heads', async () => {
  const checkpoint = await openCheckpoint(`${FIXTURES}/fastdllm-tiny/hf-f32`);
  assert.equal(pick(checkpoint.config, ['headDim', 'qkvBias', 'qkNorm', 'tiedEmbeddings']), {
    headDim: 16, qkvBias: true, qkNorm: false, tiedEmbeddings: true,
  });
  await checkpoint.close();
});

test('small-llada GGUF uses NORM RoPE and adds BOS', async () => {
  const checkpoint = await openCheckpoint(`${FIXTURES}/small-llada/small-llada-Q4_0.gguf`);
  assert.equal(pick(checkpoint.config, ['ropeLayout', 'ropeTheta', 'addBos', 'bosTokenId', 'tiedEmbeddings', 'qkvBias']), {
    ropeLayout: 'norm', ropeTheta: 500000, addBos: true, bosTokenId: 265, tiedEmbeddings: false, qkvBias: false,
  });
  await checkpoint.close();
});

// ---------------------------------------------------------------------------------------------------
// Hugging Face configs without fixtures

/** LLaDA-8B-Instruct's config.json fields (OLMo names), scaled down. */
const LLADA_CONFIG = {
  architectures: ['LLaDAModelLM'],
  model_type: 'llada',
  d_model: 64,
  n_layers: 2,
  n_heads: 4,
  n_kv_heads: 4,
  mlp_hidden_size: 192,
  vocab_size: 300,
  embedding_size: 320,
  rope_theta: 500000,
  rms_norm_eps: 1e-5,
  max_sequence_length: 4096,
  weight_tying: false,
  include_bias: false,
  include_qkv_bias: false,
  mask_token_id: 310,
  eos_token_id: 300,
  pad_token_id: 300,
};

test('LLaDA HF config normalises', () => {
  const config = configFromHf(LLADA_CONFIG, { eos_token_id: [300, 305], bos_token_id: 299 });
  assert.equal(pick(config, [...DECODE_KEYS, 'hidden', 'ffn', 'vocab', 'headDim', 'ropeLayout', 'tiedEmbeddings', 'qkvBias', 'bosTokenId', 'maxContext']), {
    family: 'llada', attention: 'full', blockSize: 0, shiftLogits: false, maskTokenId: 310, stopTokenIds: [300, 305],
    hidden: 64, ffn: 192, vocab: 320, headDim: 16, ropeLayout: 'neox', tiedEmbeddings: false, qkvBias: false, bosTokenId: 299,
    maxContext: 4096,
  });
  assert.is(config.normEps, 1e-5);
});

test('LLaDA HF config without mask id uses <|mdm_mask|>', () => {
  const { mask_token_id: _, ...rest } = LLADA_CONFIG;
  const tokenizer = { added_tokens: [{ id: 311, content: '<|mdm_mask|>' }, { id: 300, content: '<|endoftext|>' }] };
  const config = configFromHf(rest, null, { eos_token: '<|endoftext|>' }, tokenizer);
  assert.is(config.maskTokenId, 311);
  assert.equal(config.stopTokenIds, [300]);
});

test('Dream HF config normalises from JSON text', () => {
  const config = configFromHf(
    JSON.stringify({
      architectures: ['DreamModel'], model_type: 'Dream', hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 4,
      num_key_value_heads: 2, intermediate_size: 256, vocab_size: 400, rope_theta: 1e6, rms_norm_eps: 1e-6,
      max_position_embeddings: 2048, tie_word_embeddings: false, mask_token_id: 390, eos_token_id: 380, bos_token_id: 380,
    }),
    JSON.stringify({ eos_token_id: 380 }),
    JSON.stringify({ eos_token: { content: '<|im_end|>' }, add_bos_token: true }),
    JSON.stringify({ added_tokens: [{ id: 381, content: '<|im_end|>' }] }),
  );
  assert.equal(pick(config, [...DECODE_KEYS, 'qkvBias', 'tiedEmbeddings', 'addBos', 'headDim']), {
    family: 'dream', attention: 'full', blockSize: 0, shiftLogits: true, maskTokenId: 390, stopTokenIds: [380, 381],
    qkvBias: true, tiedEmbeddings: false, addBos: true, headDim: 32,
  });
});

test('tensor names decide qk-norm, biases and tying', () => {
  const base = readJson(`${FIXTURES}/sdar-tiny/hf-f32/config.json`);
  const without = configFromHf(base, null, null, null, ['token_embd.weight', 'blk.0.attn_q.bias']);
  assert.equal(pick(without, ['qkNorm', 'qkvBias', 'tiedEmbeddings']), { qkNorm: false, qkvBias: true, tiedEmbeddings: true });
  const withConfigOnly = configFromHf(base);
  assert.equal(pick(withConfigOnly, ['qkNorm', 'qkvBias', 'tiedEmbeddings']), { qkNorm: true, qkvBias: false, tiedEmbeddings: false });
});

test('SDAR defaults to block size 4 and Fast-dLLM to 32', () => {
  const sdar = readJson(`${FIXTURES}/sdar-tiny/hf-f32/config.json`);
  delete sdar.block_size;
  assert.is(configFromHf(sdar).blockSize, 4);
  const fast = readJson(`${FIXTURES}/fastdllm-tiny/hf-f32/config.json`);
  delete fast.bd_size;
  const tokenizer = readFileSync(`${FIXTURES}/fastdllm-tiny/hf-f32/tokenizer.json`, 'utf8');
  assert.is(configFromHf(fast, null, null, tokenizer).blockSize, 32);
  assert.is(configFromHf({ ...fast, bd_size: 16 }, null, null, tokenizer).blockSize, 16);
});

test('Fast-dLLM mask comes from tokenizer.json added tokens', () => {
  const fast = readJson(`${FIXTURES}/fastdllm-tiny/hf-f32/config.json`);
  const tokenizer = readFileSync(`${FIXTURES}/fastdllm-tiny/hf-f32/tokenizer.json`, 'utf8');
  assert.is(configFromHf(fast, null, null, tokenizer).maskTokenId, 267);
});

test('diffusion family without a mask token is rejected', () => {
  const fast = readJson(`${FIXTURES}/fastdllm-tiny/hf-f32/config.json`);
  assert.throws(
    () => configFromHf(fast),
    (error: Error) => error instanceof ConfigError && error.code === 'MISSING_FIELD' && error.message.includes('mask_token_id'),
  );
});

test('LLaDA2 config.json gives the grouped sigmoid router', () => {
  // the fields of LLaDA2.0-mini's config.json that the engine reads, with its published values
  const config = configFromHf({
    architectures: ['LLaDA2MoeModelLM'], model_type: 'llada2_moe', hidden_size: 2048, num_hidden_layers: 20,
    num_attention_heads: 16, num_key_value_heads: 4, head_dim: 128, intermediate_size: 5120, moe_intermediate_size: 512,
    num_experts: 256, num_experts_per_tok: 8, num_shared_experts: 1, first_k_dense_replace: 1, n_group: 8, topk_group: 4,
    routed_scaling_factor: 2.5, norm_topk_prob: true, partial_rotary_factor: 0.5, rope_theta: 600000, rms_norm_eps: 1e-6,
    vocab_size: 157184, max_position_embeddings: 8192, eos_token_id: 156892,
  });
  assert.is(config.family, 'llada2');
  assert.is(config.attention, 'block-causal');
  assert.is(config.blockSize, 32);
  assert.is(config.ropeDim, 64);
  assert.is(config.maskTokenId, 156895);
  assert.is(config.fusedQkv, true);
  assert.equal(config.moe, {
    experts: 256, expertsUsed: 8, expertFfn: 512, denseLayers: 1, gating: 'sigmoid', selectionBias: true,
    groups: 8, groupsUsed: 4, normaliseWeights: true, weightsScale: 2.5, sharedFfn: 512,
  });
});

test('unknown architecture lists the supported ones', () => {
  const base = readJson(`${FIXTURES}/sdar-tiny/hf-f32/config.json`);
  assert.throws(
    () => configFromHf({ ...base, architectures: ['OlmoeForCausalLM'], model_type: 'olmoe' }),
    (error: Error) =>
      error instanceof UnsupportedModelError && error.code === 'UNSUPPORTED_ARCHITECTURE' &&
      error.message.includes('"OlmoeForCausalLM"') && error.message.includes('SDARForCausalLM') && error.message.includes('LLaDA2MoeModelLM'),
  );
  assert.throws(
    () => configFromGguf({ 'general.architecture': 'llama' }, []),
    (error: Error) => error instanceof UnsupportedModelError && error.message.includes('"llama"') && error.message.includes('qwen3, dream, llada'),
  );
});

test('model_type identifies configs without architectures', () => {
  const base = readJson(`${FIXTURES}/sdar-tiny/hf-f32/config.json`);
  delete base.architectures;
  assert.is(configFromHf(base).family, 'sdar');
});

test('missing required fields are named', () => {
  const base = readJson(`${FIXTURES}/sdar-tiny/hf-f32/config.json`);
  for (const field of ['hidden_size', 'num_hidden_layers', 'num_attention_heads', 'intermediate_size', 'vocab_size', 'max_position_embeddings']) {
    const config = { ...base };
    delete config[field];
    assert.throws(
      () => configFromHf(config),
      (error: Error) => error instanceof ConfigError && error.code === 'MISSING_FIELD' && error.message.includes(`"${field}"`),
      field,
    );
  }
  assert.throws(
    () => configFromHf({ ...base, hidden_size: 'big' }),
    (error: Error) => error instanceof ConfigError && error.code === 'INVALID_OPTION' && error.message.includes('"big"'),
  );
  assert.throws(() => configFromHf('{not json'), (error: Error) => error instanceof ConfigError && error.message.includes('config.json'));
});

test('rope scaling is rejected', () => {
  const base = readJson(`${FIXTURES}/sdar-tiny/hf-f32/config.json`);
  assert.throws(
    () => configFromHf({ ...base, rope_scaling: { type: 'yarn', factor: 4 } }),
    (error: Error) => error instanceof UnsupportedModelError && error.message.includes('yarn'),
  );
  assert.is(configFromHf({ ...base, rope_scaling: { rope_type: 'default' } }).ropeTheta, 1e6);
});

// ---------------------------------------------------------------------------------------------------
// GGUF metadata

const DREAM_METADATA: Record<string, unknown> = {
  'general.architecture': 'dream',
  'dream.embedding_length': 64,
  'dream.block_count': 2,
  'dream.feed_forward_length': 128,
  'dream.attention.head_count': 4,
  'dream.attention.head_count_kv': 2,
  'dream.context_length': 4096,
  'dream.attention.layer_norm_rms_epsilon': 1e-6,
  'tokenizer.ggml.tokens': ['a', 'b', '<|mask|>', '<|endoftext|>'],
  'tokenizer.ggml.eos_token_id': 3,
  'tokenizer.ggml.eot_token_id': 1,
};
const DREAM_TENSORS = [{ name: 'token_embd.weight', shape: [4, 64] }, { name: 'blk.0.attn_q.bias', shape: [64] }];

test('GGUF dream shift follows diffusion.shift_logits', () => {
  assert.is(configFromGguf(DREAM_METADATA, DREAM_TENSORS).shiftLogits, true);
  assert.is(configFromGguf({ ...DREAM_METADATA, 'diffusion.shift_logits': 'false' }, DREAM_TENSORS).shiftLogits, false);
  assert.is(configFromGguf({ ...DREAM_METADATA, 'diffusion.shift_logits': false }, DREAM_TENSORS).shiftLogits, false);
  assert.is(configFromGguf({ ...DREAM_METADATA, 'diffusion.shift_logits': 'true' }, DREAM_TENSORS).shiftLogits, true);
});

test('GGUF fallbacks: mask from tokens, vocab from embedding, stop ids from eos and eot', () => {
  const config = configFromGguf(DREAM_METADATA, DREAM_TENSORS);
  assert.equal(pick(config, ['maskTokenId', 'vocab', 'stopTokenIds', 'headDim', 'ropeDim', 'qkvBias', 'tiedEmbeddings', 'bosTokenId']), {
    maskTokenId: 2, vocab: 4, stopTokenIds: [3, 1], headDim: 16, ropeDim: 16, qkvBias: true, tiedEmbeddings: true, bosTokenId: -1,
  });
});

test('GGUF missing keys are named', () => {
  for (const key of ['dream.block_count', 'dream.embedding_length', 'dream.attention.layer_norm_rms_epsilon', 'dream.context_length']) {
    const metadata = { ...DREAM_METADATA };
    delete metadata[key];
    assert.throws(
      () => configFromGguf(metadata, DREAM_TENSORS),
      (error: Error) => error instanceof ConfigError && error.code === 'MISSING_FIELD' && error.message.includes(`"${key}"`),
      key,
    );
  }
  assert.throws(() => configFromGguf({}, []), (error: Error) => error instanceof ConfigError && error.message.includes('general.architecture'));
});

test('GGUF per-layer arrays must be uniform', () => {
  const uniform = configFromGguf({ ...DREAM_METADATA, 'dream.attention.head_count_kv': [2, 2] }, DREAM_TENSORS);
  assert.is(uniform.nKvHeads, 2);
  assert.throws(
    () => configFromGguf({ ...DREAM_METADATA, 'dream.attention.head_count_kv': [2, 4] }, DREAM_TENSORS),
    (error: Error) => error instanceof UnsupportedModelError && error.message.includes('head_count_kv'),
  );
});

test('expected tensors follow the config', () => {
  const config = configFromGguf(DREAM_METADATA, DREAM_TENSORS);
  const expected = expectedTensors(config);
  assert.equal(expected.get('blk.1.attn_q.weight'), [64, 64]);
  assert.equal(expected.get('blk.1.attn_k.weight'), [32, 64]);
  assert.equal(expected.get('blk.1.attn_k.bias'), [32]);
  assert.equal(expected.get('blk.0.ffn_down.weight'), [64, 128]);
  assert.is(expected.has('output.weight'), false);
  assert.is(expected.has('blk.0.attn_q_norm.weight'), false);
  assert.is(expected.size, 2 + 2 * 12);
});

test.run();
