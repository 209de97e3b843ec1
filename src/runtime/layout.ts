// Memory layout of one loaded model inside a single WebAssembly memory: the control block, the packed
// weights, the KV cache and the activation buffers. The layout is a plain object of byte offsets so that
// every worker receives the same copy at start-up and no pointer is ever computed twice.
import { ModelTooLargeError } from '../errors.js';
import type { ModelConfig, TensorInfo, TensorType } from '../models/types.js';
import { isMoeLayer } from '../models/moe-tensors.js';
import { planMoeBuffers, planMoeLayer, type MoeBuffers, type MoeLayerSlots } from './moe-layout.js';

export const WASM_PAGE_BYTES = 65536;
export const MAX_WASM_BYTES = 65536 * WASM_PAGE_BYTES; // the 4 GiB that wasm32 addresses
const ALIGN = 64;

/** The control block: int32 slots at the start of memory, shared by the coordinator and the workers. */
export const CONTROL = {
  stepSequence: 0,  // the coordinator increments it to start a step
  command: 1,       // COMMAND_FORWARD or COMMAND_SHUTDOWN
  barrierCount: 2,
  barrierGeneration: 3,
  error: 4,         // non-zero once a thread failed; every waiting thread then stops
  rows: 5,          // n: tokens in this forward
  start: 6,         // cache index of the first token
  keys: 7,          // keys visible to the queries: cache indices [0, keys)
  maskKind: 8,      // 0 full, 1 causal, 2 block-causal
  logitRows: 9,     // rows whose logits are computed
  temperature: 10,  // float32 bits
  blockSize: 11,
  errorThread: 12,
  slots: 64,
} as const;
export const COMMAND_FORWARD = 1;
/** Byte offset in the control block of one f64 per thread: milliseconds that thread spent waiting at barriers. */
export const BARRIER_WAIT_OFFSET = 512;
export const MAX_THREADS = 64;
export const COMMAND_SHUTDOWN = 2;
export const CONTROL_BYTES = 1024;

/**
 * Storage format of a matrix for the matmul kernels. 'q8_0x4' and 'q4_0x4' are the interleaved layouts of
 * the int8 matmuls (assembly/matmul_int8.ts). 'f32' is packed in panels of 8 rows, the others are row-major.
 */
export type WeightFormat = 'f32' | 'q8_0' | 'q4_0' | 'f16' | 'bf16' | 'q8_0x4' | 'q4_0x4';

/** True for the formats whose matmul reads activations quantised by `quantise_rows`. */
export function readsInt8(format: WeightFormat): boolean {
  return format === 'q8_0x4' || format === 'q4_0x4';
}

/** Returns true when any matrix of the layout is in a format that the int8 matmuls read. */
export function layoutReadsInt8(layout: ModelLayout): boolean {
  const slots: WeightSlot[] = [layout.embedding, layout.output];
  for (const layer of layout.layers) {
    slots.push(layer.q, layer.k, layer.v, layer.o, layer.gate, layer.up, layer.down);
    const moe = layer.moe;
    if (moe) slots.push(...moe.gate, ...moe.up, ...moe.down, ...[moe.sharedGate, moe.sharedUp, moe.sharedDown].filter((s) => s !== null));
  }
  return slots.some((slot) => readsInt8(slot.format));
}

/** Activations quantised per block of 32 for the int8 matmuls: int16 values, f32 scales, i32 block sums. */
export interface QuantisedRows {
  values: number;  // (rows, width) int16
  bytes: number;   // (rows, width) int8, the same values (written and read by the relaxed build only)
  scales: number;  // (rows, width/32) f32
  sums: number;    // (rows, width/32) i32
}

/** A matrix W (rows, cols) = (out, in) placed in memory; `scales` is 0 unless the format is quantised. */
export interface WeightSlot {
  format: WeightFormat;
  data: number;
  scales: number;
  rows: number;
  cols: number;
}

export interface LayerSlots {
  attnNorm: number;
  q: WeightSlot; k: WeightSlot; v: WeightSlot; o: WeightSlot;
  qBias: number; kBias: number; vBias: number;  // 0 when absent
  qNorm: number; kNorm: number;                  // 0 when absent
  ffnNorm: number;
  gate: WeightSlot; up: WeightSlot; down: WeightSlot;
  keyCache: number;    // (contextLength, nKvHeads * headDim) f32
  valueCache: number;  // (contextLength, nKvHeads * headDim) f32
  moe?: MoeLayerSlots; // set on MoE layers, whose gate/up/down are then empty (rows 0)
}

/** Everything a thread needs to run the forward program; identical in every thread. */
export interface ModelLayout {
  config: ModelConfig;
  threads: number;
  contextLength: number;
  int8: boolean;          // Q8_0/Q4_0 weights in the x4 layouts, multiplied by int8-quantised activations
  maxRows: number;        // tokens per forward
  maxLogitRows: number;   // LM-head rows per forward
  totalBytes: number;
  weightBytes: number;
  embedding: WeightSlot;  // token_embd; format 'f32' means panel-packed when tied, row-major otherwise
  embeddingPacked: boolean;
  outputNorm: number;
  output: WeightSlot;     // LM head (the embedding slot when tied)
  layers: LayerSlots[];
  // Step inputs written by the coordinator.
  tokens: number;         // (maxRows) i32
  ropeTable: number;      // cos (maxRows, ropeDim/2) then sin (maxRows, ropeDim/2), f32
  logitRowIndex: number;  // (maxLogitRows) i32
  // Activations.
  hidden: number;         // (maxRows, hidden) residual stream
  query: number;          // (maxRows, nHeads * headDim)
  attention: number;      // (maxRows, nHeads * headDim)
  gate: number;           // (maxRows, ffn)
  up: number;             // (maxRows, ffn)
  logits: number;         // (maxLogitRows, vocab)
  candidates: number;     // (maxLogitRows) records of 16 bytes: argmax i32, prob, second prob, entropy
  // Per-thread buffers, indexed by thread.
  normed: number[];       // (maxRows, hidden) RMSNorm output that only this thread reads
  scratch: number[];      // (contextLength) attention scores
  // Quantised activations, allocated only when int8 is set (all pointers 0 otherwise).
  normedInt8: QuantisedRows[];  // per thread, (maxRows, max(hidden, nHeads*headDim)): RMSNorm and attention outputs
  ffnInt8: QuantisedRows;       // (maxRows, ffn): silu(gate) * up, written by column slices
  moe?: MoeBuffers;             // routed-FFN buffers, when any layer of this memory is MoE
  // Memory shards: the layers [firstLayer, firstLayer + layers.length) of the model live in this memory.
  firstLayer: number;
  embeds: boolean;              // holds the token embedding (the first shard)
  head: boolean;                // holds the final norm, the LM head and the logits (the last shard)
}

export interface LayoutOptions {
  threads: number;
  /** Use the int8 matmuls for Q8_0 and Q4_0 weights (see ModelLayout.int8). Default false. */
  int8?: boolean;
  contextLength: number;
  maxRows: number;
  maxLogitRows: number;
  /** Layers [first, end) placed in this memory. Default: every layer. */
  layers?: [number, number];
  /** Whether this memory holds the token embedding and the LM head. Default true; shards set them. */
  embedding?: boolean;
  head?: boolean;
}

/**
 * Format a stored tensor type takes in memory: quantised blocks the kernels read natively stay as they are,
 * in the x4 layouts when `int8` is set. Other quantisations (K-quants, Q4_1, Q5_0, Q5_1) are dequantised
 * to f32 at load, or with `int8` requantised to Q8_0, which keeps them near their file size.
 */
export function weightFormatFor(type: TensorType, int8 = false): WeightFormat {
  switch (type) {
    case 'Q8_0': return int8 ? 'q8_0x4' : 'q8_0';
    case 'Q4_0': return int8 ? 'q4_0x4' : 'q4_0';
    case 'F32': return 'f32';
    case 'F16': return 'f16';
    case 'BF16': return 'bf16';
    default: return int8 ? 'q8_0x4' : 'f32';
  }
}

/** Bytes a (rows, cols) matrix occupies in `format`, with scales; f32 is packed in panels of 8 rows. */
export function weightBytes(format: WeightFormat, rows: number, cols: number): { data: number; scales: number } {
  switch (format) {
    case 'f32': return { data: Math.ceil(rows / 8) * 8 * cols * 4, scales: 0 };
    case 'q8_0': return { data: rows * cols, scales: (rows * cols / 32) * 4 };
    case 'q4_0': return { data: rows * cols / 2, scales: (rows * cols / 32) * 4 };
    case 'f16':
    case 'bf16': return { data: rows * cols * 2, scales: 0 };
    case 'q8_0x4':
    case 'q4_0x4': {
      // Q8_0x4 interleaves pairs of groups of 4 rows, so it pads the rows to a multiple of 8.
      const groups = format === 'q8_0x4' ? Math.ceil(rows / 8) * 2 : Math.ceil(rows / 4);
      const blocks = groups * (cols / 32);
      return { data: blocks * (format === 'q8_0x4' ? 128 : 64), scales: blocks * 16 };
    }
  }
}

class Arena {
  offset = CONTROL_BYTES;
  take(bytes: number): number {
    const at = this.offset;
    this.offset = Math.ceil((at + bytes) / ALIGN) * ALIGN;
    return at;
  }
}

/**
 * Plans the memory of a model: weights first, then the KV cache, then activations. Throws
 * ModelTooLargeError before anything is allocated when the plan exceeds 4 GiB.
 */
export function planLayout(config: ModelConfig, tensors: Map<string, TensorInfo>, options: LayoutOptions): ModelLayout {
  const arena = new Arena();
  const { hidden, nHeads, nKvHeads, headDim, ffn, vocab } = config;
  const int8 = options.int8 ?? false;
  if (options.threads > MAX_THREADS) throw new RangeError(`planLayout: ${options.threads} threads, at most ${MAX_THREADS}`);
  const qWidth = nHeads * headDim;
  const kvWidth = nKvHeads * headDim;

  let weightElements = 0;
  const tensor = (name: string): TensorInfo | undefined => tensors.get(name);
  const vector = (name: string, length: number): number => (tensor(name) ? arena.take(length * 4) : 0);
  const matrix = (name: string, rows: number, cols: number, packedF32 = true): WeightSlot => {
    const info = tensor(name);
    const format = info ? weightFormatFor(info.type, int8 && cols % 32 === 0) : 'f32';
    weightElements += rows * cols;
    const sizes = format === 'f32' && !packedF32 ? { data: rows * cols * 4, scales: 0 } : weightBytes(format, rows, cols);
    return { format, data: arena.take(sizes.data), scales: sizes.scales ? arena.take(sizes.scales) : 0, rows, cols };
  };

  const embeddingPacked = config.tiedEmbeddings;
  const embeds = options.embedding ?? true;
  const head = options.head ?? true;
  const [firstLayer, endLayer] = options.layers ?? [0, config.nLayers];
  const empty = (): WeightSlot => ({ format: 'f32', data: 0, scales: 0, rows: 0, cols: 0 });  // not in this memory
  const embedding = embeds ? matrix('token_embd.weight', vocab, hidden, embeddingPacked) : empty();
  // A tied LM head in a shard without the embedding gets its own packed copy of token_embd.
  const tiedOutput = () => (embeds ? embedding : matrix('token_embd.weight', vocab, hidden));
  const output = !head ? empty() : config.tiedEmbeddings ? tiedOutput() : matrix('output.weight', vocab, hidden);
  const outputNorm = head ? arena.take(hidden * 4) : 0;

  const layers: LayerSlots[] = [];
  for (let l = firstLayer; l < endLayer; l++) {
    const p = `blk.${l}.`;
    const moeLayer = isMoeLayer(config, l);
    layers.push({
      attnNorm: arena.take(hidden * 4),
      q: matrix(p + 'attn_q.weight', qWidth, hidden),
      k: matrix(p + 'attn_k.weight', kvWidth, hidden),
      v: matrix(p + 'attn_v.weight', kvWidth, hidden),
      o: matrix(p + 'attn_output.weight', hidden, qWidth),
      qBias: vector(p + 'attn_q.bias', qWidth),
      kBias: vector(p + 'attn_k.bias', kvWidth),
      vBias: vector(p + 'attn_v.bias', kvWidth),
      qNorm: vector(p + 'attn_q_norm.weight', headDim),
      kNorm: vector(p + 'attn_k_norm.weight', headDim),
      ffnNorm: arena.take(hidden * 4),
      gate: moeLayer ? empty() : matrix(p + 'ffn_gate.weight', ffn, hidden),
      up: moeLayer ? empty() : matrix(p + 'ffn_up.weight', ffn, hidden),
      down: moeLayer ? empty() : matrix(p + 'ffn_down.weight', hidden, ffn),
      keyCache: 0,
      valueCache: 0,
    });
    if (moeLayer) {
      const planned = planMoeLayer(config, tensors, l, int8, (bytes) => arena.take(bytes));
      layers[layers.length - 1].moe = planned.slots;
      weightElements += planned.elements;
    }
  }
  const weightEnd = arena.offset;

  const { threads, contextLength, maxRows, maxLogitRows } = options;
  for (const layer of layers) {
    layer.keyCache = arena.take(contextLength * kvWidth * 4);
    layer.valueCache = arena.take(contextLength * kvWidth * 4);
  }

  const layout: ModelLayout = {
    config, threads, contextLength, int8, maxRows, maxLogitRows,
    totalBytes: 0,
    weightBytes: weightEnd - CONTROL_BYTES,
    embedding, embeddingPacked, outputNorm, output, layers,
    tokens: arena.take(maxRows * 4),
    ropeTable: arena.take(maxRows * config.ropeDim * 4),
    logitRowIndex: arena.take(maxLogitRows * 4),
    hidden: arena.take(maxRows * hidden * 4),
    query: arena.take(maxRows * qWidth * 4),
    attention: arena.take(maxRows * qWidth * 4),
    gate: arena.take(maxRows * ffn * 4),
    up: arena.take(maxRows * ffn * 4),
    logits: head ? arena.take(maxLogitRows * vocab * 4) : 0,
    candidates: head ? arena.take(maxLogitRows * 16) : 0,
    normed: [],
    scratch: [],
    normedInt8: [],
    ffnInt8: { values: 0, bytes: 0, scales: 0, sums: 0 },
    firstLayer,
    embeds,
    head,
  };
  const quantisedRows = (rows: number, width: number): QuantisedRows => ({
    values: arena.take(rows * width * 2),
    bytes: arena.take(rows * width),
    scales: arena.take(Math.ceil(rows * width / 32) * 4),
    sums: arena.take(Math.ceil(rows * width / 32) * 4),
  });
  const normedWidth = Math.max(hidden, qWidth);
  for (let t = 0; t < threads; t++) {
    layout.normed.push(arena.take(maxRows * hidden * 4));
    layout.scratch.push(arena.take(contextLength * 4));
    if (int8) layout.normedInt8.push(quantisedRows(maxRows, normedWidth));
  }
  if (int8) layout.ffnInt8 = quantisedRows(maxRows, ffn);
  if (layers.some((layer) => layer.moe)) layout.moe = planMoeBuffers(config, threads, maxRows, int8, (bytes) => arena.take(bytes));
  layout.totalBytes = arena.offset;

  if (layout.totalBytes > MAX_WASM_BYTES) {
    throw tooLargeError(layout, weightElements);
  }
  return layout;
}

/**
 * Advises how to fit a model whose weights may use `weightBudgetBytes` (the limit minus the KV cache and
 * activations): the quantisation dllm-wasm reads whose bits per weight fit, or a smaller model.
 */
export function fitAdvice(weightBudgetBytes: number, weightElements: number): string {
  const bitsThatFit = (weightBudgetBytes * 8) / weightElements;
  let quantisation: string | null = null;
  if (bitsThatFit >= 8.5) quantisation = 'Q8_0';
  else if (bitsThatFit >= 4.5) quantisation = 'Q4_0';
  return quantisation
    ? `Quantise the weights to ${quantisation} (for example with llama-quantize) or lower contextLength.`
    : 'No quantisation that dllm-wasm reads makes it fit; use a smaller model.';
}

function tooLargeError(layout: ModelLayout, weightElements: number): ModelTooLargeError {
  const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(2);
  const weights = layout.weightBytes;
  const rest = layout.totalBytes - weights;
  const fix = fitAdvice(MAX_WASM_BYTES - rest, weightElements);
  return new ModelTooLargeError(layout.totalBytes, MAX_WASM_BYTES,
    `The model needs ${gib(layout.totalBytes)} GiB of wasm memory (weights ${gib(weights)} GiB, KV cache and activations ` +
      `${gib(rest)} GiB) but wasm32 addresses at most 4 GiB. ${fix}`,
  );
}
