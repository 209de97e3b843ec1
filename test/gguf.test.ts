// GGUF reader and GGUF checkpoints: every fixture against its manifest, and corrupt files (truncated, bad
// magic, huge counts, offsets outside the file, unknown types) against the typed errors they must raise.

import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { DllmError, ModelFormatError, UnsupportedModelError } from '../src/errors.js';
import { readGguf, GgufValueType } from '../src/formats/gguf.js';
import { bufferSource, openFileSource, openUrlSource } from '../src/formats/source.js';
import { openCheckpoint } from '../src/models/load-checkpoint.js';

const FIXTURES = 'test/fixtures';

// ---------------------------------------------------------------------------------------------------
// A minimal GGUF writer that records where each field lands, so tests can corrupt one field at a time.

type KvValue = { type: GgufValueType; value: unknown; elementType?: GgufValueType };
interface TensorSpec { name: string; ne: number[]; type: number; bytes: number; offset?: number }
interface Written {
  bytes: Uint8Array;
  at: Record<string, number>; // field name -> byte offset
}

function writeGguf(kv: Record<string, KvValue>, tensors: TensorSpec[], version = 3, alignment = 32): Written {
  const parts: number[] = [];
  const at: Record<string, number> = {};
  const u8 = (v: number) => parts.push(v & 0xff);
  const u32 = (v: number) => { for (let i = 0; i < 4; i++) u8(v >>> (8 * i)); };
  const u64 = (v: number) => { const b = BigInt(v); for (let i = 0n; i < 8n; i++) u8(Number((b >> (8n * i)) & 0xffn)); };
  const str = (s: string) => { const b = new TextEncoder().encode(s); u64(b.length); b.forEach(u8); };
  const scalar = (type: GgufValueType, v: unknown) => {
    const dv = new DataView(new ArrayBuffer(8));
    switch (type) {
      case GgufValueType.STRING: return str(v as string);
      case GgufValueType.UINT32: return u32(v as number);
      case GgufValueType.INT32: return u32(v as number);
      case GgufValueType.FLOAT32: dv.setFloat32(0, v as number, true); for (let i = 0; i < 4; i++) u8(dv.getUint8(i)); return;
      case GgufValueType.BOOL: return u8(v ? 1 : 0);
      case GgufValueType.UINT64: return u64(v as number);
      default: throw new Error(`writer does not support type ${type}`);
    }
  };

  u32(0x46554747);
  u32(version);
  at.tensorCount = parts.length; u64(tensors.length);
  at.kvCount = parts.length; u64(Object.keys(kv).length);
  for (const [key, { type, value, elementType }] of Object.entries(kv)) {
    at[`key:${key}`] = parts.length;
    str(key);
    u32(type);
    at[`value:${key}`] = parts.length;
    if (type === GgufValueType.ARRAY) {
      u32(elementType!);
      at[`count:${key}`] = parts.length;
      u64((value as unknown[]).length);
      for (const v of value as unknown[]) scalar(elementType!, v);
    } else {
      scalar(type, value);
    }
  }
  let next = 0;
  for (const t of tensors) {
    at[`tensor:${t.name}`] = parts.length;
    str(t.name);
    u32(t.ne.length);
    for (const d of t.ne) u64(d);
    at[`type:${t.name}`] = parts.length;
    u32(t.type);
    at[`offset:${t.name}`] = parts.length;
    u64(t.offset ?? next);
    next += Math.ceil(t.bytes / alignment) * alignment;
  }
  while (parts.length % alignment !== 0) u8(0);
  at.data = parts.length;
  for (let i = 0; i < next; i++) u8(i * 7);
  return { bytes: Uint8Array.from(parts), at };
}

function patchU64(bytes: Uint8Array, offset: number, value: bigint): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setBigUint64(offset, value, true);
  return copy;
}

function patchU32(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(offset, value, true);
  return copy;
}

/** Asserts that parsing rejects with a ModelFormatError of `code` whose message contains every fragment. */
async function rejectsWith(bytes: Uint8Array, ErrorClass: typeof DllmError, code: string, ...fragments: string[]) {
  try {
    await readGguf(bufferSource(bytes, 'bad.gguf'));
  } catch (error) {
    assert.instance(error, ErrorClass, `expected ${ErrorClass.name}, got ${(error as Error).name}: ${(error as Error).message}`);
    assert.is((error as DllmError).code, code, (error as Error).message);
    for (const fragment of fragments) assert.ok((error as Error).message.includes(fragment), `"${(error as Error).message}" lacks "${fragment}"`);
    return;
  }
  assert.unreachable('parsing succeeded');
}

const SMALL_KV: Record<string, KvValue> = {
  'general.architecture': { type: GgufValueType.STRING, value: 'qwen3' },
  'general.alignment': { type: GgufValueType.UINT32, value: 32 },
  'tokenizer.ggml.tokens': { type: GgufValueType.ARRAY, elementType: GgufValueType.STRING, value: ['a', 'b', 'c'] },
  'x.scores': { type: GgufValueType.ARRAY, elementType: GgufValueType.FLOAT32, value: [0.5, -1, 2] },
};
const SMALL_TENSORS: TensorSpec[] = [
  { name: 'a.weight', ne: [64, 2], type: 8, bytes: 4 * 34 },
  { name: 'b.weight', ne: [16], type: 0, bytes: 64 },
];

// ---------------------------------------------------------------------------------------------------
// Fixtures against their manifests

interface SmallManifest { files: Record<string, { file: string; shipped: boolean; tensor_dtypes: Record<string, string>; dtype_counts: Record<string, number> }> }

for (const model of ['small-qwen3', 'small-dream', 'small-llada']) {
  const manifest = JSON.parse(readFileSync(`${FIXTURES}/${model}/manifest.json`, 'utf8')) as SmallManifest;
  for (const entry of Object.values(manifest.files).filter((f) => f.shipped)) {
    test(`${entry.file} matches manifest types`, async () => {
      const source = await openFileSource(`${FIXTURES}/${model}/${entry.file}`);
      const gguf = await readGguf(source);
      await source.close();
      assert.is(gguf.tensors.length, Object.keys(entry.tensor_dtypes).length);
      for (const t of gguf.tensors) assert.is(t.type.name, entry.tensor_dtypes[t.name], t.name);
      const counts: Record<string, number> = {};
      for (const t of gguf.tensors) counts[t.type.name] = (counts[t.type.name] ?? 0) + 1;
      assert.equal(counts, entry.dtype_counts);
      // Tensors are packed back to back (with alignment padding) up to the end of the file.
      const end = Math.max(...gguf.tensors.map((t) => t.offset + t.byteLength));
      assert.ok(source.size - end < gguf.alignment, `file has ${source.size - end} bytes after the last tensor`);
    });
  }
}

interface TwinManifest { tensors: Array<{ gguf: string; gguf_ne: number[]; hf_shape: number[] }> }

for (const model of ['sdar-tiny', 'fastdllm-tiny']) {
  test(`${model} GGUF matches manifest shapes`, async () => {
    const manifest = JSON.parse(readFileSync(`${FIXTURES}/${model}/manifest.json`, 'utf8')) as TwinManifest;
    const gguf = await readGguf(bufferSource(readFileSync(`${FIXTURES}/${model}/${model}-f32.gguf`)));
    const byName = new Map(gguf.tensors.map((t) => [t.name, t]));
    assert.is(gguf.tensors.length, manifest.tensors.length);
    for (const expected of manifest.tensors) {
      const t = byName.get(expected.gguf);
      assert.ok(t, `${expected.gguf} missing`);
      assert.equal(t!.ne, expected.gguf_ne, expected.gguf);
      assert.equal(t!.shape, expected.hf_shape, expected.gguf);
      assert.is(t!.type.name, 'F32');
    }
  });
}

test('tiny GGUFs match manifest-tiny shapes', async () => {
  const manifest = JSON.parse(readFileSync(`${FIXTURES}/tiny/fixtures/manifest-tiny.json`, 'utf8')) as {
    models: Record<string, { tensors: Array<[string, number[]]> }>;
  };
  for (const [file, model] of Object.entries(manifest.models)) {
    const gguf = await readGguf(bufferSource(readFileSync(`${FIXTURES}/tiny/fixtures/${file}`)));
    const byName = new Map(gguf.tensors.map((t) => [t.name, t]));
    assert.is(gguf.tensors.length, model.tensors.length, file);
    for (const [name, shape] of model.tensors) assert.equal(byName.get(name)?.shape, shape, `${file} ${name}`);
  }
});

test('tiny F16 and BF16 GGUFs use ggml ids 1 and 30', async () => {
  const f16 = await readGguf(bufferSource(readFileSync(`${FIXTURES}/tiny/fixtures/tiny-qwen3-F16.gguf`)));
  const bf16 = await readGguf(bufferSource(readFileSync(`${FIXTURES}/tiny/fixtures/tiny-dream-BF16.gguf`)));
  const types = (file: typeof f16) => new Set(file.tensors.filter((t) => t.ne.length === 2).map((t) => `${t.type.id}:${t.type.name}`));
  assert.equal([...types(f16)], ['1:F16']);
  assert.equal([...types(bf16)], ['30:BF16']);
});

test('metadata values keep their types', async () => {
  const gguf = await readGguf(bufferSource(readFileSync(`${FIXTURES}/small-llada/small-llada-Q4_0.gguf`)));
  assert.is(gguf.version, 3);
  assert.is(gguf.alignment, 32);
  assert.is(gguf.metadata['general.architecture'], 'llada');
  assert.is(gguf.metadata['llada.block_count'], 4);
  assert.is(gguf.metadataTypes['llada.block_count'], GgufValueType.UINT32);
  assert.is(gguf.metadata['diffusion.shift_logits'], false);
  assert.ok(Math.abs((gguf.metadata['llada.attention.layer_norm_rms_epsilon'] as number) - 1e-5) < 1e-12);
  const tokens = gguf.metadata['tokenizer.ggml.tokens'] as string[];
  assert.is(tokens.length, 267);
  assert.is(tokens[266], '<|mask|>');
  assert.is((gguf.metadata['tokenizer.ggml.token_type'] as number[]).length, 267);
});

test('tensor bytes read from file and buffer agree', async () => {
  const path = `${FIXTURES}/small-qwen3/small-qwen3-Q4_K_M.gguf`;
  const fromFile = await openCheckpoint(path);
  const fromBuffer = await openCheckpoint(readFileSync(path));
  assert.is(fromFile.tensors.size, fromBuffer.tensors.size);
  for (const name of ['token_embd.weight', 'blk.3.ffn_down.weight', 'output_norm.weight']) {
    const a = await fromFile.tensors.get(name)!.read();
    const b = await fromBuffer.tensors.get(name)!.read();
    assert.is(a.byteLength, fromFile.tensors.get(name)!.byteLength);
    assert.equal(Buffer.compare(a, b), 0, name);
  }
  await fromFile.close();
  await fromBuffer.close();
});

test('GGUF checkpoint carries metadata, no tokenizer.json', async () => {
  const checkpoint = await openCheckpoint(`${FIXTURES}/sdar-tiny/sdar-tiny-f32.gguf`);
  assert.is(checkpoint.tokenizerJson, null);
  assert.ok(checkpoint.ggufMetadata);
  assert.is(checkpoint.ggufMetadata!['tokenizer.ggml.model'], 'gpt2');
  assert.is((checkpoint.ggufMetadata!['tokenizer.ggml.merges'] as string[]).length, 8);
  assert.ok(checkpoint.chatTemplate?.startsWith('{%- for message in messages %}'));
  const embedding = checkpoint.tensors.get('token_embd.weight')!;
  assert.equal(embedding.shape, [272, 64]);
  assert.is(embedding.byteLength, 272 * 64 * 4);
  await checkpoint.close();
});

// ---------------------------------------------------------------------------------------------------
// Corrupt and hostile files

test('synthetic writer output parses', async () => {
  const { bytes } = writeGguf(SMALL_KV, SMALL_TENSORS);
  const gguf = await readGguf(bufferSource(bytes));
  assert.equal(gguf.metadata['tokenizer.ggml.tokens'], ['a', 'b', 'c']);
  assert.equal(gguf.metadata['x.scores'], [0.5, -1, 2]);
  assert.equal(gguf.tensors.map((t) => [t.name, t.type.name, t.byteLength]), [['a.weight', 'Q8_0', 136], ['b.weight', 'F32', 64]]);
});

test('truncated files give TRUNCATED_FILE', async () => {
  const bytes = readFileSync(`${FIXTURES}/tiny/fixtures/tiny-qwen3-f32.gguf`);
  const { dataOffset } = await readGguf(bufferSource(bytes));
  const cuts = [4, 7, 8, 15, 23, 24, 30, 100, 1000, 3000, dataOffset - 1, dataOffset, dataOffset + 1, bytes.length - 1];
  for (const cut of cuts) {
    try {
      await readGguf(bufferSource(bytes.subarray(0, cut), 'cut.gguf'));
      assert.unreachable(`cut at ${cut} parsed`);
    } catch (error) {
      assert.instance(error, ModelFormatError, `cut at ${cut}: ${(error as Error).message}`);
      assert.is((error as ModelFormatError).code, 'TRUNCATED_FILE', `cut at ${cut}: ${(error as Error).message}`);
      assert.ok((error as Error).message.includes('cut.gguf'));
    }
  }
});

test('empty and short files are rejected', async () => {
  await rejectsWith(new Uint8Array(0), ModelFormatError, 'TRUNCATED_FILE', 'magic', 'offset 0');
  await rejectsWith(new Uint8Array([0x47, 0x47]), ModelFormatError, 'TRUNCATED_FILE', 'magic');
});

test('bad magic and versions are rejected', async () => {
  const { bytes } = writeGguf(SMALL_KV, SMALL_TENSORS);
  await rejectsWith(patchU32(bytes, 0, 0x12345678), ModelFormatError, 'INVALID_GGUF', 'not a GGUF file');
  await rejectsWith(patchU32(bytes, 4, 1), ModelFormatError, 'INVALID_GGUF', 'version 1', 'obsolete');
  await rejectsWith(patchU32(bytes, 4, 0x03000000), ModelFormatError, 'INVALID_GGUF', 'big-endian');
  const v2 = writeGguf(SMALL_KV, SMALL_TENSORS, 2);
  assert.is((await readGguf(bufferSource(v2.bytes))).version, 2);
});

test('huge counts and lengths are rejected', async () => {
  const { bytes, at } = writeGguf(SMALL_KV, SMALL_TENSORS);
  await rejectsWith(patchU64(bytes, at.tensorCount, 1n << 40n), ModelFormatError, 'TRUNCATED_FILE', 'tensor count 1099511627776');
  await rejectsWith(patchU64(bytes, at.kvCount, 1n << 40n), ModelFormatError, 'TRUNCATED_FILE', 'metadata count');
  await rejectsWith(patchU64(bytes, at.tensorCount, 0xffffffffffffffffn), ModelFormatError, 'INVALID_GGUF', 'tensor count');
  await rejectsWith(
    patchU64(bytes, at['key:general.architecture'], 1n << 50n), ModelFormatError, 'TRUNCATED_FILE', 'metadata key #0', 'offset 24',
  );
  await rejectsWith(
    patchU64(bytes, at['value:general.architecture'], 1n << 30n), ModelFormatError, 'TRUNCATED_FILE', '"general.architecture"',
    `offset ${at['value:general.architecture']}`,
  );
  await rejectsWith(
    patchU64(bytes, at['count:tokenizer.ggml.tokens'], 1n << 40n), ModelFormatError, 'TRUNCATED_FILE', 'tokenizer.ggml.tokens', 'elements',
  );
  await rejectsWith(patchU64(bytes, at['count:x.scores'], 1n << 33n), ModelFormatError, 'TRUNCATED_FILE', 'x.scores');
  const dimsAt = at['tensor:a.weight'] + 8 + 'a.weight'.length;
  await rejectsWith(patchU32(bytes, dimsAt, 9), ModelFormatError, 'INVALID_GGUF', '9 dimensions');
  await rejectsWith(patchU64(bytes, dimsAt + 4, 1n << 52n), ModelFormatError, 'INVALID_GGUF', 'too many elements');
  await rejectsWith(patchU64(bytes, dimsAt + 4, 1n << 40n), ModelFormatError, 'TRUNCATED_FILE', 'a.weight', 'ends past the end');
});

test('bad value types, alignment and duplicates are rejected', async () => {
  const { bytes, at } = writeGguf(SMALL_KV, SMALL_TENSORS);
  const typeAt = at['value:general.architecture'] - 4;
  await rejectsWith(patchU32(bytes, typeAt, 13), ModelFormatError, 'INVALID_GGUF', 'unknown value type 13');
  await rejectsWith(patchU32(bytes, at['value:general.alignment'], 48), ModelFormatError, 'INVALID_GGUF', 'general.alignment is 48');
  await rejectsWith(patchU32(bytes, at['value:general.alignment'], 0), ModelFormatError, 'INVALID_GGUF', 'general.alignment is 0');
  const duplicated = writeGguf(SMALL_KV, [SMALL_TENSORS[0], { ...SMALL_TENSORS[1], name: 'a.weight' }]);
  await rejectsWith(duplicated.bytes, ModelFormatError, 'INVALID_GGUF', '"a.weight"', 'appears twice');
});

test('tensor offsets outside the file or overlapping are rejected', async () => {
  const { bytes, at } = writeGguf(SMALL_KV, SMALL_TENSORS);
  await rejectsWith(patchU64(bytes, at['offset:b.weight'], 1n << 20n), ModelFormatError, 'TRUNCATED_FILE', '"b.weight"', 'ends past the end');
  await rejectsWith(patchU64(bytes, at['offset:b.weight'], 8n), ModelFormatError, 'INVALID_GGUF', 'not a multiple of the alignment 32');
  await rejectsWith(patchU64(bytes, at['offset:b.weight'], 64n), ModelFormatError, 'INVALID_GGUF', 'overlap');
  await rejectsWith(patchU64(bytes, at['offset:b.weight'], 1n << 62n), ModelFormatError, 'INVALID_GGUF', '"b.weight" offset');
});

test('unknown tensor type gives UNKNOWN_DTYPE', async () => {
  const { bytes, at } = writeGguf(SMALL_KV, SMALL_TENSORS);
  await rejectsWith(patchU32(bytes, at['type:a.weight'], 99), ModelFormatError, 'UNKNOWN_DTYPE', 'ggml type id 99', '"a.weight"');
  await rejectsWith(patchU32(bytes, at['type:a.weight'], 4), ModelFormatError, 'UNKNOWN_DTYPE', 'ggml type id 4');
  // Q4_K needs ne[0] to be a multiple of 256.
  await rejectsWith(patchU32(bytes, at['type:a.weight'], 12), ModelFormatError, 'SHAPE_MISMATCH', 'ne[0] = 64', 'Q4_K');
});

test('random corruption never escapes as an untyped error', async () => {
  const { bytes: original } = writeGguf(SMALL_KV, SMALL_TENSORS);
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const headerEnd = original.length - 256;
  for (let round = 0; round < 400; round++) {
    const bytes = original.slice();
    const flips = 1 + Math.floor(random() * 4);
    for (let i = 0; i < flips; i++) bytes[Math.floor(random() * headerEnd)] = Math.floor(random() * 256);
    try {
      await readGguf(bufferSource(bytes));
    } catch (error) {
      assert.instance(error, DllmError, `round ${round}: ${(error as Error).name}: ${(error as Error).message}`);
    }
  }
});

test('expected tensor of unsupported type is rejected', async () => {
  // tiny-qwen3-f32 with blk.0.attn_q.weight relabelled as I32 (same element size as F32).
  const bytes = readFileSync(`${FIXTURES}/tiny/fixtures/tiny-qwen3-f32.gguf`);
  const gguf = await readGguf(bufferSource(bytes));
  const name = 'blk.0.attn_q.weight';
  const index = bytes.indexOf(Buffer.from(name));
  const typeAt = index + name.length + 4 + 8 * gguf.tensors.find((t) => t.name === name)!.ne.length;
  const patched = patchU32(bytes, typeAt, 26);
  try {
    await openCheckpoint(patched);
    assert.unreachable('opened');
  } catch (error) {
    assert.instance(error, UnsupportedModelError);
    assert.is((error as UnsupportedModelError).code, 'UNSUPPORTED_TENSOR');
    assert.ok((error as Error).message.includes('blk.0.attn_q.weight'));
    assert.ok((error as Error).message.includes('I32'));
  }
});

test('shape mismatch names tensor and both shapes', async () => {
  // tiny-qwen3 with blk.1.ffn_up.weight's ne = {64, 128} rewritten as {128, 64}: same bytes, wrong shape.
  const bytes = readFileSync(`${FIXTURES}/tiny/fixtures/tiny-qwen3-f32.gguf`);
  const name = 'blk.1.ffn_up.weight';
  const dimsAt = bytes.indexOf(Buffer.from(name)) + name.length + 4;
  const patched = patchU64(patchU64(bytes, dimsAt, 128n), dimsAt + 8, 64n);
  try {
    await openCheckpoint(patched);
    assert.unreachable('opened');
  } catch (error) {
    assert.instance(error, ModelFormatError);
    assert.is((error as ModelFormatError).code, 'SHAPE_MISMATCH');
    const message = (error as Error).message;
    for (const part of [name, '[64, 128]', '[128, 64]']) assert.ok(message.includes(part), message);
  }
});

test('missing tensor is named', async () => {
  const bytes = readFileSync(`${FIXTURES}/tiny/fixtures/tiny-qwen3-f32.gguf`);
  const name = 'blk.1.ffn_gate.weight';
  const patched = bytes.slice();
  patched.set(Buffer.from('blk.1.ffn_gXte.weight'), bytes.indexOf(Buffer.from(name)));
  try {
    await openCheckpoint(patched);
    assert.unreachable('opened');
  } catch (error) {
    assert.instance(error, ModelFormatError);
    assert.is((error as ModelFormatError).code, 'MISSING_TENSOR');
    assert.ok((error as Error).message.includes(`"${name}" is missing`));
  }
});

test('missing path gives MISSING_FILE', async () => {
  try {
    await openCheckpoint(`${FIXTURES}/no-such-model.gguf`);
    assert.unreachable('opened');
  } catch (error) {
    assert.instance(error, ModelFormatError);
    assert.is((error as ModelFormatError).code, 'MISSING_FILE');
  }
});

// ---------------------------------------------------------------------------------------------------
// URL sources against a local HTTP server

async function serve(bytes: Uint8Array, ranges: boolean): Promise<{ server: Server; url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    const range = request.headers.range;
    requests.push(range ?? 'full');
    const match = ranges && range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
    if (match) {
      const start = Number(match[1]);
      const end = Math.min(Number(match[2]), bytes.length - 1);
      response.writeHead(206, { 'Content-Range': `bytes ${start}-${end}/${bytes.length}`, 'Content-Length': end - start + 1 });
      response.end(bytes.subarray(start, end + 1));
    } else {
      response.writeHead(200, { 'Content-Length': bytes.length });
      response.end(bytes);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { server, url: `http://127.0.0.1:${port}/model.gguf`, requests };
}

test('URL source uses Range requests', async () => {
  const bytes = readFileSync(`${FIXTURES}/tiny/fixtures/tiny-llada-f32.gguf`);
  const { server, url, requests } = await serve(bytes, true);
  try {
    const checkpoint = await openCheckpoint(url);
    assert.is(checkpoint.config.family, 'llada');
    const output = await checkpoint.tensors.get('output.weight')!.read();
    const local = await openCheckpoint(bytes);
    assert.equal(Buffer.compare(output, await local.tensors.get('output.weight')!.read()), 0);
    assert.ok(requests.every((r) => r.startsWith('bytes=')), requests.join(' '));
    await checkpoint.close();
  } finally {
    server.close();
  }
});

test('URL source falls back to a full download', async () => {
  const bytes = readFileSync(`${FIXTURES}/tiny/fixtures/tiny-llada-f32.gguf`);
  const { server, url, requests } = await serve(bytes, false);
  try {
    const source = await openUrlSource(url);
    assert.is(source.size, bytes.length);
    assert.equal(Buffer.compare(await source.read(100, 50), bytes.subarray(100, 150)), 0);
    assert.is(requests.length, 1);
  } finally {
    server.close();
  }
});

test.run();
