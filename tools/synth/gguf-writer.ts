// A streaming GGUF v3 writer: metadata and tensor infos first, then each tensor's bytes produced one at
// a time, so that a multi-gigabyte model never sits in memory. Only what the synthetic models need is
// supported: scalar, string and array metadata, and F32, Q8_0 and Q4_0 tensors.
//
// Layout (little-endian): "GGUF", u32 version 3, u64 tensor count, u64 metadata count, then the
// key-value pairs. The tensor infos follow: name, u32 dims, u64 ne[] with the fastest dimension first,
// u32 ggml type, and the u64 offset from the start of the data. Zero padding to 32 bytes comes next,
// then the tensor data, each tensor at a multiple of 32.
import { closeSync, openSync, writeSync } from 'node:fs';

export const ALIGNMENT = 32;

/** ggml type ids and block sizes of the tensor types written here. */
export const TENSOR_TYPES = {
  F32: { id: 0, blockElements: 1, blockBytes: 4 },
  Q4_0: { id: 2, blockElements: 32, blockBytes: 18 },
  Q8_0: { id: 8, blockElements: 32, blockBytes: 34 },
} as const;
export type SynthTensorType = keyof typeof TENSOR_TYPES;

const VALUE = { UINT32: 4, INT32: 5, FLOAT32: 6, BOOL: 7, STRING: 8, ARRAY: 9 } as const;

/** A metadata value with its GGUF type: u32, i32, f32, bool, string, or an array of strings or i32. */
export type MetadataValue =
  | { type: 'u32' | 'i32' | 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'strings'; value: readonly string[] }
  | { type: 'i32s'; value: ArrayLike<number> };

export interface TensorSpec {
  name: string;
  type: SynthTensorType;
  /** HF order: [out, in] for a matrix, [n] for a vector. */
  shape: number[];
  /** Writes the tensor's bytes (exactly byteLength of them) through `write`, in as many pieces as it likes. */
  produce(write: (bytes: Uint8Array) => void): void;
}

/** Bytes a tensor of `type` and `elements` values occupies. */
export function tensorByteLength(type: SynthTensorType, elements: number): number {
  const info = TENSOR_TYPES[type];
  if (elements % info.blockElements !== 0) throw new RangeError(`${type} needs a multiple of ${info.blockElements} values, got ${elements}`);
  return (elements / info.blockElements) * info.blockBytes;
}

/** Growable little-endian byte buffer for the header. */
class HeaderBuffer {
  private bytes = new Uint8Array(1 << 16);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  private reserve(count: number): void {
    if (this.length + count <= this.bytes.length) return;
    let size = this.bytes.length * 2;
    while (size < this.length + count) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }
  u32(value: number): void { this.reserve(4); this.view.setUint32(this.length, value, true); this.length += 4; }
  i32(value: number): void { this.reserve(4); this.view.setInt32(this.length, value, true); this.length += 4; }
  f32(value: number): void { this.reserve(4); this.view.setFloat32(this.length, value, true); this.length += 4; }
  u64(value: number): void { this.reserve(8); this.view.setBigUint64(this.length, BigInt(value), true); this.length += 8; }
  u8(value: number): void { this.reserve(1); this.bytes[this.length++] = value; }
  string(text: string): void {
    const encoded = new TextEncoder().encode(text);
    this.u64(encoded.length);
    this.reserve(encoded.length);
    this.bytes.set(encoded, this.length);
    this.length += encoded.length;
  }
  pad(alignment: number): void { while (this.length % alignment !== 0) this.u8(0); }
  contents(): Uint8Array { return this.bytes.subarray(0, this.length); }
}

function writeValue(out: HeaderBuffer, entry: MetadataValue): void {
  switch (entry.type) {
    case 'u32': out.u32(VALUE.UINT32); out.u32(entry.value); break;
    case 'i32': out.u32(VALUE.INT32); out.i32(entry.value); break;
    case 'f32': out.u32(VALUE.FLOAT32); out.f32(entry.value); break;
    case 'bool': out.u32(VALUE.BOOL); out.u8(entry.value ? 1 : 0); break;
    case 'string': out.u32(VALUE.STRING); out.string(entry.value); break;
    case 'strings':
      out.u32(VALUE.ARRAY); out.u32(VALUE.STRING); out.u64(entry.value.length);
      for (const text of entry.value) out.string(text);
      break;
    case 'i32s':
      out.u32(VALUE.ARRAY); out.u32(VALUE.INT32); out.u64(entry.value.length);
      for (let i = 0; i < entry.value.length; i++) out.i32(entry.value[i]);
      break;
  }
}

/** Writes a GGUF file at `path`; returns its size in bytes. */
export function writeGguf(path: string, metadata: Record<string, MetadataValue>, tensors: TensorSpec[]): number {
  const header = new HeaderBuffer();
  header.u32(0x46554747); // "GGUF"
  header.u32(3);
  header.u64(tensors.length);
  header.u64(Object.keys(metadata).length);
  for (const [key, entry] of Object.entries(metadata)) {
    header.string(key);
    writeValue(header, entry);
  }

  const sizes = tensors.map((t) => tensorByteLength(t.type, t.shape.reduce((a, b) => a * b, 1)));
  let offset = 0;
  tensors.forEach((t, i) => {
    header.string(t.name);
    header.u32(t.shape.length);
    for (const size of [...t.shape].reverse()) header.u64(size);
    header.u32(TENSOR_TYPES[t.type].id);
    header.u64(offset);
    offset = Math.ceil((offset + sizes[i]) / ALIGNMENT) * ALIGNMENT;
  });
  header.pad(ALIGNMENT);

  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header.contents());
    let total = header.length;
    tensors.forEach((t, i) => {
      let written = 0;
      t.produce((bytes) => {
        writeSync(fd, bytes);
        written += bytes.byteLength;
      });
      if (written !== sizes[i]) throw new Error(`tensor ${t.name} produced ${written} bytes, expected ${sizes[i]}`);
      const padding = Math.ceil(written / ALIGNMENT) * ALIGNMENT - written;
      if (padding > 0 && i < tensors.length - 1) writeSync(fd, new Uint8Array(padding));
      total += written + (i < tensors.length - 1 ? padding : 0);
    });
    return total;
  } finally {
    closeSync(fd);
  }
}
