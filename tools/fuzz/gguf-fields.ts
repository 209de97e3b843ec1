// An independent walk over a well-formed GGUF header that records where each integer field sits, so that
// mutations can aim at counts, lengths, types, dimensions and offsets instead of flipping random bytes.
// It trusts its input: run it on the unmodified fixtures only.

export type FieldKind =
  | 'tensor-count' | 'kv-count' | 'key-length' | 'value-type' | 'string-length' | 'array-type'
  | 'array-count' | 'scalar' | 'name-length' | 'dims' | 'ne' | 'ggml-type' | 'tensor-offset';

export interface Field {
  kind: FieldKind;
  offset: number;
  bytes: 1 | 2 | 4 | 8;
  /** Value type of a metadata scalar (GGUF numbering). */
  valueType?: number;
}

export interface GgufTensorRange {
  ggmlType: number;
  /** File offset of the tensor data relative to the data section. */
  relativeOffset: number;
}

export interface GgufMap {
  fields: Field[];
  tensors: GgufTensorRange[];
  dataOffset: number;
}

const SCALAR_BYTES: Record<number, 1 | 2 | 4 | 8> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };

export function mapGguf(bytes: Uint8Array): GgufMap {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const fields: Field[] = [];
  let pos = 8;
  const u32 = () => { const v = view.getUint32(pos, true); pos += 4; return v; };
  const u64 = () => { const v = Number(view.getBigUint64(pos, true)); pos += 8; return v; };
  const field = (kind: FieldKind, size: 1 | 2 | 4 | 8, valueType?: number) => fields.push({ kind, offset: pos, bytes: size, valueType });
  const string = (kind: FieldKind) => {
    field(kind, 8);
    const length = u64();
    pos += length;
  };

  const value = (type: number): void => {
    if (type === 8) return string('string-length');
    if (type === 9) {
      field('array-type', 4);
      const elementType = u32();
      field('array-count', 8);
      const count = u64();
      // Record at most a few elements of long arrays: the vocabulary alone has thousands.
      for (let i = 0; i < count; i++) {
        if (elementType === 8 || elementType === 9) {
          if (i < 8) value(elementType);
          else if (elementType === 8) pos += 8 + Number(view.getBigUint64(pos, true));
          else value(elementType);
        } else {
          pos += SCALAR_BYTES[elementType];
        }
      }
      return;
    }
    field('scalar', SCALAR_BYTES[type], type);
    pos += SCALAR_BYTES[type];
  };

  field('tensor-count', 8);
  const tensorCount = u64();
  field('kv-count', 8);
  const kvCount = u64();
  let alignment = 32;
  for (let i = 0; i < kvCount; i++) {
    const keyAt = pos + 8;
    string('key-length');
    const key = new TextDecoder().decode(bytes.subarray(keyAt, pos));
    field('value-type', 4);
    const type = u32();
    if (key === 'general.alignment') alignment = view.getUint32(pos, true);
    value(type);
  }
  const tensors: GgufTensorRange[] = [];
  for (let i = 0; i < tensorCount; i++) {
    string('name-length');
    field('dims', 4);
    const dims = u32();
    for (let d = 0; d < dims; d++) { field('ne', 8); pos += 8; }
    field('ggml-type', 4);
    const ggmlType = u32();
    field('tensor-offset', 8);
    tensors.push({ ggmlType, relativeOffset: u64() });
  }
  const dataOffset = Math.ceil(pos / alignment) * alignment;
  return { fields, tensors, dataOffset };
}
