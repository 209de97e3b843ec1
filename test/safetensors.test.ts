// safetensors reader and Hugging Face folders: the twins' HF folders against their GGUF files, sharded
// folders, name mapping, and corrupt headers against the typed errors they must raise.

import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DllmError, ModelFormatError } from '../src/errors.js';
import { f32ToBf16 } from '../src/formats/quant.js';
import { hfToGgufName, readSafetensors } from '../src/formats/safetensors.js';
import { bufferSource } from '../src/formats/source.js';
import { openCheckpoint } from '../src/models/load-checkpoint.js';

const FIXTURES = 'test/fixtures';

interface Entry { dtype: string; shape: number[]; data_offsets: [number, number] }

/** Builds a safetensors file from a header object and a data section. */
function buildFile(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function twoTensors(overrides: Partial<Record<'a' | 'b', Partial<Entry>>> = {}): Uint8Array {
  const header = {
    __metadata__: { format: 'pt' },
    a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24], ...overrides.a },
    b: { dtype: 'BF16', shape: [4], data_offsets: [24, 32], ...overrides.b },
  };
  return buildFile(header, new Uint8Array(32).map((_, i) => i));
}

async function rejectsWith(bytes: Uint8Array, code: string, ...fragments: string[]) {
  try {
    await readSafetensors(bufferSource(bytes, 'bad.safetensors'));
  } catch (error) {
    assert.instance(error, ModelFormatError, `${(error as Error).name}: ${(error as Error).message}`);
    assert.is((error as ModelFormatError).code, code, (error as Error).message);
    for (const fragment of fragments) assert.ok((error as Error).message.includes(fragment), `"${(error as Error).message}" lacks "${fragment}"`);
    return;
  }
  assert.unreachable('parsing succeeded');
}

// ---------------------------------------------------------------------------------------------------
// Twins: HF folder against GGUF

for (const model of ['sdar-tiny', 'fastdllm-tiny']) {
  test(`${model} hf-f32 matches its GGUF byte for byte`, async () => {
    const hf = await openCheckpoint(`${FIXTURES}/${model}/hf-f32`);
    const gguf = await openCheckpoint(`${FIXTURES}/${model}/${model}-f32.gguf`);
    assert.equal([...hf.tensors.keys()].sort(), [...gguf.tensors.keys()].sort());
    for (const [name, t] of hf.tensors) {
      const twin = gguf.tensors.get(name)!;
      assert.equal(t.shape, twin.shape, name);
      assert.is(t.type, 'F32');
      assert.is(Buffer.compare(await t.read(), await twin.read()), 0, name);
    }
    await hf.close();
    await gguf.close();
  });

  test(`${model} hf-bf16 is its F32 twin rounded`, async () => {
    const bf16 = await openCheckpoint(`${FIXTURES}/${model}/hf-bf16`);
    const f32 = await openCheckpoint(`${FIXTURES}/${model}/hf-f32`);
    for (const [name, t] of bf16.tensors) {
      assert.is(t.type, 'BF16', name);
      const half = await t.read();
      const full = await f32.tensors.get(name)!.read();
      const halfBits = new Uint16Array(half.slice().buffer);
      const fullValues = new Float32Array(full.slice().buffer);
      for (let i = 0; i < fullValues.length; i++) assert.is(halfBits[i], f32ToBf16(fullValues[i]), `${name}[${i}]`);
    }
    await bf16.close();
    await f32.close();
  });

  test(`${model} manifest name table maps`, () => {
    const manifest = JSON.parse(readFileSync(`${FIXTURES}/${model}/manifest.json`, 'utf8')) as {
      tensors: Array<{ hf: string; gguf: string }>;
    };
    for (const { hf, gguf } of manifest.tensors) assert.is(hfToGgufName(hf), gguf);
  });
}

test('HF folder exposes tokenizer files and template', async () => {
  const checkpoint = await openCheckpoint(`${FIXTURES}/fastdllm-tiny/hf-f32`);
  assert.ok(checkpoint.tokenizerJson?.includes('|<MASK>|'));
  assert.ok(checkpoint.tokenizerConfigJson?.includes('Qwen2Tokenizer'));
  assert.ok(checkpoint.chatTemplate?.includes('You are a helpful assistant.'));
  assert.is(checkpoint.ggufMetadata, undefined);
  assert.is(checkpoint.tensors.has('output.weight'), false);
  await checkpoint.close();
});

test('LLaDA OLMo names map to GGUF names', () => {
  const table: Array<[string, string]> = [
    ['model.transformer.wte.weight', 'token_embd.weight'],
    ['model.transformer.ln_f.weight', 'output_norm.weight'],
    ['model.transformer.ff_out.weight', 'output.weight'],
    ['model.transformer.blocks.7.attn_norm.weight', 'blk.7.attn_norm.weight'],
    ['model.transformer.blocks.7.q_proj.weight', 'blk.7.attn_q.weight'],
    ['model.transformer.blocks.7.k_proj.weight', 'blk.7.attn_k.weight'],
    ['model.transformer.blocks.7.v_proj.weight', 'blk.7.attn_v.weight'],
    ['model.transformer.blocks.7.attn_out.weight', 'blk.7.attn_output.weight'],
    ['model.transformer.blocks.7.ff_norm.weight', 'blk.7.ffn_norm.weight'],
    ['model.transformer.blocks.7.ff_proj.weight', 'blk.7.ffn_gate.weight'],
    ['model.transformer.blocks.7.up_proj.weight', 'blk.7.ffn_up.weight'],
    ['model.transformer.blocks.7.ff_out.weight', 'blk.7.ffn_down.weight'],
    ['model.layers.3.self_attn.q_proj.bias', 'blk.3.attn_q.bias'],
    ['model.layers.3.self_attn.rotary_emb.inv_freq', null as unknown as string],
    ['something.else', 'something.else'],
  ];
  for (const [hf, gguf] of table) assert.is(hfToGgufName(hf), gguf, hf);
});

// ---------------------------------------------------------------------------------------------------
// Sharded folders

test('sharded folder loads like the single file', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'dllm-shards-'));
  try {
    const source = `${FIXTURES}/sdar-tiny/hf-f32`;
    for (const file of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) {
      cpSync(join(source, file), join(folder, file));
    }
    const bytes = readFileSync(join(source, 'model.safetensors'));
    const { tensors } = await readSafetensors(bufferSource(bytes));
    const shards: Array<Record<string, Entry>> = [{}, {}];
    const data: Uint8Array[][] = [[], []];
    const sizes = [0, 0];
    const weightMap: Record<string, string> = {};
    tensors.forEach((t, i) => {
      const shard = i % 2;
      shards[shard][t.name] = { dtype: t.type, shape: t.shape, data_offsets: [sizes[shard], sizes[shard] + t.byteLength] };
      data[shard].push(bytes.subarray(t.offset, t.offset + t.byteLength));
      sizes[shard] += t.byteLength;
      weightMap[t.name] = `model-0000${shard + 1}-of-00002.safetensors`;
    });
    for (const shard of [0, 1]) {
      writeFileSync(join(folder, `model-0000${shard + 1}-of-00002.safetensors`), buildFile(shards[shard], Buffer.concat(data[shard])));
    }
    writeFileSync(join(folder, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));

    const sharded = await openCheckpoint(folder);
    const single = await openCheckpoint(source);
    assert.equal(sharded.config, single.config);
    assert.equal([...sharded.tensors.keys()].sort(), [...single.tensors.keys()].sort());
    for (const [name, t] of single.tensors) assert.is(Buffer.compare(await t.read(), await sharded.tensors.get(name)!.read()), 0, name);
    await sharded.close();
    await single.close();

    // An index entry that points at the wrong shard is rejected.
    const firstName = tensors[0].name;
    writeFileSync(
      join(folder, 'model.safetensors.index.json'),
      JSON.stringify({ weight_map: { ...weightMap, [firstName]: 'model-00002-of-00002.safetensors' } }),
    );
    try {
      await openCheckpoint(folder);
      assert.unreachable('opened');
    } catch (error) {
      assert.instance(error, ModelFormatError);
      assert.is((error as ModelFormatError).code, 'MISSING_TENSOR');
      assert.ok((error as Error).message.includes(firstName));
    }

    writeFileSync(join(folder, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { x: '../model.safetensors' } }));
    try {
      await openCheckpoint(folder);
      assert.unreachable('opened');
    } catch (error) {
      assert.instance(error, ModelFormatError);
      assert.is((error as ModelFormatError).code, 'INVALID_SAFETENSORS');
      assert.ok((error as Error).message.includes('../model.safetensors'));
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('folder without weights gives MISSING_FILE', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'dllm-empty-'));
  try {
    cpSync(`${FIXTURES}/sdar-tiny/hf-f32/config.json`, join(folder, 'config.json'));
    try {
      await openCheckpoint(folder);
      assert.unreachable('opened');
    } catch (error) {
      assert.instance(error, ModelFormatError);
      assert.is((error as ModelFormatError).code, 'MISSING_FILE');
      assert.ok((error as Error).message.includes('model.safetensors'));
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------------
// Corrupt files

test('synthetic file parses', async () => {
  const { tensors, metadata } = await readSafetensors(bufferSource(twoTensors()));
  assert.equal(metadata, { format: 'pt' });
  assert.equal(tensors.map((t) => [t.name, t.type, t.shape, t.byteLength]), [['a', 'F32', [2, 3], 24], ['b', 'BF16', [4], 8]]);
});

test('header length is bounded by the file', async () => {
  const bytes = twoTensors();
  const huge = bytes.slice();
  new DataView(huge.buffer).setBigUint64(0, 1n << 60n, true);
  await rejectsWith(huge, 'TRUNCATED_FILE', 'header length', 'bad.safetensors');
  await rejectsWith(bytes.subarray(0, 5), 'TRUNCATED_FILE', 'too short');
  await rejectsWith(bytes.subarray(0, 40), 'TRUNCATED_FILE');
});

test('invalid JSON headers are rejected', async () => {
  const bytes = twoTensors();
  const broken = bytes.slice();
  broken[8] = 0x5b; // '[' makes the JSON invalid
  await rejectsWith(broken, 'INVALID_SAFETENSORS', 'not valid UTF-8 JSON');
  await rejectsWith(buildFile([1, 2] as unknown as Record<string, unknown>, new Uint8Array(0)), 'INVALID_SAFETENSORS', 'not a JSON object');
  await rejectsWith(twoTensors({ a: { shape: [2, -3] } }), 'INVALID_SAFETENSORS', 'invalid shape');
  await rejectsWith(twoTensors({ a: { data_offsets: [0] as unknown as [number, number] } }), 'INVALID_SAFETENSORS', 'invalid data_offsets');
});

test('unknown dtype names dtype and tensor', async () => {
  await rejectsWith(twoTensors({ b: { dtype: 'I64', shape: [1] } }), 'UNKNOWN_DTYPE', 'I64', '"b"', 'F32, F16 and BF16');
  await rejectsWith(twoTensors({ a: { dtype: 'F8_E4M3' } }), 'UNKNOWN_DTYPE', 'F8_E4M3', '"a"');
});

test('offsets outside the file, overlaps and size mismatches are rejected', async () => {
  await rejectsWith(twoTensors({ b: { data_offsets: [24, 4096] } }), 'TRUNCATED_FILE', '"b"', '[24, 4096]');
  await rejectsWith(twoTensors({ b: { data_offsets: [30, 24] } }), 'TRUNCATED_FILE', '"b"');
  await rejectsWith(twoTensors({ b: { data_offsets: [16, 24] } }), 'INVALID_SAFETENSORS', 'overlap');
  await rejectsWith(twoTensors({ a: { shape: [2, 4] } }), 'SHAPE_MISMATCH', '"a"', 'needs 32 bytes', 'span 24');
  await rejectsWith(twoTensors({ a: { shape: [2 ** 40, 2 ** 20] } }), 'SHAPE_MISMATCH', '"a"');
});

test('random header corruption never escapes as an untyped error', async () => {
  const original = twoTensors();
  let seed = 99;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  for (let round = 0; round < 300; round++) {
    const bytes = original.slice();
    bytes[Math.floor(random() * (original.length - 32))] = Math.floor(random() * 256);
    try {
      await readSafetensors(bufferSource(bytes));
    } catch (error) {
      assert.instance(error, DllmError, `round ${round}: ${(error as Error).name}: ${(error as Error).message}`);
    }
  }
});

test.run();
