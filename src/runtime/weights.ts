// Placing checkpoint tensors into wasm memory in the formats the kernels read. F32 matrices are packed in
// panels of 8 rows. Q8_0/Q4_0 are split into int8/nibble rows and f32 block scales, or interleaved in
// groups of 4 rows for the int8 matmuls. F16/BF16 stay u16, and every other quantisation is dequantised
// to f32 and packed, or requantised to Q8_0 for the int8 matmuls. Vectors (norms, biases) become f32.
import { ModelFormatError, UnsupportedModelError } from '../errors.js';
import { dequantize, ggmlTypeByName, quantizeQ8_0, repackQ4_0, repackQ8_0 } from '../formats/quant.js';
import type { TensorInfo } from '../models/types.js';
import { packF32Panels, packQ4_0x4, packQ8_0x4, type Q4_0x4Order } from './kernels.js';
import { weightBytes, type WeightSlot } from './layout.js';

function elementCount(info: TensorInfo): number {
  return info.shape.reduce((a, b) => a * b, 1);
}

/** Decodes any stored tensor to f32 values. 4-aligned F32 bytes come back as a view on `bytes`, not a copy. */
export function toFloat32(info: TensorInfo, bytes: Uint8Array): Float32Array {
  const count = elementCount(info);
  if (info.type === 'F32') {
    if (bytes.byteLength !== count * 4) {
      throw new ModelFormatError('SHAPE_MISMATCH', `Tensor ${info.name} has ${bytes.byteLength} bytes, but its shape [${info.shape}] in F32 needs ${count * 4}.`);
    }
    // A view when the bytes are 4-aligned, which saves a copy of the largest tensors while loading
    // (callers only read the result). Otherwise a copy, because Float32Array needs the alignment.
    if (bytes.byteOffset % 4 === 0) return new Float32Array(bytes.buffer, bytes.byteOffset, count);
    const values = new Float32Array(count);
    new Uint8Array(values.buffer).set(bytes);
    return values;
  }
  return dequantize(info.type, bytes, count);
}

/** Writes a vector tensor of `length` values as f32 at byte offset `at`. */
export function writeVector(memory: WebAssembly.Memory, at: number, info: TensorInfo, bytes: Uint8Array, length: number): void {
  if (elementCount(info) !== length) {
    throw new ModelFormatError('SHAPE_MISMATCH', `Tensor ${info.name} has shape [${info.shape}], expected ${length} values.`);
  }
  new Float32Array(memory.buffer, at, length).set(toFloat32(info, bytes));
}

/** Destination of the matrices: the memory, and the Q4_0x4 byte order of the kernel module that reads them. */
export interface WeightTarget {
  memory: WebAssembly.Memory;
  q4Order: Q4_0x4Order;
}

/** Bytes of one row of a [rows, cols] tensor of `info`'s type. */
export function matrixRowBytes(info: TensorInfo, cols: number): number {
  const type = ggmlTypeByName(info.type);
  if (!type || cols % type.blockSize !== 0) {
    throw new ModelFormatError('SHAPE_MISMATCH', `Tensor ${info.name} has ${cols} columns, which do not split into ${info.type} blocks.`);
  }
  return (cols / type.blockSize) * type.blockBytes;
}

/** Throws SHAPE_MISMATCH unless the tensor's shape is the slot's [rows, cols]. */
export function checkShape(info: TensorInfo, slot: WeightSlot): void {
  const { rows, cols } = slot;
  if (info.shape.length !== 2 || info.shape[0] !== rows || info.shape[1] !== cols) {
    throw new ModelFormatError('SHAPE_MISMATCH', `Tensor ${info.name} has shape [${info.shape}], expected [${rows}, ${cols}] for this config.`);
  }
}

/** Writes a matrix tensor into its slot; `packed` false stores f32 row-major (an untied f32 embedding). */
export function writeMatrix(target: WeightTarget, slot: WeightSlot, info: TensorInfo, bytes: Uint8Array, packed = true): void {
  checkShape(info, slot);
  const expected = slot.rows * matrixRowBytes(info, slot.cols);
  if (bytes.byteLength !== expected) {
    throw new ModelFormatError('SHAPE_MISMATCH',
      `Tensor ${info.name} has ${bytes.byteLength} bytes, expected ${expected} for [${slot.rows}, ${slot.cols}] in ${info.type}.`);
  }
  writeMatrixRows(target, slot, info, bytes, 0, packed);
}

/**
 * Writes rows [firstRow, firstRow + count) of a matrix tensor into its slot, where `bytes` contains exactly
 * those rows. firstRow is a multiple of 8, so that a part starts on an f32 panel and on a group of the x4
 * layouts. Writing every row once, in any order of parts, gives the same memory as writeMatrix.
 */
export function writeMatrixRows(
  target: WeightTarget, slot: WeightSlot, info: TensorInfo, bytes: Uint8Array, firstRow: number, packed = true,
): void {
  const { memory } = target;
  const { rows, cols } = slot;
  checkShape(info, slot);
  const rowBytes = matrixRowBytes(info, cols);
  const count = bytes.byteLength / rowBytes;
  if (!Number.isInteger(count) || !Number.isInteger(firstRow) || firstRow < 0 || firstRow % 8 !== 0 || firstRow + count > rows) {
    throw new ModelFormatError('SHAPE_MISMATCH',
      `Tensor ${info.name} (${info.type} [${rows}, ${cols}]): ${bytes.byteLength} bytes from row ${firstRow} are not whole rows of ${rowBytes} bytes within the tensor.`);
  }
  const blocks = cols / 32;
  switch (slot.format) {
    case 'f32': {
      const values = info.type === 'F32' && bytes.byteOffset % 4 === 0
        ? new Float32Array(bytes.buffer, bytes.byteOffset, count * cols)
        : dequantize(info.type, bytes, count * cols);
      if (packed) {
        const length = Math.ceil(count / 8) * 8 * cols;
        packF32Panels(new Float32Array(memory.buffer, slot.data + firstRow * cols * 4, length), values, count, cols);
      } else {
        new Float32Array(memory.buffer, slot.data + firstRow * cols * 4, count * cols).set(values);
      }
      return;
    }
    case 'q8_0': {
      const { qs, scales } = repackQ8_0(bytes, count, cols);
      new Int8Array(memory.buffer, slot.data + firstRow * cols, count * cols).set(qs);
      new Float32Array(memory.buffer, slot.scales + firstRow * blocks * 4, scales.length).set(scales);
      return;
    }
    case 'q4_0': {
      const { qs, scales } = repackQ4_0(bytes, count, cols);
      new Uint8Array(memory.buffer, slot.data + firstRow * cols / 2, qs.length).set(qs);
      new Float32Array(memory.buffer, slot.scales + firstRow * blocks * 4, scales.length).set(scales);
      return;
    }
    case 'q8_0x4':
    case 'q4_0x4': {
      const x4 = slot.format === 'q8_0x4';
      if (!x4 && info.type !== 'Q4_0') {
        throw new ModelFormatError('SHAPE_MISMATCH', `Tensor ${info.name} is ${info.type}, expected Q4_0 for its ${slot.format} slot.`);
      }
      // Other quantisations reach a Q8_0 slot requantised (see weightFormatFor).
      const blockBytes = x4 && info.type !== 'Q8_0' ? quantizeQ8_0(dequantize(info.type, bytes, count * cols)) : bytes;
      // Rows past the tensor's last row are zero padding of its last group of 4.
      const { data, scales } = weightBytes(slot.format, count, cols);
      const groupBytes = blocks * (x4 ? 128 : 64);
      const dataView = new Uint8Array(memory.buffer, slot.data + (firstRow / 4) * groupBytes, data);
      const scaleView = new Float32Array(memory.buffer, slot.scales + (firstRow / 4) * blocks * 16, scales / 4);
      if (x4) packQ8_0x4(dataView, scaleView, blockBytes, count, cols);
      else packQ4_0x4(dataView, scaleView, bytes, count, cols, target.q4Order);
      return;
    }
    case 'f16':
    case 'bf16':
      new Uint8Array(memory.buffer, slot.data + firstRow * cols * 2, bytes.byteLength).set(bytes);
      return;
    default:
      throw new UnsupportedModelError('UNSUPPORTED_TENSOR', `No kernel reads the weight format ${slot.format as string} of ${info.name}.`);
  }
}
