// Memory shards: a model larger than one wasm32 memory (4 GiB) is spread over several memories, each
// holding a contiguous range of layers with their weights, KV cache and activations. The first shard also
// holds the token embedding and the last one the final norm, the LM head and the logits. Each shard has
// its own kernel instance in every thread; a forward runs the shards in order and copies the residual
// stream (rows x hidden floats) from one shard to the next. Barriers and step parameters use the control
// block of the first shard only.
import { ModelTooLargeError } from '../errors.js';
import type { ModelConfig, TensorInfo } from '../models/types.js';
import { arriveAndWait } from './barrier.js';
import { instantiateKernels } from './kernels.js';
import { CONTROL, fitAdvice, MAX_WASM_BYTES, planLayout, WASM_PAGE_BYTES, type LayoutOptions, type ModelLayout } from './layout.js';
import { detectRuntime } from './platform.js';
import { ForwardProgram, sliceOf } from './program.js';

export interface ShardLimits {
  /** Bytes per memory at most; smaller values force more shards (tests). Default and maximum: 4 GiB. */
  maxShardBytes?: number;
  /** Bytes over all memories at most; a larger model is rejected before any allocation. Default: no limit. */
  maxMemoryBytes?: number;
}

const gib = (bytes: number) => (bytes / 2 ** 30).toFixed(2);
const size = (bytes: number) => (bytes >= 2 ** 30 ? `${gib(bytes)} GiB` : `${(bytes / 2 ** 20).toFixed(2)} MiB`);

/**
 * The layout of items [first, end) of the sequence embedding, layer 0 .. layer n-1, LM head. Throws
 * ModelTooLargeError when it exceeds 4 GiB.
 */
function planItems(config: ModelConfig, tensors: Map<string, TensorInfo>, options: LayoutOptions, first: number, end: number): ModelLayout {
  const n = config.nLayers;
  return planLayout(config, tensors, {
    ...options,
    embedding: first === 0,
    head: end === n + 2,
    layers: [Math.max(first, 1) - 1, Math.min(end, n + 1) - 1],
  });
}

/** As planItems, or null when the layout exceeds `budget`. */
function tryPlan(config: ModelConfig, tensors: Map<string, TensorInfo>, options: LayoutOptions, first: number, end: number, budget: number): ModelLayout | null {
  try {
    const layout = planItems(config, tensors, options, first, end);
    return layout.totalBytes <= budget ? layout : null;
  } catch (error) {
    if (error instanceof ModelTooLargeError) return null;
    throw error;
  }
}

/**
 * Plans one memory when the model fits in `maxShardBytes` (4 GiB by default), else packs the embedding,
 * the layers and the LM head greedily, in order, into as few memories as the budget allows. Throws
 * ModelTooLargeError when one layer alone exceeds the budget or the total exceeds `maxMemoryBytes`.
 */
export function planShards(config: ModelConfig, tensors: Map<string, TensorInfo>, options: LayoutOptions, limits: ShardLimits = {}): ModelLayout[] {
  const budget = Math.min(limits.maxShardBytes ?? MAX_WASM_BYTES, MAX_WASM_BYTES);
  const items = config.nLayers + 2;
  const layouts: ModelLayout[] = [];
  for (let first = 0; first < items;) {
    let best: ModelLayout | null = null;
    let end = first + 1;
    for (let candidate = first + 1; candidate <= items; candidate++) {
      const layout = tryPlan(config, tensors, options, first, candidate, budget);
      if (!layout) break;
      best = layout;
      end = candidate;
    }
    if (!best) throw cannotSplitError(config, first, planItems(config, tensors, options, first, first + 1).totalBytes, budget);
    layouts.push(best);
    first = end;
  }

  const total = layouts.reduce((sum, layout) => sum + layout.totalBytes, 0);
  if (limits.maxMemoryBytes !== undefined && total > limits.maxMemoryBytes) {
    throw overLimitError(tensors, layouts, total, limits.maxMemoryBytes);
  }
  return layouts;
}

function cannotSplitError(config: ModelConfig, item: number, required: number, budget: number): ModelTooLargeError {
  const what = item === 0 ? 'The token embedding' : item === config.nLayers + 1 ? 'The LM head' : `Layer ${item - 1}`;
  return new ModelTooLargeError(required, budget,
    `${what} alone, with the activations of its memory, needs ${size(required)}, more than the ${size(budget)} of one ` +
      'wasm memory, so splitting the model over several memories cannot help. Use a smaller quantisation (Q4_0), ' +
      'a lower contextLength or maxRows, or a smaller model.',
  );
}

function overLimitError(tensors: Map<string, TensorInfo>, layouts: ModelLayout[], total: number, limit: number): ModelTooLargeError {
  const weights = layouts.reduce((sum, layout) => sum + layout.weightBytes, 0);
  const rest = total - weights;
  let elements = 0;
  for (const info of tensors.values()) elements += info.shape.reduce((a, b) => a * b, 1);
  const fix = fitAdvice(limit - rest, elements);
  return new ModelTooLargeError(total, limit,
    `The model needs ${gib(total)} GiB of wasm memory in ${layouts.length} memories (weights ${gib(weights)} GiB, KV cache ` +
      `and activations ${gib(rest)} GiB), over the limit of ${gib(limit)} GiB. ${fix}`,
  );
}

/** One log line describing the shards, e.g. "2 memory shards: embedding + layers 0-15 (3.1 GiB) | ...". */
export function describeShards(layouts: ModelLayout[]): string {
  const parts = layouts.map((layout) => {
    const pieces: string[] = [];
    if (layout.embeds) pieces.push('embedding');
    if (layout.layers.length > 0) {
      const last = layout.firstLayer + layout.layers.length - 1;
      pieces.push(layout.layers.length === 1 ? `layer ${last}` : `layers ${layout.firstLayer}-${last}`);
    }
    if (layout.head) pieces.push('LM head');
    return `${pieces.join(' + ')} (${size(layout.totalBytes)})`;
  });
  return `dllm-wasm: ${layouts.length} memory shards: ${parts.join(' | ')}.`;
}

/**
 * The forward program of one thread over all shards: each shard's ForwardProgram in turn, with the
 * residual stream copied to the next shard in between (each thread copies its share of the rows).
 */
export class ShardedProgram {
  readonly programs: ForwardProgram[];
  private readonly control: Int32Array;

  constructor(module: WebAssembly.Module, private readonly memories: WebAssembly.Memory[], private readonly layouts: ModelLayout[], private readonly thread: number) {
    this.control = new Int32Array(memories[0].buffer, 0, CONTROL.slots);
    this.programs = layouts.map((layout, i) => new ForwardProgram(instantiateKernels(module, memories[i]), layout, memories[i], thread, this.control));
  }

  run(): void {
    const rows = this.control[CONTROL.rows];
    const threads = this.layouts[0].threads;
    const hidden = this.layouts[0].config.hidden;
    const [first, end] = sliceOf(rows, 1, this.thread, threads);
    for (let i = 0; i < this.programs.length; i++) {
      this.programs[i].run();
      if (i === this.programs.length - 1) break;

      // residual stream rows [first, end) into the next shard
      if (first < end) {
        const from = new Float32Array(this.memories[i].buffer, this.layouts[i].hidden + first * hidden * 4, (end - first) * hidden);
        new Float32Array(this.memories[i + 1].buffer, this.layouts[i + 1].hidden + first * hidden * 4, (end - first) * hidden).set(from);
      }
      arriveAndWait(this.control, threads);
    }
  }
}

/** Copies the step inputs that the coordinator wrote into the first shard to the shards that read them. */
export function copyStepInputs(memories: WebAssembly.Memory[], layouts: ModelLayout[], rows: number, logitRows: number): void {
  const source = layouts[0];
  // The coordinator packs cos (rows, ropeDim/2) and then sin (rows, ropeDim/2) for this forward's rows.
  const half = rows * (source.config.ropeDim / 2);
  const cos = new Float32Array(memories[0].buffer, source.ropeTable, half);
  const sin = new Float32Array(memories[0].buffer, source.ropeTable + half * 4, half);
  for (let i = 1; i < layouts.length; i++) {
    const target = layouts[i];
    new Float32Array(memories[i].buffer, target.ropeTable, half).set(cos);
    new Float32Array(memories[i].buffer, target.ropeTable + half * 4, half).set(sin);
  }
  const last = layouts.length - 1;
  if (last > 0 && logitRows > 0) {
    const rowIndex = new Int32Array(memories[0].buffer, source.logitRowIndex, logitRows);
    new Int32Array(memories[last].buffer, layouts[last].logitRowIndex, logitRows).set(rowIndex);
  }
}

/** Allocates the memory of one shard after the first; a RangeError becomes ModelTooLargeError OUT_OF_MEMORY. */
export function allocateShardMemory(layout: ModelLayout, shared: boolean): WebAssembly.Memory {
  const pages = Math.ceil(layout.totalBytes / WASM_PAGE_BYTES);
  try {
    return new WebAssembly.Memory({ initial: pages, maximum: pages, shared } as WebAssembly.MemoryDescriptor);
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new ModelTooLargeError(layout.totalBytes, NaN,
      `Allocating a further ${gib(layout.totalBytes)} GiB of wasm memory for layers ${layout.firstLayer}+ failed ` +
        `(${error.message}): the runtime's memory limit is lower. Lower contextLength, use a smaller quantisation ` +
        'such as Q4_0, or raise the limit of the runtime.',
      'OUT_OF_MEMORY', { cause: error });
  }
}

/** Physical memory of the machine on Node (os.totalmem), undefined in other runtimes. */
export async function hostMemoryBytes(): Promise<number | undefined> {
  if (detectRuntime() !== 'node') return undefined;
  const os = await import('node:os');
  return os.totalmem();
}
