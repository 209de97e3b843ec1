// Synthetic GGUF models: any transformer shape of the qwen2 or qwen3 architecture with seeded random
// weights in F32, Q8_0 or Q4_0, a mask token, and no stop token (so greedy decoding always runs to the
// requested length). The engine loads them like converted checkpoints, which makes them the inputs of
// the benchmarks. The same name, shape, type and seed always give the same file.
//
//   node --import tsx tools/synth/synth-model.ts --shape qwen2.5-0.5b --type Q8_0 [--vocab 267] --out FILE [--seed 1]
//
// Weights are uniform in [-a, a] with a = 0.5 * sqrt(3 / fan_in), so each matmul roughly halves the
// scale of its input and 24 random layers stay finite. Q8_0 and Q4_0 draw their integer values uniformly
// and use a as the block range. Norm weights are 1 and biases are small.
import { f32ToF16 } from '../../src/formats/quant.js';
import { tensorByteLength, writeGguf, type MetadataValue, type SynthTensorType, type TensorSpec } from './gguf-writer.js';

export interface ModelShape {
  arch: 'qwen2' | 'qwen3';
  hidden: number;
  layers: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  ffn: number;
  vocab: number;
  tied: boolean;
  context: number;
  ropeTheta: number;
}

/** Published shapes. Qwen2.5-0.5B ties its embeddings; the SDAR-1.7B shape is written untied, the larger case. */
export const SHAPES: Record<string, ModelShape> = {
  'qwen2.5-0.5b': {
    arch: 'qwen2', hidden: 896, layers: 24, heads: 14, kvHeads: 2, headDim: 64, ffn: 4864, vocab: 151936,
    tied: true, context: 32768, ropeTheta: 1_000_000,
  },
  'sdar-1.7b': {
    arch: 'qwen3', hidden: 2048, layers: 28, heads: 16, kvHeads: 8, headDim: 128, ffn: 6144, vocab: 151936,
    tied: false, context: 32768, ropeTheta: 1_000_000,
  },
};

/** xorshift32 stream seeded from a string and a number. */
class Random {
  private state: number;
  constructor(name: string, seed: number) {
    let h = (0x811c9dc5 ^ seed) >>> 0;
    for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
    this.state = h || 1;
  }
  next(): number {
    let x = this.state;
    x ^= x << 13; x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5; x >>>= 0;
    this.state = x;
    return x;
  }
  /** Uniform in [-1, 1). */
  symmetric(): number {
    return this.next() / 2147483648 - 1;
  }
}

const CHUNK_ELEMENTS = 1 << 20;

/** Describes a tensor of random values in [-range, range], produced in chunks of 2^20 values. */
function randomTensor(name: string, type: SynthTensorType, shape: number[], range: number, seed: number): TensorSpec {
  const elements = shape.reduce((a, b) => a * b, 1);
  return {
    name, type, shape,
    produce(write) {
      const random = new Random(name, seed);
      for (let done = 0; done < elements; done += CHUNK_ELEMENTS) {
        const count = Math.min(CHUNK_ELEMENTS, elements - done);
        const bytes = new Uint8Array(tensorByteLength(type, count));
        const view = new DataView(bytes.buffer);
        if (type === 'F32') {
          for (let i = 0; i < count; i++) view.setFloat32(i * 4, range * random.symmetric(), true);
        } else if (type === 'Q8_0') {
          const scale = f32ToF16(range / 127);
          for (let b = 0; b < count / 32; b++) {
            view.setUint16(b * 34, scale, true);
            for (let i = 0; i < 32; i++) bytes[b * 34 + 2 + i] = (random.next() % 255) - 127;
          }
        } else {
          const scale = f32ToF16(range / 8);
          for (let b = 0; b < count / 32; b++) {
            view.setUint16(b * 18, scale, true);
            for (let i = 0; i < 16; i++) bytes[b * 18 + 2 + i] = random.next() & 0xff;
          }
        }
        write(bytes);
      }
    },
  };
}

function constantTensor(name: string, length: number, value: number): TensorSpec {
  return {
    name, type: 'F32', shape: [length],
    produce(write) { write(new Uint8Array(new Float32Array(length).fill(value).buffer)); },
  };
}

/** Metadata of a synthetic model: architecture, shape, a token list with a mask token, no stop token. */
function metadataOf(shape: ModelShape, name: string): Record<string, MetadataValue> {
  const a = shape.arch;
  const tokens = Array.from({ length: shape.vocab }, (_, i) => `<|t${i}|>`);
  const maskId = shape.vocab - 1;
  tokens[maskId] = '<|mask|>';
  return {
    'general.architecture': { type: 'string', value: a },
    'general.name': { type: 'string', value: name },
    [`${a}.context_length`]: { type: 'u32', value: shape.context },
    [`${a}.embedding_length`]: { type: 'u32', value: shape.hidden },
    [`${a}.block_count`]: { type: 'u32', value: shape.layers },
    [`${a}.feed_forward_length`]: { type: 'u32', value: shape.ffn },
    [`${a}.attention.head_count`]: { type: 'u32', value: shape.heads },
    [`${a}.attention.head_count_kv`]: { type: 'u32', value: shape.kvHeads },
    [`${a}.attention.key_length`]: { type: 'u32', value: shape.headDim },
    [`${a}.attention.value_length`]: { type: 'u32', value: shape.headDim },
    [`${a}.attention.layer_norm_rms_epsilon`]: { type: 'f32', value: 1e-6 },
    [`${a}.rope.freq_base`]: { type: 'f32', value: shape.ropeTheta },
    'tokenizer.ggml.model': { type: 'string', value: 'gpt2' },
    'tokenizer.ggml.tokens': { type: 'strings', value: tokens },
    'tokenizer.ggml.token_type': { type: 'i32s', value: new Int32Array(shape.vocab).fill(1) },
    'tokenizer.ggml.merges': { type: 'strings', value: [] },
    'tokenizer.ggml.mask_token_id': { type: 'u32', value: maskId },
  };
}

/** Lists every tensor of the model in GGUF order and naming. Matrices use `type`, vectors are F32. */
function tensorsOf(shape: ModelShape, type: SynthTensorType, seed: number): TensorSpec[] {
  const { hidden, heads, kvHeads, headDim, ffn, vocab } = shape;
  const q = heads * headDim;
  const kv = kvHeads * headDim;
  const matrix = (name: string, out: number, inputs: number) => randomTensor(name, type, [out, inputs], 0.5 * Math.sqrt(3 / inputs), seed);
  const list: TensorSpec[] = [randomTensor('token_embd.weight', type, [vocab, hidden], 0.1, seed)];
  if (!shape.tied) list.push(matrix('output.weight', vocab, hidden));
  list.push(constantTensor('output_norm.weight', hidden, 1));
  for (let l = 0; l < shape.layers; l++) {
    const p = `blk.${l}.`;
    list.push(constantTensor(p + 'attn_norm.weight', hidden, 1));
    list.push(matrix(p + 'attn_q.weight', q, hidden), matrix(p + 'attn_k.weight', kv, hidden), matrix(p + 'attn_v.weight', kv, hidden));
    if (shape.arch === 'qwen2') {
      list.push(randomTensor(p + 'attn_q.bias', 'F32', [q], 0.02, seed));
      list.push(randomTensor(p + 'attn_k.bias', 'F32', [kv], 0.02, seed));
      list.push(randomTensor(p + 'attn_v.bias', 'F32', [kv], 0.02, seed));
    } else {
      list.push(constantTensor(p + 'attn_q_norm.weight', headDim, 1), constantTensor(p + 'attn_k_norm.weight', headDim, 1));
    }
    list.push(matrix(p + 'attn_output.weight', hidden, q));
    list.push(constantTensor(p + 'ffn_norm.weight', hidden, 1));
    list.push(matrix(p + 'ffn_gate.weight', ffn, hidden), matrix(p + 'ffn_up.weight', ffn, hidden), matrix(p + 'ffn_down.weight', hidden, ffn));
  }
  return list;
}

/** Bytes of all matrices and vectors of a model, without the GGUF header. */
export function modelWeightBytes(shape: ModelShape, type: SynthTensorType): number {
  return tensorsOf(shape, type, 0).reduce((sum, t) => sum + tensorByteLength(t.type, t.shape.reduce((a, b) => a * b, 1)), 0);
}

/** Writes a synthetic model to `path` and returns the file size in bytes. */
export function writeSyntheticModel(path: string, shape: ModelShape, type: SynthTensorType, seed = 1, name = 'synthetic'): number {
  return writeGguf(path, metadataOf(shape, name), tensorsOf(shape, type, seed));
}

// ---------------------------------------------------------------- command line

function main(argv: string[]): void {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    if (!argv[i].startsWith('--') || argv[i + 1] === undefined) throw new Error(`expected --flag value pairs, got "${argv.slice(i).join(' ')}"`);
    flags.set(argv[i].slice(2), argv[i + 1]);
  }
  const shapeName = flags.get('shape') ?? 'qwen2.5-0.5b';
  const base = SHAPES[shapeName];
  if (!base) throw new Error(`unknown --shape ${shapeName}; known: ${Object.keys(SHAPES).join(', ')}`);
  const shape: ModelShape = { ...base };
  for (const key of ['hidden', 'layers', 'heads', 'kvHeads', 'headDim', 'ffn', 'vocab'] as const) {
    const value = flags.get(key);
    if (value !== undefined) shape[key] = Number(value);
  }
  const type = (flags.get('type') ?? 'Q8_0') as SynthTensorType;
  if (!['F32', 'Q8_0', 'Q4_0'].includes(type)) throw new Error(`--type must be F32, Q8_0 or Q4_0, got ${type}`);
  const out = flags.get('out');
  if (!out) throw new Error('--out FILE is required');
  const started = performance.now();
  const bytes = writeSyntheticModel(out, shape, type, Number(flags.get('seed') ?? 1), `${shapeName}-${type}`);
  console.log(`${out}: ${(bytes / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

if (import.meta.url === `file://${process.argv[1]}`) main(process.argv.slice(2));
