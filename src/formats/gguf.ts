// GGUF v2/v3 reader over a ByteSource: header, metadata key-value pairs, tensor infos and the data offset.
// Tensor bytes are not read here; each tensor records where its bytes sit so that callers read them later.
//
// Why not @huggingface/gguf (0.4.6, installed)? Its errors are plain `Error`s that name neither the field
// nor the offset, and it bounds counts by fixed constants rather than by the size of the file. It also
// does not check tensor offsets against the file, and it reads through its own fetch/Blob layer instead
// of a ByteSource.
//
// Layout (little-endian): magic "GGUF", u32 version, u64 tensor_count, u64 kv_count, kv_count pairs of
// (string key, u32 value type, value), tensor_count infos of (string name, u32 n_dims, u64 ne[n_dims],
// u32 ggml type, u64 offset), padding to `general.alignment` (default 32), then the tensor data. A string
// is a u64 byte length followed by UTF-8 bytes. Every count and length is checked against the bytes left
// in the file before anything is allocated for it.

import { ModelFormatError } from '../errors.js';
import { byteLengthOf, ggmlTypeById, type GgmlTypeInfo } from './quant.js';
import type { ByteSource } from './source.js';

export type GgufValue = number | bigint | boolean | string | GgufValue[];

/** GGUF metadata value types. */
export enum GgufValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

const VALUE_TYPE_NAMES = [
  'uint8', 'int8', 'uint16', 'int16', 'uint32', 'int32', 'float32', 'bool', 'string', 'array', 'uint64', 'int64',
  'float64',
];

/** Smallest encoding of each value type in bytes, used to bound array counts. */
const MIN_VALUE_BYTES = [1, 1, 2, 2, 4, 4, 4, 1, 8, 12, 8, 8, 8];

/** Arrays of arrays deeper than this are rejected, so a crafted file cannot exhaust the call stack. */
const MAX_ARRAY_DEPTH = 8;

/** Maximum length of a metadata array (a vocabulary has a few hundred thousand entries). */
const MAX_ARRAY_LENGTH = 1 << 27;

/** ggml tensors have at most 4 dimensions (GGML_MAX_DIMS). */
const MAX_DIMS = 4;

export const GGUF_DEFAULT_ALIGNMENT = 32;

export interface GgufTensorInfo {
  name: string;
  /** ggml's `ne`: the fastest-varying dimension first, so a linear layer is {in, out}. */
  ne: number[];
  /** Row-major shape, `ne` reversed: a linear layer is [out, in]. */
  shape: number[];
  type: GgmlTypeInfo;
  /** Byte offset relative to the start of the data section, as stored. */
  relativeOffset: number;
  /** Byte offset in the file. */
  offset: number;
  byteLength: number;
}

export interface GgufFile {
  version: number;
  metadata: Record<string, GgufValue>;
  /** The value type of each metadata key, as stored (for example UINT32 vs INT32). */
  metadataTypes: Record<string, GgufValueType>;
  tensors: GgufTensorInfo[];
  alignment: number;
  /** File offset of the tensor data section. */
  dataOffset: number;
}

// ---------------------------------------------------------------------------------------------------
// Buffered cursor

const CHUNK_BYTES = 1 << 20;

/** Reads the header sequentially through a window of the source, fetching about 1 MiB at a time. */
class Cursor {
  pos = 0;
  private window: Uint8Array = new Uint8Array(0);
  view: DataView = new DataView(this.window.buffer);
  private windowStart = 0;
  private decoder = new TextDecoder('utf-8');

  constructor(private source: ByteSource) {}

  get remaining(): number {
    return this.source.size - this.pos;
  }

  private fail(field: string, bytes: number): never {
    throw new ModelFormatError(
      'TRUNCATED_FILE',
      `${this.source.name}: GGUF ${field} at offset ${this.pos} needs ${bytes} bytes, but the file ends at ` +
        `${this.source.size}. The file is truncated; download it again.`,
    );
  }

  /** Makes `bytes` bytes from `pos` available in `view` and returns their index in it. */
  async need(bytes: number, field: string): Promise<number> {
    if (bytes > this.remaining) this.fail(field, bytes);
    const windowEnd = this.windowStart + this.window.byteLength;
    if (this.pos >= this.windowStart && this.pos + bytes <= windowEnd) return this.pos - this.windowStart;
    const length = Math.min(Math.max(bytes, CHUNK_BYTES), this.remaining);
    const chunk = await this.source.read(this.pos, length);
    this.window = chunk;
    this.view = new DataView(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    this.windowStart = this.pos;
    return 0;
  }

  async u32(field: string): Promise<number> {
    const i = await this.need(4, field);
    this.pos += 4;
    return this.view.getUint32(i, true);
  }

  /** Reads a u64 and returns it as a number, or throws when it exceeds 2^53 - 1. */
  async u64(field: string): Promise<number> {
    const at = this.pos;
    const i = await this.need(8, field);
    this.pos += 8;
    const value = this.view.getBigUint64(i, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ModelFormatError(
        'INVALID_GGUF',
        `${this.source.name}: GGUF ${field} at offset ${at} is ${value}, which is larger than any file. ` +
          'The file is corrupt.',
      );
    }
    return Number(value);
  }

  async string(field: string): Promise<string> {
    const at = this.pos;
    const length = await this.u64(`${field} length`);
    if (length > this.remaining) {
      throw new ModelFormatError(
        'TRUNCATED_FILE',
        `${this.source.name}: GGUF ${field} at offset ${at} has length ${length}, but only ${this.remaining} ` +
          'bytes remain in the file. The file is truncated or corrupt.',
      );
    }
    const i = await this.need(length, field);
    this.pos += length;
    return this.decoder.decode(this.window.subarray(i, i + length));
  }

  async scalar(type: GgufValueType, field: string): Promise<GgufValue> {
    const size = MIN_VALUE_BYTES[type];
    const i = await this.need(size, field);
    this.pos += size;
    return decodeScalar(this.view, i, type);
  }
}

function decodeScalar(v: DataView, i: number, type: GgufValueType): GgufValue {
  switch (type) {
    case GgufValueType.UINT8: return v.getUint8(i);
    case GgufValueType.INT8: return v.getInt8(i);
    case GgufValueType.UINT16: return v.getUint16(i, true);
    case GgufValueType.INT16: return v.getInt16(i, true);
    case GgufValueType.UINT32: return v.getUint32(i, true);
    case GgufValueType.INT32: return v.getInt32(i, true);
    case GgufValueType.FLOAT32: return v.getFloat32(i, true);
    case GgufValueType.BOOL: return v.getUint8(i) !== 0;
    case GgufValueType.FLOAT64: return v.getFloat64(i, true);
    case GgufValueType.UINT64: return safeNumber(v.getBigUint64(i, true));
    case GgufValueType.INT64: return safeNumber(v.getBigInt64(i, true));
    default: throw new Error(`unreachable: scalar GGUF type ${type}`);
  }
}

/** 64-bit integers become numbers when exact, and stay bigint otherwise. */
function safeNumber(value: bigint): number | bigint {
  return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
}

// ---------------------------------------------------------------------------------------------------
// Header

async function readValueType(cursor: Cursor, source: ByteSource, field: string): Promise<GgufValueType> {
  const at = cursor.pos;
  const type = await cursor.u32(`${field} type`);
  if (type > GgufValueType.FLOAT64) {
    throw new ModelFormatError(
      'INVALID_GGUF',
      `${source.name}: GGUF ${field} at offset ${at} has unknown value type ${type} (valid: 0-12). ` +
        'The file is corrupt or from a newer GGUF version.',
    );
  }
  return type;
}

async function readValue(
  cursor: Cursor,
  source: ByteSource,
  type: GgufValueType,
  field: string,
  depth: number,
): Promise<GgufValue> {
  if (type === GgufValueType.STRING) return cursor.string(field);
  if (type !== GgufValueType.ARRAY) return cursor.scalar(type, field);

  if (depth >= MAX_ARRAY_DEPTH) {
    throw new ModelFormatError(
      'INVALID_GGUF',
      `${source.name}: GGUF ${field} at offset ${cursor.pos} nests arrays more than ${MAX_ARRAY_DEPTH} deep`,
    );
  }
  const elementType = await readValueType(cursor, source, `${field} element`);
  const at = cursor.pos;
  const count = await cursor.u64(`${field} element count`);
  const maxCount = Math.floor(cursor.remaining / MIN_VALUE_BYTES[elementType]);
  if (count > maxCount) {
    throw new ModelFormatError(
      'TRUNCATED_FILE',
      `${source.name}: GGUF ${field} at offset ${at} claims ${count} ${VALUE_TYPE_NAMES[elementType]} elements, ` +
        `but the ${cursor.remaining} bytes left in the file hold at most ${maxCount}. The file is truncated or corrupt.`,
    );
  }
  if (count > MAX_ARRAY_LENGTH) {
    throw new ModelFormatError(
      'INVALID_GGUF',
      `${source.name}: GGUF ${field} at offset ${at} has ${count} elements, more than the ${MAX_ARRAY_LENGTH} ` +
        'this reader accepts',
    );
  }
  const values: GgufValue[] = new Array(count);
  if (elementType === GgufValueType.STRING || elementType === GgufValueType.ARRAY) {
    for (let i = 0; i < count; i++) values[i] = await readValue(cursor, source, elementType, field, depth + 1);
    return values;
  }
  // Fixed-size elements: decode a window's worth at a time instead of awaiting each element.
  const size = MIN_VALUE_BYTES[elementType];
  const perChunk = Math.floor(CHUNK_BYTES / size);
  for (let i = 0; i < count; ) {
    const n = Math.min(count - i, perChunk);
    const base = await cursor.need(n * size, field);
    for (let k = 0; k < n; k++) values[i + k] = decodeScalar(cursor.view, base + k * size, elementType);
    cursor.pos += n * size;
    i += n;
  }
  return values;
}

/**
 * Parses the header of a GGUF file: metadata, tensor infos, alignment and data offset. Every tensor's
 * byte range is checked to lie inside the file and not to overlap another tensor. Throws
 * ModelFormatError (INVALID_GGUF, TRUNCATED_FILE, UNKNOWN_DTYPE, SHAPE_MISMATCH) naming the field and its
 * offset.
 */
export async function readGguf(source: ByteSource): Promise<GgufFile> {
  const cursor = new Cursor(source);
  const name = source.name;

  const magic = await cursor.u32('magic');
  if (magic !== 0x46554747) {
    throw new ModelFormatError(
      'INVALID_GGUF',
      `${name}: not a GGUF file (the first 4 bytes are 0x${magic.toString(16).padStart(8, '0')} in ` +
        'little-endian order, expected "GGUF")',
    );
  }
  const version = await cursor.u32('version');
  if (version !== 2 && version !== 3) {
    const hint = version >= 0x01000000 ? ' It looks like a big-endian GGUF, which is not supported.' :
      version === 1 ? ' GGUF v1 files are obsolete; convert the model again with a current llama.cpp.' : '';
    throw new ModelFormatError('INVALID_GGUF', `${name}: unsupported GGUF version ${version} at offset 4 (supported: 2, 3).${hint}`);
  }

  // The smallest tensor info is 8 + 4 + 4 + 8 bytes and the smallest key-value pair 8 + 4 + 1 bytes.
  const tensorCount = await cursor.u64('tensor count');
  const kvCount = await cursor.u64('metadata count');
  if (tensorCount > cursor.remaining / 24) {
    throw new ModelFormatError(
      'TRUNCATED_FILE',
      `${name}: GGUF tensor count ${tensorCount} at offset 8 cannot fit in a file of ${source.size} bytes. ` +
        'The file is truncated or corrupt.',
    );
  }
  if (kvCount > cursor.remaining / 13) {
    throw new ModelFormatError(
      'TRUNCATED_FILE',
      `${name}: GGUF metadata count ${kvCount} at offset 16 cannot fit in a file of ${source.size} bytes. ` +
        'The file is truncated or corrupt.',
    );
  }

  const metadata: Record<string, GgufValue> = Object.create(null);
  const metadataTypes: Record<string, GgufValueType> = Object.create(null);
  for (let i = 0; i < kvCount; i++) {
    const at = cursor.pos;
    const key = await cursor.string(`metadata key #${i}`);
    if (key in metadata) {
      throw new ModelFormatError('INVALID_GGUF', `${name}: GGUF metadata key "${key}" at offset ${at} appears twice`);
    }
    const type = await readValueType(cursor, source, `metadata "${key}"`);
    metadata[key] = await readValue(cursor, source, type, `metadata "${key}"`, 0);
    metadataTypes[key] = type;
  }

  let alignment = GGUF_DEFAULT_ALIGNMENT;
  if ('general.alignment' in metadata) {
    const value = metadata['general.alignment'];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0 || (value & (value - 1)) !== 0) {
      throw new ModelFormatError(
        'INVALID_GGUF',
        `${name}: GGUF general.alignment is ${String(value)}; it must be a positive power of two`,
      );
    }
    alignment = value;
  }

  const tensors: GgufTensorInfo[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < tensorCount; i++) {
    const at = cursor.pos;
    const tensorName = await cursor.string(`tensor name #${i}`);
    if (seen.has(tensorName)) {
      throw new ModelFormatError('INVALID_GGUF', `${name}: GGUF tensor "${tensorName}" at offset ${at} appears twice`);
    }
    seen.add(tensorName);
    const field = `tensor "${tensorName}"`;

    const dimsAt = cursor.pos;
    const nDims = await cursor.u32(`${field} dimension count`);
    if (nDims > MAX_DIMS) {
      throw new ModelFormatError(
        'INVALID_GGUF',
        `${name}: GGUF ${field} at offset ${dimsAt} has ${nDims} dimensions (expected at most ${MAX_DIMS})`,
      );
    }
    const ne: number[] = [];
    let elements = 1;
    for (let d = 0; d < nDims; d++) {
      const size = await cursor.u64(`${field} ne[${d}]`);
      ne.push(size);
      elements *= size;
    }
    // A tensor larger than the file is caught below by its byte range; this keeps the arithmetic exact.
    if (!Number.isSafeInteger(elements)) {
      throw new ModelFormatError(
        'INVALID_GGUF',
        `${name}: GGUF ${field} at offset ${dimsAt} has shape {${ne.join(', ')}}, too many elements for any file`,
      );
    }

    const typeAt = cursor.pos;
    const typeId = await cursor.u32(`${field} type`);
    const type = ggmlTypeById(typeId);
    if (!type) {
      throw new ModelFormatError(
        'UNKNOWN_DTYPE',
        `${name}: GGUF ${field} at offset ${typeAt} has unknown ggml type id ${typeId}. The file is corrupt or ` +
          'uses a tensor type newer than this reader.',
      );
    }
    if ((ne[0] ?? 1) % type.blockSize !== 0) {
      throw new ModelFormatError(
        'SHAPE_MISMATCH',
        `${name}: GGUF ${field} has ne[0] = ${ne[0]}, not a multiple of the ${type.name} block length ${type.blockSize}`,
      );
    }
    const byteLength = byteLengthOf(type, elements, `${name}: GGUF ${field}`);

    const offsetAt = cursor.pos;
    const relativeOffset = await cursor.u64(`${field} offset`);
    if (relativeOffset % alignment !== 0) {
      throw new ModelFormatError(
        'INVALID_GGUF',
        `${name}: GGUF ${field} data offset ${relativeOffset} (stored at offset ${offsetAt}) is not a multiple ` +
          `of the alignment ${alignment}`,
      );
    }
    tensors.push({ name: tensorName, ne, shape: [...ne].reverse(), type, relativeOffset, offset: 0, byteLength });
  }

  const dataOffset = Math.ceil(cursor.pos / alignment) * alignment;
  if (tensors.length > 0 && dataOffset > source.size) {
    throw new ModelFormatError(
      'TRUNCATED_FILE',
      `${name}: GGUF tensor data should start at offset ${dataOffset}, past the end of the file (${source.size} bytes)`,
    );
  }
  for (const tensor of tensors) {
    tensor.offset = dataOffset + tensor.relativeOffset;
    if (tensor.offset + tensor.byteLength > source.size) {
      throw new ModelFormatError(
        'TRUNCATED_FILE',
        `${name}: GGUF tensor "${tensor.name}" (${tensor.type.name}, ${tensor.byteLength} bytes at offset ` +
          `${tensor.offset}) ends past the end of the file (${source.size} bytes). The file is truncated; ` +
          'download it again.',
      );
    }
  }
  checkNoOverlap(name, tensors);

  return { version, metadata, metadataTypes, tensors, alignment, dataOffset };
}

function checkNoOverlap(fileName: string, tensors: GgufTensorInfo[]): void {
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const previous = sorted[i - 1];
    if (previous.offset + previous.byteLength > sorted[i].offset) {
      throw new ModelFormatError(
        'INVALID_GGUF',
        `${fileName}: GGUF tensors "${previous.name}" (offset ${previous.offset}, ${previous.byteLength} bytes) ` +
          `and "${sorted[i].name}" (offset ${sorted[i].offset}) overlap. The file is corrupt.`,
      );
    }
  }
}

/** Reads the stored bytes of one tensor. */
export function readGgufTensor(source: ByteSource, tensor: GgufTensorInfo): Promise<Uint8Array> {
  return source.read(tensor.offset, tensor.byteLength);
}
