// The mixture-of-experts FFN of one thread, called by ForwardProgram for each MoE layer in place of the
// dense SwiGLU. Rows go through in chunks of MoeBuffers.chunkRows; per chunk:
//   1. every thread computes all router logits and routes every row itself (same input, same result);
//   2. every thread gathers the normalised rows of each expert into its own buffer, one group per expert
//      with rows, plus a group of all rows for the shared expert;
//   3. gate/up and SwiGLU of each group over this thread's columns of the expert width   | barrier
//   4. down projection of each group over this thread's columns of hidden, then each row's weighted
//      expert outputs are added into the same columns of the residual stream              | barrier
// Only the selected experts' weights are read. Threads write disjoint columns, so the result does not
// depend on the thread count.
import type { MoeConfig } from '../models/types.js';
import type { KernelExports } from './kernels.js';
import { readsInt8, type LayerSlots, type ModelLayout, type QuantisedRows, type WeightSlot } from './layout.js';
import type { MoeBuffers, MoeLayerSlots } from './moe-layout.js';
import { RouterScratch, routeRows } from './moe-router.js';
import { sliceOf } from './program.js';

/** ForwardProgram's matmul over output columns [first, end): y (rows, W.rows) (+)= x @ W^T + bias. */
export type MatmulColumns = (
  y: number, x: number, xq: QuantisedRows | null, w: WeightSlot, bias: number, rows: number, accumulate: number,
  first: number, end: number,
) => void;

/** The rows of one chunk that one expert (or the shared expert) processes. */
interface Group {
  gate: WeightSlot;
  up: WeightSlot;
  down: WeightSlot;
  rows: number[];      // chunk rows, in the order gathered
  weights: number[];   // the rows' routing weights (1 for the shared expert)
  rowStart: number;    // first row in `gathered` and `down`
  offset: number;      // first element in `gate`, `up` and `hiddenInt8`
}

/** One layer's routing of the rows of a forward, as thread 0 computed it. */
export interface RoutingRecord {
  logits: Float32Array;   // (rows, experts) router logits
  experts: Int32Array;    // (rows, expertsUsed) chosen expert ids, best first
  weights: Float32Array;  // (rows, expertsUsed) their weights
}

/** Byte offset of element `elements` of quantised rows (int16 and int8 values, one scale and one sum per 32). */
function quantisedAt(q: QuantisedRows, elements: number): QuantisedRows {
  return { values: q.values + elements * 2, bytes: q.bytes + elements, scales: q.scales + (elements / 32) * 4, sums: q.sums + (elements / 32) * 4 };
}

export class MoeFeedForward {
  private readonly moe: MoeConfig;
  private readonly buffers: MoeBuffers;
  private readonly floats: Float32Array;
  private readonly scratch: RouterScratch;
  private readonly experts: Int32Array;   // (chunkRows, expertsUsed) selected ids of the current chunk
  private readonly weights: Float32Array;  // (chunkRows, expertsUsed) their weights
  private readonly layerIndex = new Map<LayerSlots, number>();
  /** Routing of every row of the last forward, per global layer index; recorded by thread 0 only. */
  readonly lastRouting = new Map<number, RoutingRecord>();

  constructor(
    private readonly kernels: KernelExports,
    private readonly layout: ModelLayout,
    memory: WebAssembly.Memory,
    private readonly thread: number,
    private readonly matmul: MatmulColumns,
    private readonly barrier: () => void,
  ) {
    this.moe = layout.config.moe!;
    this.buffers = layout.moe!;
    this.floats = new Float32Array(memory.buffer);
    this.scratch = new RouterScratch(this.moe);
    this.experts = new Int32Array(this.buffers.chunkRows * this.moe.expertsUsed);
    this.weights = new Float32Array(this.buffers.chunkRows * this.moe.expertsUsed);
    layout.layers.forEach((layer, i) => this.layerIndex.set(layer, layout.firstLayer + i));
  }

  /** Adds the MoE FFN of `layer` over `rows` rows of the residual stream into it. */
  run(layer: LayerSlots, rows: number): void {
    const L = this.layout;
    const c = L.config;
    const normed = L.normed[this.thread];
    this.kernels.rmsnorm(normed, L.hidden, layer.ffnNorm, 0, rows, c.hidden, c.normEps, 0, rows);
    const { experts, expertsUsed } = this.moe;
    const record: RoutingRecord | null = this.thread !== 0 ? null : {
      logits: new Float32Array(rows * experts),
      experts: new Int32Array(rows * expertsUsed),
      weights: new Float32Array(rows * expertsUsed),
    };
    for (let first = 0; first < rows; first += this.buffers.chunkRows) {
      const count = Math.min(this.buffers.chunkRows, rows - first);
      this.runChunk(layer.moe!, normed, first, count, record);
    }
    if (record) this.lastRouting.set(this.layerIndex.get(layer)!, record);
  }

  private runChunk(slots: MoeLayerSlots, normed: number, first: number, count: number, record: RoutingRecord | null): void {
    const k = this.kernels;
    const B = this.buffers;
    const L = this.layout;
    const hidden = L.config.hidden;
    const moe = this.moe;
    const thread = this.thread;
    const threads = L.threads;
    const input = normed + first * hidden * 4;

    // router logits of every row, then each row's experts
    const logitsAt = B.routerLogits[thread];
    this.matmul(logitsAt, input, null, slots.router, 0, count, 0, 0, moe.experts);
    const logits = this.floats.subarray(logitsAt / 4, logitsAt / 4 + count * moe.experts);
    const bias = slots.selectionBias ? this.floats.subarray(slots.selectionBias / 4, slots.selectionBias / 4 + moe.experts) : null;
    routeRows(moe, logits, bias, count, this.experts, this.weights, this.scratch);
    if (record) {
      record.logits.set(logits, first * moe.experts);
      record.experts.set(this.experts.subarray(0, count * moe.expertsUsed), first * moe.expertsUsed);
      record.weights.set(this.weights.subarray(0, count * moe.expertsUsed), first * moe.expertsUsed);
    }
    const groups = this.groupRows(slots, count);

    // gather each group's input rows into this thread's buffer
    const gathered = B.gathered[thread];
    for (const group of groups) {
      group.rows.forEach((row, i) => {
        const from = (input >>> 2) + row * hidden;
        this.floats.copyWithin((gathered >>> 2) + (group.rowStart + i) * hidden, from, from + hidden);
      });
    }
    const int8Input = groups.some((g) => readsInt8(g.gate.format) || readsInt8(g.up.format));
    const gatheredInt8 = int8Input ? B.gatheredInt8[thread] : null;
    const totalRows = groups.reduce((sum, g) => sum + g.rows.length, 0);
    if (gatheredInt8) k.quantise_rows(gatheredInt8.values, gatheredInt8.bytes, gatheredInt8.scales, gatheredInt8.sums, gathered, totalRows, hidden, 0, hidden);

    // gate, up and SwiGLU over this thread's columns of each group
    for (const group of groups) {
      const n = group.rows.length;
      const width = group.gate.rows;
      const downInt8 = readsInt8(group.down.format);
      const [f0, f1] = sliceOf(width, downInt8 ? 32 : 8, thread, threads);
      if (f0 >= f1) continue;
      const x = gathered + group.rowStart * hidden * 4;
      const xq = gatheredInt8 ? quantisedAt(gatheredInt8, group.rowStart * hidden) : null;
      const gate = B.gate + group.offset * 4;
      const up = B.up + group.offset * 4;
      this.matmul(gate, x, xq, group.gate, 0, n, 0, f0, f1);
      this.matmul(up, x, xq, group.up, 0, n, 0, f0, f1);
      if (downInt8) {
        const h = quantisedAt(B.hiddenInt8, group.offset);
        k.silu_mul_quantise(h.values, h.bytes, h.scales, h.sums, gate, gate, up, n, width, f0, f1);
      } else {
        k.silu_mul(gate, gate, up, n, width, f0, f1);
      }
    }
    this.barrier();

    // down projection over this thread's columns of hidden, then the weighted sum into the residual stream
    const [h0, h1] = sliceOf(hidden, 8, thread, threads);
    if (h0 < h1) {
      const residual = (L.hidden >>> 2) + first * hidden;
      for (const group of groups) {
        const n = group.rows.length;
        const out = B.down + group.rowStart * hidden * 4;
        const hq = readsInt8(group.down.format) ? quantisedAt(B.hiddenInt8, group.offset) : null;
        this.matmul(out, B.gate + group.offset * 4, hq, group.down, 0, n, 0, h0, h1);
        // NOTE: a plain loop, not a kernel: rows x k x (h1 - h0) multiply-adds per chunk, small next to the matmuls.
        for (let i = 0; i < n; i++) {
          const y = residual + group.rows[i] * hidden;
          const d = (out >>> 2) + i * hidden;
          const w = group.weights[i];
          for (let j = h0; j < h1; j++) this.floats[y + j] += w * this.floats[d + j];
        }
      }
    }
    this.barrier();
  }

  /** Lists, per expert that any row selected, its rows and weights; the shared expert comes last. */
  private groupRows(slots: MoeLayerSlots, count: number): Group[] {
    const moe = this.moe;
    const byExpert: { rows: number[]; weights: number[] }[] = Array.from({ length: moe.experts }, () => ({ rows: [], weights: [] }));
    for (let r = 0; r < count; r++) {
      for (let i = 0; i < moe.expertsUsed; i++) {
        const entry = byExpert[this.experts[r * moe.expertsUsed + i]];
        entry.rows.push(r);
        entry.weights.push(this.weights[r * moe.expertsUsed + i]);
      }
    }
    const groups: Group[] = [];
    let rowStart = 0;
    let offset = 0;
    const add = (gate: WeightSlot, up: WeightSlot, down: WeightSlot, rows: number[], weights: number[]) => {
      groups.push({ gate, up, down, rows, weights, rowStart, offset });
      rowStart += rows.length;
      offset += rows.length * gate.rows;
    };
    byExpert.forEach((entry, e) => {
      if (entry.rows.length > 0) add(slots.gate[e], slots.up[e], slots.down[e], entry.rows, entry.weights);
    });
    if (slots.sharedGate && slots.sharedUp && slots.sharedDown) {
      const all = Array.from({ length: count }, (_, r) => r);
      add(slots.sharedGate, slots.sharedUp, slots.sharedDown, all, all.map(() => 1));
    }
    return groups;
  }
}
