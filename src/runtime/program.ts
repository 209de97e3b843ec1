// The forward pass as a program that every thread runs on its own slice of each kernel call. Threads
// meet at a barrier only where a call reads what another thread wrote, five times per layer:
//   q/k/v + qk-norm + RoPE | attention | output projection | FFN norm + gate/up + SwiGLU | down projection
// RMSNorm outputs (and their int8 quantisation) are recomputed by every thread into its own buffer: that
// costs rows x hidden flops and saves a barrier before each matmul. Matmuls split by output columns.
// q/k/v split by whole heads, so the thread that computes a head also normalises and rotates it. Gate
// and up split by the same columns, so SwiGLU needs no barrier either.
import { arriveAndWait } from './barrier.js';
import { BARRIER_WAIT_OFFSET, CONTROL, readsInt8, type ModelLayout, type QuantisedRows, type WeightSlot } from './layout.js';
import type { KernelExports } from './kernels.js';
import { MoeFeedForward } from './moe.js';

/** First and end of thread `thread`'s share of `count` items, in chunks that are multiples of `align`. */
export function sliceOf(count: number, align: number, thread: number, threads: number): [number, number] {
  const units = Math.ceil(count / align);
  const perThread = Math.ceil(units / threads);
  const first = Math.min(count, thread * perThread * align);
  const end = Math.min(count, (thread + 1) * perThread * align);
  return [first, end];
}

export class ForwardProgram {
  private readonly control: Int32Array;
  private readonly controlFloats: Float32Array;
  /** Milliseconds this thread waited at barriers, summed over all forwards (read by benchmarks). */
  private readonly waitTotals: Float64Array;
  private readonly normedInt8: QuantisedRows | null;
  /** The routed FFN of MoE layers (src/runtime/moe.ts); null for dense models. */
  readonly moe: MoeFeedForward | null;

  constructor(
    private readonly kernels: KernelExports,
    private readonly layout: ModelLayout,
    memory: WebAssembly.Memory,
    private readonly thread: number,
    /** Control block of step parameters and barriers; memory shards all use the first shard's. Default: memory's own. */
    control?: Int32Array,
  ) {
    this.control = control ?? new Int32Array(memory.buffer, 0, CONTROL.slots);
    this.controlFloats = new Float32Array(this.control.buffer, 0, CONTROL.slots);
    this.waitTotals = new Float64Array(this.control.buffer, BARRIER_WAIT_OFFSET, layout.threads);
    this.normedInt8 = layout.int8 ? layout.normedInt8[thread] : null;
    this.moe = layout.moe
      ? new MoeFeedForward(kernels, layout, memory, thread, (...args) => this.matmulColumns(...args), () => this.barrier())
      : null;
  }

  private barrier(): void {
    if (this.layout.threads === 1) return;
    const startedAt = performance.now();
    arriveAndWait(this.control, this.layout.threads);
    this.waitTotals[this.thread] += performance.now() - startedAt;
  }

  /**
   * y (rows, W.rows) (+)= x (rows, W.cols) @ W^T + bias over output columns [first, end). xq contains
   * x quantised by quantise_rows: the int8 formats read it, the others read x.
   */
  private matmulColumns(
    y: number, x: number, xq: QuantisedRows | null, w: WeightSlot, bias: number, rows: number, accumulate: number,
    first: number, end: number,
  ): void {
    if (first >= end) return;
    const k = this.kernels;
    switch (w.format) {
      case 'f32': k.matmul_f32(y, x, w.data, bias, rows, w.cols, w.rows, accumulate, first, end); break;
      case 'q8_0': k.matmul_q8_0(y, x, w.data, w.scales, bias, rows, w.cols, w.rows, accumulate, first, end); break;
      case 'q4_0': k.matmul_q4_0(y, x, w.data, w.scales, bias, rows, w.cols, w.rows, accumulate, first, end); break;
      case 'f16': k.matmul_f16(y, x, w.data, bias, rows, w.cols, w.rows, accumulate, first, end); break;
      case 'bf16': k.matmul_bf16(y, x, w.data, bias, rows, w.cols, w.rows, accumulate, first, end); break;
      case 'q8_0x4':
        k.matmul_q8_0_int8(y, xq!.values, xq!.scales, xq!.sums, w.data, w.scales, bias, rows, w.cols, w.rows, accumulate, first, end);
        break;
      case 'q4_0x4':
        k.matmul_q4_0_int8(y, xq!.values, xq!.bytes, xq!.scales, xq!.sums, w.data, w.scales, bias, rows, w.cols, w.rows, accumulate, first, end);
        break;
    }
  }

  /** As matmulColumns over this thread's share of all output columns. */
  private matmul(y: number, x: number, xq: QuantisedRows | null, w: WeightSlot, bias: number, rows: number, accumulate: number): void {
    const [first, end] = sliceOf(w.rows, 8, this.thread, this.layout.threads);
    this.matmulColumns(y, x, xq, w, bias, rows, accumulate, first, end);
  }

  /** Quantises rows x (rows, width) into this thread's int8 buffer when any of `weights` reads int8. */
  private quantiseForThread(x: number, rows: number, width: number, ...weights: WeightSlot[]): QuantisedRows | null {
    const xq = this.normedInt8;
    if (!xq || !weights.some((w) => readsInt8(w.format))) return null;
    this.kernels.quantise_rows(xq.values, xq.bytes, xq.scales, xq.sums, x, rows, width, 0, width);
    return xq;
  }

  private embed(y: number, rows: number): void {
    const k = this.kernels;
    const { embedding: w, embeddingPacked, tokens } = this.layout;
    const [first, end] = sliceOf(rows, 1, this.thread, this.layout.threads);
    if (first >= end) return;
    switch (w.format) {
      case 'f32':
        if (embeddingPacked) k.embed_f32_packed(y, w.data, tokens, rows, w.cols, first, end);
        else k.embed_f32(y, w.data, tokens, rows, w.cols, first, end);
        break;
      case 'q8_0': k.embed_q8_0(y, w.data, w.scales, tokens, rows, w.cols, first, end); break;
      case 'q4_0': k.embed_q4_0(y, w.data, w.scales, tokens, rows, w.cols, first, end); break;
      case 'f16': k.embed_f16(y, w.data, tokens, rows, w.cols, first, end); break;
      case 'bf16': k.embed_bf16(y, w.data, tokens, rows, w.cols, first, end); break;
      case 'q8_0x4': k.embed_q8_0x4(y, w.data, w.scales, tokens, rows, w.cols, first, end); break;
      case 'q4_0x4': k.embed_q4_0x4(y, w.data, w.scales, tokens, rows, w.cols, first, end); break;
    }
  }

  /** Runs one forward with the parameters in the control block. */
  run(): void {
    const k = this.kernels;
    const L = this.layout;
    const c = L.config;
    const thread = this.thread;
    const threads = L.threads;
    const rows = this.control[CONTROL.rows];
    const start = this.control[CONTROL.start];
    const keys = this.control[CONTROL.keys];
    const maskKind = this.control[CONTROL.maskKind];
    const logitRows = this.control[CONTROL.logitRows];
    const blockSize = this.control[CONTROL.blockSize];
    const temperature = this.controlFloats[CONTROL.temperature];
    const { hidden, headDim, nHeads, nKvHeads, ffn } = c;
    const qWidth = nHeads * headDim;
    const kvWidth = nKvHeads * headDim;
    const normed = L.normed[thread];
    const scratch = L.scratch[thread];
    const attentionScale = 1 / Math.sqrt(headDim);
    const rope = c.ropeLayout === 'neox' ? k.rope_neox : k.rope_norm;

    // This thread's heads of q and k/v. Whole heads keep qk-norm and RoPE local to the thread; the
    // column slices must start at multiples of 8 (f32 panels), which headDim % 8 == 0 guarantees.
    const headSplit = headDim % 8 === 0;
    const [qHeadFirst, qHeadEnd] = sliceOf(nHeads, 1, thread, threads);
    const [kvHeadFirst, kvHeadEnd] = sliceOf(nKvHeads, 1, thread, threads);
    const [qFirst, qEnd] = sliceOf(rows * nHeads, 1, thread, threads);
    const [kFirst, kEnd] = sliceOf(rows * nKvHeads, 1, thread, threads);
    // FFN columns in multiples of 32, so that SwiGLU can quantise whole blocks of its own columns.
    const [fFirst, fEnd] = sliceOf(ffn, L.int8 && ffn % 32 === 0 ? 32 : 8, thread, threads);

    // token embeddings (a later memory shard receives the residual stream from the previous one instead)
    if (L.embeds) {
      this.embed(L.hidden, rows);
      this.barrier();
    }

    for (const layer of L.layers) {
      const keyRows = layer.keyCache + start * kvWidth * 4;
      const valueRows = layer.valueCache + start * kvWidth * 4;

      // attention RMSNorm, then q/k/v projections; k and v land in the cache at their indices
      k.rmsnorm(normed, L.hidden, layer.attnNorm, 0, rows, hidden, c.normEps, 0, rows);
      const normedQ = this.quantiseForThread(normed, rows, hidden, layer.q, layer.k, layer.v);
      if (headSplit) {
        this.matmulColumns(L.query, normed, normedQ, layer.q, layer.qBias, rows, 0, qHeadFirst * headDim, qHeadEnd * headDim);
        this.matmulColumns(keyRows, normed, normedQ, layer.k, layer.kBias, rows, 0, kvHeadFirst * headDim, kvHeadEnd * headDim);
        this.matmulColumns(valueRows, normed, normedQ, layer.v, layer.vBias, rows, 0, kvHeadFirst * headDim, kvHeadEnd * headDim);

        // per-head q/k RMSNorm (Qwen3) and RoPE of this thread's heads, row by row
        for (let r = 0; r < rows; r++) {
          const q0 = r * nHeads + qHeadFirst, q1 = r * nHeads + qHeadEnd;
          const k0 = r * nKvHeads + kvHeadFirst, k1 = r * nKvHeads + kvHeadEnd;
          if (layer.qNorm && q0 < q1) k.rmsnorm(L.query, L.query, layer.qNorm, 0, rows * nHeads, headDim, c.normEps, q0, q1);
          if (layer.kNorm && k0 < k1) k.rmsnorm(keyRows, keyRows, layer.kNorm, 0, rows * nKvHeads, headDim, c.normEps, k0, k1);
          if (q0 < q1) rope(L.query, L.ropeTable, rows, nHeads, headDim, c.ropeDim, q0, q1);
          if (k0 < k1) rope(keyRows, L.ropeTable, rows, nKvHeads, headDim, c.ropeDim, k0, k1);
        }
        this.barrier();
      } else {
        this.matmul(L.query, normed, normedQ, layer.q, layer.qBias, rows, 0);
        this.matmul(keyRows, normed, normedQ, layer.k, layer.kBias, rows, 0);
        this.matmul(valueRows, normed, normedQ, layer.v, layer.vBias, rows, 0);
        this.barrier();
        if (layer.qNorm) k.rmsnorm(L.query, L.query, layer.qNorm, 0, rows * nHeads, headDim, c.normEps, qFirst, qEnd);
        if (layer.kNorm) k.rmsnorm(keyRows, keyRows, layer.kNorm, 0, rows * nKvHeads, headDim, c.normEps, kFirst, kEnd);
        rope(L.query, L.ropeTable, rows, nHeads, headDim, c.ropeDim, qFirst, qEnd);
        rope(keyRows, L.ropeTable, rows, nKvHeads, headDim, c.ropeDim, kFirst, kEnd);
        this.barrier();
      }

      // attention over cache indices [0, keys)
      k.attention(L.attention, L.query, layer.keyCache, layer.valueCache, rows, nHeads, nKvHeads, headDim,
        start, keys, maskKind, blockSize, attentionScale, scratch, qFirst, qEnd);
      this.barrier();

      // output projection added into the residual stream
      const attentionQ = this.quantiseForThread(L.attention, rows, qWidth, layer.o);
      this.matmul(L.hidden, L.attention, attentionQ, layer.o, 0, rows, 1);
      this.barrier();

      if (layer.moe) {
        this.moe!.run(layer, rows);
        continue;
      }

      // FFN RMSNorm, then SwiGLU: down(silu(gate(x)) * up(x)) added into the residual stream
      k.rmsnorm(normed, L.hidden, layer.ffnNorm, 0, rows, hidden, c.normEps, 0, rows);
      const ffnNormedQ = this.quantiseForThread(normed, rows, hidden, layer.gate, layer.up);
      this.matmulColumns(L.gate, normed, ffnNormedQ, layer.gate, 0, rows, 0, fFirst, fEnd);
      this.matmulColumns(L.up, normed, ffnNormedQ, layer.up, 0, rows, 0, fFirst, fEnd);
      const downInt8 = readsInt8(layer.down.format);
      if (fFirst < fEnd) {
        const q = L.ffnInt8;
        if (downInt8) k.silu_mul_quantise(q.values, q.bytes, q.scales, q.sums, L.gate, L.gate, L.up, rows, ffn, fFirst, fEnd);
        else k.silu_mul(L.gate, L.gate, L.up, rows, ffn, fFirst, fEnd);
      }
      this.barrier();

      this.matmul(L.hidden, L.gate, downInt8 ? L.ffnInt8 : null, layer.down, 0, rows, 1);
      this.barrier();
    }

    if (logitRows === 0 || !L.head) return;

    // final RMSNorm of the requested rows, LM head, then the per-row candidate records
    k.rmsnorm(normed, L.hidden, L.outputNorm, L.logitRowIndex, logitRows, hidden, c.normEps, 0, logitRows);
    const outputQ = this.quantiseForThread(normed, logitRows, hidden, L.output);
    this.matmul(L.logits, normed, outputQ, L.output, 0, logitRows, 0);
    this.barrier();

    const [rFirst, rEnd] = sliceOf(logitRows, 1, thread, threads);
    if (rFirst < rEnd) k.mask_update(L.candidates, L.logits, logitRows, c.vocab, temperature, rFirst, rEnd);
    this.barrier();
  }
}
