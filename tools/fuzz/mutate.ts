// Fuzz cases: a fixture checkpoint plus a few seeded mutations. Case `index` under `seed` always builds the
// same bytes, so a finding is reproduced with `npm run fuzz -- --seed S --only INDEX`.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mapGguf, type Field, type GgufMap } from './gguf-fields.js';
import { FuzzRng } from './rng.js';

const FIXTURES = new URL('../../test/fixtures/', import.meta.url).pathname;

/** GGUF fixtures: F32, F16, BF16 and the quantised formats the engine reads natively or dequantises. */
const GGUF_FIXTURES = [
  'sdar-tiny/sdar-tiny-f32.gguf',
  'fastdllm-tiny/fastdllm-tiny-f32.gguf',
  'tiny/fixtures/tiny-qwen3-F16.gguf',
  'tiny/fixtures/tiny-dream-BF16.gguf',
  'tiny/fixtures/tiny-llada-f32.gguf',
  'small-qwen3-Q4_K_M.gguf',
  'small-dream-Q8_0.gguf',
  'small-llada-Q4_0.gguf',
].map((name) => (name.startsWith('small-') ? `${name.replace(/-(Q\w+)\.gguf$/, '')}/${name}` : name));

/** Hugging Face folders: config and tokenizer files with one model.safetensors. */
const SAFETENSORS_FIXTURES = [
  { folder: 'sdar-tiny/hf-f32', weights: 'sdar-tiny/hf-f32/model.safetensors' },
  { folder: 'fastdllm-tiny/hf-f32', weights: 'fastdllm-tiny/hf-bf16/model.safetensors' },
];

const HF_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'];

export interface GgufCase {
  kind: 'gguf';
  fixture: string;
  mutations: string[];
  bytes: Uint8Array;
}

export interface SafetensorsCase {
  kind: 'safetensors';
  fixture: string;
  mutations: string[];
  /** File name -> contents of the model folder. */
  files: Map<string, Uint8Array>;
}

export type FuzzCase = GgufCase | SafetensorsCase;

// ---------------------------------------------------------------------------------------------------
// Fixture cache

const ggufCache = new Map<string, { bytes: Uint8Array; map: GgufMap }>();
const folderCache = new Map<string, Map<string, Uint8Array>>();

function ggufFixture(name: string): { bytes: Uint8Array; map: GgufMap } {
  let entry = ggufCache.get(name);
  if (!entry) {
    const bytes = new Uint8Array(readFileSync(join(FIXTURES, name)));
    entry = { bytes, map: mapGguf(bytes) };
    ggufCache.set(name, entry);
  }
  return entry;
}

function folderFixture(fixture: (typeof SAFETENSORS_FIXTURES)[number]): Map<string, Uint8Array> {
  let files = folderCache.get(fixture.folder);
  if (!files) {
    files = new Map();
    for (const name of HF_FILES) files.set(name, new Uint8Array(readFileSync(join(FIXTURES, fixture.folder, name))));
    files.set('model.safetensors', new Uint8Array(readFileSync(join(FIXTURES, fixture.weights))));
    folderCache.set(fixture.folder, files);
  }
  return files;
}

// ---------------------------------------------------------------------------------------------------
// Values that break parsers

const U64_VALUES = [0n, 1n, 2n, 7n, 0x7fffffffn, 0x80000000n, 0xffffffffn, 0x100000000n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n];
const U32_VALUES = [0, 1, 2, 3, 4, 12, 13, 31, 39, 40, 255, 0x7fffffff, 0x80000000, 0xffffffff];

function writeInteresting(rng: FuzzRng, bytes: Uint8Array, field: Field, fileSize: number): string {
  // An earlier truncation or deletion may have cut the field off.
  if (field.offset + field.bytes > bytes.length) return `${field.kind}@${field.offset} skipped`;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (field.bytes === 8) {
    const old = view.getBigUint64(field.offset, true);
    const choices = [...U64_VALUES, old + 1n, old > 0n ? old - 1n : 0n, old * 2n, old + 32n, BigInt(fileSize), BigInt(fileSize) - 1n];
    const value = rng.pick(choices) & (2n ** 64n - 1n);
    view.setBigUint64(field.offset, value, true);
    return `${field.kind}@${field.offset}=${value}`;
  }
  if (field.bytes === 4) {
    if (field.valueType === 6) {
      const value = rng.pick([0, -1, NaN, Infinity, -Infinity, 1e30, 1e-30, 3.4e38]);
      view.setFloat32(field.offset, value, true);
      return `${field.kind}@${field.offset}=${value}`;
    }
    const old = view.getUint32(field.offset, true);
    const value = rng.pick([...U32_VALUES, old + 1, Math.max(0, old - 1), old * 2, old * 1000]) >>> 0;
    view.setUint32(field.offset, value, true);
    return `${field.kind}@${field.offset}=${value}`;
  }
  const value = rng.below(256);
  for (let i = 0; i < field.bytes; i++) bytes[field.offset + i] = i === 0 ? value : rng.below(256);
  return `${field.kind}@${field.offset}=${value}`;
}

function flipBits(rng: FuzzRng, bytes: Uint8Array, from: number, to: number): string {
  const count = 1 + rng.below(8);
  const at: number[] = [];
  for (let i = 0; i < count && to > from; i++) {
    const p = from + rng.below(to - from);
    bytes[p] ^= 1 << rng.below(8);
    at.push(p);
  }
  return `flip@${at.join(',')}`;
}

function truncate(rng: FuzzRng, bytes: Uint8Array, headerEnd: number): Uint8Array {
  const length = rng.chance(0.6) ? rng.below(headerEnd + 1) : rng.below(bytes.length);
  return bytes.slice(0, length);
}

/** Writes NaN, infinity or a huge value into tensor data, in the encoding the element type uses. */
function poisonWeight(rng: FuzzRng, bytes: Uint8Array, at: number, ggmlType: number): string {
  if (at + 4 > bytes.length) return 'poison-skipped';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (ggmlType === 0) {
    const value = rng.pick([NaN, Infinity, -Infinity, 3e38, 1e20, -1e20]);
    view.setFloat32(at, value, true);
    return `poison-f32@${at}=${value}`;
  }
  // F16 (1), BF16 (30) and the f16 scale at the start of a quantised block.
  const bits = ggmlType === 30 ? rng.pick([0x7f80, 0x7fc0, 0xff80, 0x7f7f, 0x5f00]) : rng.pick([0x7c00, 0x7e00, 0xfc00, 0x7bff]);
  view.setUint16(at, bits, true);
  return `poison-u16@${at}=0x${bits.toString(16)}`;
}

// ---------------------------------------------------------------------------------------------------
// GGUF cases

function ggufCase(rng: FuzzRng, fixture: string): GgufCase {
  const { bytes: original, map } = ggufFixture(fixture);
  let bytes: Uint8Array = original.slice();
  const mutations: string[] = [];
  const steps = 1 + rng.below(3);
  for (let s = 0; s < steps; s++) {
    const op = rng.below(100);
    if (op < 40) {
      mutations.push(writeInteresting(rng, bytes, rng.pick(map.fields), original.length));
    } else if (op < 58) {
      mutations.push(flipBits(rng, bytes, 0, rng.chance(0.8) ? Math.min(bytes.length, map.dataOffset) : bytes.length));
    } else if (op < 68) {
      bytes = truncate(rng, bytes, map.dataOffset);
      mutations.push(`truncate=${bytes.length}`);
    } else if (op < 82) {
      const tensor = rng.pick(map.tensors);
      const at = map.dataOffset + tensor.relativeOffset + (tensor.ggmlType === 0 || tensor.ggmlType === 1 || tensor.ggmlType === 30 ? 4 * rng.below(16) : 0);
      mutations.push(poisonWeight(rng, bytes, at, tensor.ggmlType));
    } else if (op < 90) {
      // Copy a run of header bytes over another place in the header.
      const end = Math.min(bytes.length, map.dataOffset);
      const length = 1 + rng.below(64);
      const from = rng.below(Math.max(1, end - length));
      const to = rng.below(Math.max(1, end - length));
      bytes.copyWithin(to, from, from + length);
      mutations.push(`splice ${from}->${to} x${length}`);
    } else {
      // Insert or delete a few bytes inside the header, which shifts every later field.
      const at = rng.below(Math.min(bytes.length, map.dataOffset));
      const count = 1 + rng.below(16);
      if (rng.chance(0.5)) {
        bytes = Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + count)]);
        mutations.push(`delete ${count}@${at}`);
      } else {
        const inserted = Array.from({ length: count }, () => rng.below(256));
        const grown = new Uint8Array(bytes.length + count);
        grown.set(bytes.subarray(0, at));
        grown.set(inserted, at);
        grown.set(bytes.subarray(at), at + count);
        bytes = grown;
        mutations.push(`insert ${count}@${at}`);
      }
    }
  }
  return { kind: 'gguf', fixture, mutations, bytes };
}

// ---------------------------------------------------------------------------------------------------
// safetensors cases

const JSON_VALUES: unknown[] = [0, -1, 1, 2 ** 31, 2 ** 53, 1e300, 3.5, -0.5, null, 'x', '', true, [], {}, [1, 2], NaN];

function pickJsonValue(rng: FuzzRng): unknown {
  return rng.pick(JSON_VALUES);
}

function mutateSafetensorsHeader(rng: FuzzRng, header: Record<string, any>): string {
  const names = Object.keys(header).filter((n) => n !== '__metadata__');
  const name = rng.pick(names);
  const entry = header[name];
  switch (rng.below(8)) {
    case 0:
      entry.dtype = rng.pick(['F64', 'I8', 'BOOL', 'bf16', 'F8_E4M3', '', 7, null, 'F16', 'BF16', 'F32']);
      return `${name}.dtype=${JSON.stringify(entry.dtype)}`;
    case 1: {
      const shape = Array.isArray(entry.shape) ? [...entry.shape] : [];
      const choice = rng.below(4);
      if (choice === 0 && shape.length) shape[rng.below(shape.length)] = pickJsonValue(rng);
      else if (choice === 1) shape.push(rng.pick([1, 0, 2, 2 ** 40]));
      else if (choice === 2) shape.pop();
      else shape.reverse();
      entry.shape = shape;
      return `${name}.shape=${JSON.stringify(shape)}`;
    }
    case 2: {
      const offsets = Array.isArray(entry.data_offsets) ? [...entry.data_offsets] : [0, 0];
      offsets[rng.below(2)] = rng.chance(0.5) ? pickJsonValue(rng) : offsets[rng.below(2)] + rng.pick([-4, -1, 1, 4, 1 << 20]);
      entry.data_offsets = offsets;
      return `${name}.data_offsets=${JSON.stringify(offsets)}`;
    }
    case 3: {
      const other = header[rng.pick(names)];
      entry.data_offsets = other.data_offsets;
      return `${name}.data_offsets copied`;
    }
    case 4:
      delete header[name];
      return `delete ${name}`;
    case 5:
      header[name] = pickJsonValue(rng);
      return `${name}=${JSON.stringify(header[name])}`;
    case 6:
      header.__metadata__ = rng.pick([null, 5, 'x', { format: 3 }, [], { format: 'pt' }]);
      return `__metadata__=${JSON.stringify(header.__metadata__)}`;
    default:
      delete entry[rng.pick(['dtype', 'shape', 'data_offsets'])];
      return `${name} field deleted`;
  }
}

function mutateJsonFile(rng: FuzzRng, bytes: Uint8Array, file: string): { bytes: Uint8Array; note: string } {
  const text = new TextDecoder().decode(bytes);
  if (rng.chance(0.2)) {
    const cut = rng.below(text.length);
    return { bytes: new TextEncoder().encode(text.slice(0, cut)), note: `${file} cut at ${cut}` };
  }
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    return { bytes, note: `${file} already invalid` };
  }
  if (json === null || typeof json !== 'object') return { bytes, note: `${file} not an object` };
  // Walk to a random object inside the document (at most a few levels down) and change one key.
  let target: any = json;
  for (let depth = 0; depth < 3; depth++) {
    const children = Object.values(target).filter((v) => v !== null && typeof v === 'object');
    if (children.length === 0 || rng.chance(0.4)) break;
    target = rng.pick(children);
  }
  const keys = Object.keys(target);
  if (keys.length === 0) return { bytes, note: `${file} unchanged` };
  const key = Array.isArray(target) ? rng.below(target.length) : rng.pick(keys);
  let note: string;
  if (rng.chance(0.25) && !Array.isArray(target)) {
    delete target[key];
    note = `${file} delete ${key}`;
  } else {
    target[key] = pickJsonValue(rng);
    note = `${file} ${key}=${JSON.stringify(target[key])}`;
  }
  return { bytes: new TextEncoder().encode(JSON.stringify(json)), note };
}

function safetensorsCase(rng: FuzzRng, fixture: (typeof SAFETENSORS_FIXTURES)[number]): SafetensorsCase {
  const files = new Map(folderFixture(fixture));
  let weights: Uint8Array = files.get('model.safetensors')!.slice();
  const mutations: string[] = [];
  const steps = 1 + rng.below(2);
  for (let s = 0; s < steps; s++) {
    const headerLength = Number(new DataView(weights.buffer, weights.byteOffset).getBigUint64(0, true));
    const op = rng.below(100);
    if (op < 12) {
      const value = rng.pick([...U64_VALUES, BigInt(headerLength + 1), BigInt(headerLength - 1), BigInt(weights.length)]);
      new DataView(weights.buffer, weights.byteOffset).setBigUint64(0, value & (2n ** 64n - 1n), true);
      mutations.push(`header-length=${value}`);
    } else if (op < 50) {
      let header: Record<string, any>;
      // An earlier step may have set a header length past the end of the file.
      if (8 + headerLength > weights.length) {
        mutations.push('header-edit skipped');
        continue;
      }
      try {
        header = JSON.parse(new TextDecoder().decode(weights.subarray(8, 8 + headerLength)));
      } catch {
        mutations.push('header-edit skipped');
        continue;
      }
      mutations.push(mutateSafetensorsHeader(rng, header));
      const text = new TextEncoder().encode(JSON.stringify(header));
      const padded = Math.ceil(text.length / 8) * 8;
      const rebuilt = new Uint8Array(8 + padded + (weights.length - 8 - headerLength));
      new DataView(rebuilt.buffer).setBigUint64(0, BigInt(padded), true);
      rebuilt.fill(0x20, 8, 8 + padded);
      rebuilt.set(text, 8);
      rebuilt.set(weights.subarray(8 + headerLength), 8 + padded);
      weights = rebuilt;
    } else if (op < 62) {
      mutations.push(flipBits(rng, weights, 0, rng.chance(0.7) ? Math.min(weights.length, 8 + headerLength) : weights.length));
    } else if (op < 70) {
      weights = truncate(rng, weights, 8 + headerLength);
      mutations.push(`truncate=${weights.length}`);
    } else if (op < 78) {
      const dataStart = 8 + headerLength;
      const at = dataStart + 2 * rng.below(Math.max(1, (weights.length - dataStart) / 2 - 2));
      // F32 fixtures take a 4-byte value where a 2-byte one lands; both are caught as non-finite.
      mutations.push(poisonWeight(rng, weights, at, fixture.weights.includes('bf16') ? 30 : 0));
    } else {
      const file = op < 92 ? 'config.json' : rng.pick(['tokenizer.json', 'tokenizer_config.json', 'generation_config.json']);
      const { bytes, note } = mutateJsonFile(rng, files.get(file)!, file);
      files.set(file, bytes);
      mutations.push(note);
    }
  }
  files.set('model.safetensors', weights);
  return { kind: 'safetensors', fixture: fixture.weights, mutations, files };
}

// ---------------------------------------------------------------------------------------------------

/** Builds case `index` of the run seeded with `seed`. About two cases in three are GGUF. */
export function buildCase(seed: number, index: number): FuzzCase {
  const rng = new FuzzRng(seed, index);
  if (rng.below(3) < 2) return ggufCase(rng, rng.pick(GGUF_FIXTURES));
  return safetensorsCase(rng, rng.pick(SAFETENSORS_FIXTURES));
}
