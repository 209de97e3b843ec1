// The wasm transformer engine: one memory holding the packed weights, the KV cache and the activations,
// a forward program run by a pool of threads, and the coordinator side of a forward (writing the step's
// inputs into memory and reading the output rows back).
import { AbortError, ConfigError, ContextOverflowError, ModelDisposedError, ModelFormatError, ModelTooLargeError, NumericError } from '../errors.js';
import type { ForwardEngine, ForwardRequest, ForwardResult } from '../models/engine-types.js';
import type { Checkpoint, ModelConfig, TensorInfo } from '../models/types.js';
import { instantiateKernels, loadKernelModule, q4Order, type KernelExports } from './kernels.js';
import { CONTROL, layoutReadsInt8, MAX_THREADS, WASM_PAGE_BYTES, type ModelLayout } from './layout.js';
import { chooseThreads, defaultLog, logThreadChoice, threadSupport } from './platform.js';
import { yieldToEventLoop } from './event-loop.js';
import { ThreadPool } from './pool.js';
import { ForwardProgram } from './program.js';
import { checkShape, matrixRowBytes, writeMatrix, writeMatrixRows, writeVector, type WeightTarget } from './weights.js';
import { moeWeightJobs, type WeightJob } from './moe-weights.js';
import { allocateShardMemory, copyStepInputs, describeShards, hostMemoryBytes, planShards, ShardedProgram } from './shards.js';

export interface LoadProgress {
  loadedBytes: number;
  totalBytes: number;
  tensor: string;
}

export interface EngineOptions {
  /**
   * Threads that run each forward, the calling thread included. Default: the hardware threads, at most 8.
   * Where memory cannot be shared (a page without cross-origin isolation, a page's main thread,
   * Cloudflare Workers) the engine runs one thread whatever this requests, and logs why.
   */
  threads?: number;
  /**
   * The compiled kernel module, for runtimes that cannot fetch or compile wasm bytes at run time
   * (Cloudflare Workers import it as a module). It must be dllm-single.wasm on one thread and
   * dllm-shared.wasm on more. Default: compiled from the .wasm file beside the bundle.
   */
  kernelModule?: WebAssembly.Module;
  /** Receives the one-line thread choice and kernel build, each logged once per process. Default: stderr on Node and Deno, console.info elsewhere. */
  log?: (message: string) => void;
  /** KV cache capacity in positions. Default: the model's context, at most 4096. */
  contextLength?: number;
  /** Tokens per forward. Default: 256 for block-causal families, else the context length. */
  maxRows?: number;
  /**
   * Multiply Q8_0 and Q4_0 weights by activations quantised to int8 per block of 32 (2-3x faster matmuls,
   * logits no longer match an f32 reference to 1e-4). Other quantisations (K-quants, Q4_1, Q5_0, Q5_1)
   * are then requantised to Q8_0 at load instead of dequantised to f32. Default false.
   */
  int8?: boolean;
  /**
   * Bytes per wasm memory at most. A model that does not fit is split over several memories, each with a
   * range of layers; only the residual stream moves between them. Default and maximum: 4 GiB, the wasm32
   * limit. Smaller values force more memories (tests).
   */
  maxShardBytes?: number;
  /**
   * Bytes of wasm memory over all memories at most; a larger model is rejected with ModelTooLargeError
   * before any allocation. Default: the machine's physical memory on Node, no limit elsewhere.
   */
  maxMemoryBytes?: number;
  /**
   * Bytes read at a time for a large tensor (an embedding table), which is placed part by part so that
   * loading keeps only one part of its file bytes in memory. Default 16 MiB.
   */
  loadPartBytes?: number;
  onProgress?: (progress: LoadProgress) => void;
  signal?: AbortSignal;
}

const MASK_KIND = { full: 0, causal: 1, 'block-causal': 2 } as const;
const LOGITS_BUDGET_BYTES = 64 * 2 ** 20;
/** Default of EngineOptions.loadPartBytes. */
const LOAD_PART_BYTES = 16 * 2 ** 20;

function checkPositive(name: string, value: number | undefined): void {
  if (value !== undefined && (!Number.isInteger(value) || value < 1)) {
    throw new ConfigError('INVALID_OPTION', `${name} must be a positive integer, got ${typeof value === 'string' ? JSON.stringify(value) : String(value)}.`);
  }
}

/** Cos/sin of every position of the cache, laid out as the rope kernels read them per row. */
function buildRopeTable(config: ModelConfig, contextLength: number): { cos: Float32Array; sin: Float32Array } {
  const half = config.ropeDim / 2;
  const cos = new Float32Array(contextLength * half);
  const sin = new Float32Array(contextLength * half);
  for (let i = 0; i < half; i++) {
    const inverseFrequency = Math.pow(config.ropeTheta, (-2 * i) / config.ropeDim);
    for (let p = 0; p < contextLength; p++) {
      const angle = p * inverseFrequency;
      cos[p * half + i] = Math.cos(angle);
      sin[p * half + i] = Math.sin(angle);
    }
  }
  return { cos, sin };
}

export class WasmEngine implements ForwardEngine {
  readonly config: ModelConfig;
  readonly contextLength: number;
  readonly threads: number;
  readonly layout: ModelLayout;
  private readonly memory: WebAssembly.Memory;
  private readonly program: ForwardProgram | ShardedProgram;
  /** Every memory and its layout when the model is split over several memories; null for one. */
  private readonly shards: { memories: WebAssembly.Memory[]; layouts: ModelLayout[] } | null;
  private readonly headMemory: WebAssembly.Memory;  // the memory holding the LM head, logits and candidates
  private readonly headLayout: ModelLayout;
  private readonly pool: ThreadPool | null;
  private readonly rope: { cos: Float32Array; sin: Float32Array };
  private readonly control: Int32Array;
  private readonly controlFloats: Float32Array;
  private readonly logits: Float32Array;
  private readonly argmax: Int32Array;
  private readonly prob: Float32Array;
  private readonly secondProb: Float32Array;
  private readonly entropy: Float32Array;
  private disposed = false;

  private constructor(
    memory: WebAssembly.Memory, layout: ModelLayout, program: ForwardProgram | ShardedProgram, pool: ThreadPool | null,
    shards: { memories: WebAssembly.Memory[]; layouts: ModelLayout[] } | null = null,
  ) {
    this.shards = shards;
    this.headMemory = shards ? shards.memories[shards.memories.length - 1] : memory;
    this.headLayout = shards ? shards.layouts[shards.layouts.length - 1] : layout;
    this.memory = memory;
    this.layout = layout;
    this.config = layout.config;
    this.contextLength = layout.contextLength;
    this.threads = layout.threads;
    this.program = program;
    this.pool = pool;
    this.rope = buildRopeTable(this.config, this.contextLength);
    this.control = new Int32Array(memory.buffer, 0, CONTROL.slots);
    this.controlFloats = new Float32Array(memory.buffer, 0, CONTROL.slots);
    this.logits = new Float32Array(this.headMemory.buffer, this.headLayout.logits, layout.maxLogitRows * this.config.vocab);
    this.argmax = new Int32Array(layout.maxLogitRows);
    this.prob = new Float32Array(layout.maxLogitRows);
    this.secondProb = new Float32Array(layout.maxLogitRows);
    this.entropy = new Float32Array(layout.maxLogitRows);
  }

  /** Plans the memory, places every tensor of the checkpoint in it, and starts the thread pool. */
  static async load(checkpoint: Checkpoint, options: EngineOptions = {}): Promise<WasmEngine> {
    const config = checkpoint.config;
    checkPositive('threads', options.threads);
    if (options.threads !== undefined && options.threads > MAX_THREADS) {
      throw new ConfigError('INVALID_OPTION', `threads must be at most ${MAX_THREADS}, got ${options.threads}.`);
    }
    checkPositive('contextLength', options.contextLength);
    checkPositive('maxRows', options.maxRows);
    checkPositive('maxShardBytes', options.maxShardBytes);
    checkPositive('maxMemoryBytes', options.maxMemoryBytes);
    checkPositive('loadPartBytes', options.loadPartBytes);
    if (options.int8 !== undefined && typeof options.int8 !== 'boolean') {
      throw new ConfigError('INVALID_OPTION', `int8 must be true or false, got ${JSON.stringify(options.int8)}.`);
    }
    const choice = chooseThreads(await threadSupport(), options.threads);
    logThreadChoice(choice, options.log);
    const threads = choice.threads;
    const contextLength = options.contextLength ?? Math.min(config.maxContext, 4096);
    const maxRows = Math.min(contextLength, options.maxRows ?? (config.attention === 'block-causal' ? 256 : contextLength));
    const maxLogitRows = Math.min(maxRows, Math.max(64, Math.floor(LOGITS_BUDGET_BYTES / (config.vocab * 4))));
    const layouts = planShards(config, checkpoint.tensors, { threads, contextLength, maxRows, maxLogitRows, int8: options.int8 }, {
      maxShardBytes: options.maxShardBytes,
      maxMemoryBytes: options.maxMemoryBytes ?? await hostMemoryBytes(),
    });
    const layout = layouts[0];
    if (options.int8 && !layouts.some(layoutReadsInt8)) {
      (options.log ?? defaultLog)('dllm-wasm: int8 has no effect: the model has no quantised matrices (its weights are F32, F16 or BF16).');
    }

    const shared = choice.shared;
    const pages = Math.ceil(layout.totalBytes / WASM_PAGE_BYTES);
    let memory: WebAssembly.Memory;
    try {
      memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared } as WebAssembly.MemoryDescriptor);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      const gib = (layout.totalBytes / 2 ** 30).toFixed(2);
      throw new ModelTooLargeError(layout.totalBytes, NaN,
        `Allocating ${gib} GiB of wasm memory failed (${error.message}): the runtime's memory limit is lower. ` +
          'Lower contextLength, use a smaller quantisation such as Q4_0, or raise the limit of the runtime.',
        'OUT_OF_MEMORY', { cause: error });
    }
    const memories = [memory, ...layouts.slice(1).map((shard) => allocateShardMemory(shard, shared))];
    const module = options.kernelModule ?? await loadKernelModule(shared, 'auto', options.log);
    let kernels: KernelExports;
    try {
      kernels = instantiateKernels(module, memory);
    } catch (error) {
      if (!(error instanceof WebAssembly.LinkError) || !options.kernelModule) throw error;
      throw new ConfigError('INVALID_OPTION',
        `kernelModule does not link with this engine's ${shared ? 'shared' : 'plain'} memory (${error.message}). ` +
          `Pass dllm-${shared ? 'shared' : 'single'}.wasm for ${threads} thread${threads === 1 ? '' : 's'}.`, { cause: error });
    }
    // The packed Q4_0 weights follow the byte order of the build that reads them.
    const order = q4Order(kernels);
    for (let i = 0; i < layouts.length; i++) await placeWeights({ memory: memories[i], q4Order: order }, layouts[i], checkpoint, options);

    if (layouts.length > 1) {
      (options.log ?? defaultLog)(describeShards(layouts));
      const shards = { memories, layouts };
      const sharded = new ShardedProgram(module, memories, layouts, 0);
      const shardedPool = shared ? await ThreadPool.start(module, memory, layout, sharded, shards) : null;
      return new WasmEngine(memory, layout, sharded, shardedPool, shards);
    }
    const program = new ForwardProgram(kernels, layout, memory, 0);
    const pool = shared ? await ThreadPool.start(module, memory, layout, program) : null;
    return new WasmEngine(memory, layout, program, pool);
  }

  get maxRows(): number {
    return this.layout.maxRows;
  }

  get maxLogitRows(): number {
    return this.layout.maxLogitRows;
  }

  async forward(request: ForwardRequest): Promise<ForwardResult> {
    if (this.disposed) throw new ModelDisposedError();
    const { tokens, start, attention, logitRows } = request;
    const L = this.layout;
    const rows = tokens.length;
    const keys = request.keys ?? start + rows;
    if (rows < 1 || rows > L.maxRows) {
      throw new ConfigError('INVALID_OPTION', `A forward takes 1 to ${L.maxRows} tokens, got ${rows}. Split the tokens into several forwards.`);
    }
    if (start < 0 || keys < start + rows || keys > this.contextLength) {
      throw new ContextOverflowError(keys, this.contextLength,
        `The forward needs cache positions up to ${keys}, but the KV cache holds ${this.contextLength}. Load the model with a larger contextLength or shorten the request.`);
    }
    if (logitRows.length > L.maxLogitRows) {
      throw new ConfigError('INVALID_OPTION', `A forward computes at most ${L.maxLogitRows} logit rows, got ${logitRows.length}.`);
    }

    // step inputs: token ids, RoPE rows and the rows of the LM head
    const vocab = this.config.vocab;
    const tokenView = new Int32Array(this.memory.buffer, L.tokens, rows);
    for (let r = 0; r < rows; r++) {
      const id = tokens[r];
      if (!(id >= 0 && id < vocab)) throw new ConfigError('INVALID_OPTION', `Token id ${id} at row ${r} is outside the vocabulary [0, ${vocab}).`);
      tokenView[r] = id;
    }
    const half = this.config.ropeDim / 2;
    const cos = new Float32Array(this.memory.buffer, L.ropeTable, rows * half);
    const sin = new Float32Array(this.memory.buffer, L.ropeTable + rows * half * 4, rows * half);
    for (let r = 0; r < rows; r++) {
      const position = request.positions ? request.positions[r] : start + r;
      if (!(position >= 0 && position < this.contextLength)) {
        throw new ContextOverflowError(position + 1, this.contextLength, `RoPE position ${position} is outside the KV cache of ${this.contextLength} positions.`);
      }
      cos.set(this.rope.cos.subarray(position * half, (position + 1) * half), r * half);
      sin.set(this.rope.sin.subarray(position * half, (position + 1) * half), r * half);
    }
    const rowIndex = new Int32Array(this.memory.buffer, L.logitRowIndex, logitRows.length);
    for (let i = 0; i < logitRows.length; i++) {
      const row = logitRows[i];
      if (!(row >= 0 && row < rows)) throw new ConfigError('INVALID_OPTION', `Logit row ${row} is outside the ${rows} rows of this forward.`);
      rowIndex[i] = row;
    }
    if (this.shards) copyStepInputs(this.shards.memories, this.shards.layouts, rows, logitRows.length);

    // parameters, then the step itself
    const c = this.control;
    c[CONTROL.rows] = rows;
    c[CONTROL.start] = start;
    c[CONTROL.keys] = keys;
    c[CONTROL.maskKind] = MASK_KIND[attention];
    c[CONTROL.logitRows] = logitRows.length;
    c[CONTROL.blockSize] = request.blockSize ?? Math.max(1, this.config.blockSize);
    this.controlFloats[CONTROL.temperature] = request.temperature ?? 0;
    if (this.pool) this.pool.runStep();
    else this.program.run();

    // candidate records: argmax i32, prob, second prob, entropy
    const n = logitRows.length;
    const records = new DataView(this.headMemory.buffer, this.headLayout.candidates, Math.max(1, n) * 16);
    for (let i = 0; i < n; i++) {
      this.argmax[i] = records.getInt32(i * 16, true);
      this.prob[i] = records.getFloat32(i * 16 + 4, true);
      this.secondProb[i] = records.getFloat32(i * 16 + 8, true);
      this.entropy[i] = records.getFloat32(i * 16 + 12, true);
      // NaN or infinite logits leave the softmax sum at 0 or NaN, so the top probability leaves (0, 1].
      if (!(this.prob[i] > 0 && this.prob[i] <= 1) || !(this.argmax[i] >= 0 && this.argmax[i] < vocab)) {
        throw new NumericError(`The forward over cache positions [${start}, ${start + rows}) produced NaN or infinite ` +
          `logits in row ${logitRows[i]}: activations overflowed float32. The model's weights are finite but too large.`);
      }
    }
    // Give timers and signal handlers their turn, so that an abort is seen before the next forward.
    await yieldToEventLoop();
    return {
      logits: this.logits.subarray(0, n * vocab),
      argmax: this.argmax.subarray(0, n),
      prob: this.prob.subarray(0, n),
      secondProb: this.secondProb.subarray(0, n),
      entropy: this.entropy.subarray(0, n),
    };
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.pool?.close();
  }
}

/** Reads each tensor the layout needs, converts it, and writes it to its slot. */
async function placeWeights(target: WeightTarget, layout: ModelLayout, checkpoint: Checkpoint, options: EngineOptions): Promise<void> {
  const { memory } = target;
  const config = layout.config;
  const tensors = checkpoint.tensors;
  const jobs: WeightJob[] = [];
  // Every ranged read of this load goes into one buffer, so that placing weights leaves no garbage.
  let scratch = new Uint8Array(0);
  const scratchFor = (length: number): Uint8Array => {
    if (scratch.byteLength < length) scratch = new Uint8Array(length);
    return scratch;
  };
  const require = (name: string): TensorInfo => {
    const info = tensors.get(name);
    if (!info) throw new ModelFormatError('MISSING_TENSOR', `Tensor ${name} is missing from the checkpoint; the ${config.family} family needs it.`);
    return info;
  };
  const matrix = (name: string, slot: Parameters<typeof writeMatrix>[1], packed = true) => {
    if (slot.rows === 0) return;  // not in this memory (a shard without it, or an MoE layer's dense FFN)
    const info = require(name);
    const write = (bytes: Uint8Array) => writeMatrix(target, slot, info, bytes, packed);
    const { readRange } = info;
    const partBytes = options.loadPartBytes ?? LOAD_PART_BYTES;
    if (!readRange) {
      jobs.push({ info, write });
      return;
    }
    // Ranged reads go into the shared buffer. A tensor over partBytes (an embedding table) is read in parts
    // of whole f32 panels and x4 groups, so the process never keeps all of its file bytes next to the copy.
    checkShape(info, slot);
    const rowBytes = matrixRowBytes(info, slot.cols);
    const partRows = info.byteLength <= partBytes ? slot.rows : Math.max(8, Math.floor(partBytes / rowBytes / 8) * 8);
    const load = async () => {
      for (let first = 0; first < slot.rows; first += partRows) {
        if (options.signal?.aborted) throw new AbortError('Loading the model was aborted.');
        const count = Math.min(partRows, slot.rows - first);
        const bytes = await readRange.call(info, first * rowBytes, count * rowBytes, scratchFor(count * rowBytes));
        writeMatrixRows(target, slot, info, bytes, first, packed);
      }
    };
    jobs.push({ info, write, load });
  };
  const vector = (name: string, at: number, length: number) => {
    if (at === 0) return;
    const info = require(name);
    jobs.push({ info, write: (bytes) => writeVector(memory, at, info, bytes, length) });
  };

  matrix('token_embd.weight', layout.embedding, layout.embeddingPacked);
  if (!config.tiedEmbeddings) matrix('output.weight', layout.output);
  if (config.tiedEmbeddings && !layout.embeds) matrix('token_embd.weight', layout.output);
  vector('output_norm.weight', layout.outputNorm, config.hidden);
  layout.layers.forEach((slots, l) => {
    const p = `blk.${layout.firstLayer + l}.`;
    if (slots.moe) jobs.push(...moeWeightJobs(target, slots.moe, p, require, { signal: options.signal, scratchFor }));
    vector(p + 'attn_norm.weight', slots.attnNorm, config.hidden);
    matrix(p + 'attn_q.weight', slots.q);
    matrix(p + 'attn_k.weight', slots.k);
    matrix(p + 'attn_v.weight', slots.v);
    matrix(p + 'attn_output.weight', slots.o);
    vector(p + 'attn_q.bias', slots.qBias, slots.q.rows);
    vector(p + 'attn_k.bias', slots.kBias, slots.k.rows);
    vector(p + 'attn_v.bias', slots.vBias, slots.v.rows);
    vector(p + 'attn_q_norm.weight', slots.qNorm, config.headDim);
    vector(p + 'attn_k_norm.weight', slots.kNorm, config.headDim);
    vector(p + 'ffn_norm.weight', slots.ffnNorm, config.hidden);
    matrix(p + 'ffn_gate.weight', slots.gate);
    matrix(p + 'ffn_up.weight', slots.up);
    matrix(p + 'ffn_down.weight', slots.down);
  });

  const totalBytes = jobs.reduce((sum, job) => sum + job.info.byteLength, 0);
  let loadedBytes = 0;
  for (const job of jobs) {
    if (options.signal?.aborted) throw new AbortError('Loading the model was aborted.');
    if (job.load) await job.load();
    else job.write(await job.info.read());
    loadedBytes += job.info.byteLength;
    options.onProgress?.({ loadedBytes, totalBytes, tensor: job.info.name });
  }
}
