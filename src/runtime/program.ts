// The forward pass as a program that every thread runs on its own slice of each kernel call. Threads
// meet at a barrier only where a call reads what another thread wrote. RMSNorm outputs are recomputed
// by every thread into its own buffer: that costs rows x hidden flops and saves a barrier before each
// matmul. Matmuls split by output columns, per-head work by (row, head) items, gathers by rows.
import { arriveAndWait } from './barrier.js';
import { CONTROL, type ModelLayout, type WeightSlot } from './layout.js';
import type { KernelExports } from './kernels.js';

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

  constructor(
    private readonly kernels: KernelExports,
    private readonly layout: ModelLayout,
    memory: WebAssembly.Memory,
    private readonly thread: number,
  ) {
    this.control = new Int32Array(memory.buffer, 0, CONTROL.slots);
    this.controlFloats = new Float32Array(memory.buffer, 0, CONTROL.slots);
  }

  /** y (rows, W.rows) (+)= x (rows, W.cols) @ W^T + bias, this thread's output columns only. */
  private matmul(y: number, x: number, w: WeightSlot, bias: number, rows: number, accumulate: number): void {
    const k = this.kernels;
    const [first, end] = sliceOf(w.rows, 8, this.thread, this.layout.threads);
    if (first >= end) return;
    switch (w.format) {
      case 'f32': k.matmul_f32(y, x, w.data, bias, rows, w.cols, w.rows, accumulate, first, end); break;
      case 'q8_0': k.matmul_q8_0(y, x, w.data, w.scales, bias, rows, w.cols, w.rows, accumulate, first, end); break;
      case 'q4_0': k.matmul_q4_0(y, x, w.data, w.scales, bias, rows, w.cols, w.rows, accumulate, first, end); break;
      case 'f16': k.matmul_f16(y, x, w.data, bias, rows, w.cols, w.rows, accumulate, first, end); break;
      case 'bf16': k.matmul_bf16(y, x, w.data, bias, rows, w.cols, w.rows, accumulate, first, end); break;
    }
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
    const kvWidth = c.nKvHeads * c.headDim;
    const normed = L.normed[thread];
    const scratch = L.scratch[thread];
    const attentionScale = 1 / Math.sqrt(c.headDim);
    const rope = c.ropeLayout === 'neox' ? k.rope_neox : k.rope_norm;
    const barrier = () => arriveAndWait(this.control, threads);

    // token embeddings
    this.embed(L.hidden, rows);
    barrier();

    for (const layer of L.layers) {
      const keyRows = layer.keyCache + start * kvWidth * 4;
      const valueRows = layer.valueCache + start * kvWidth * 4;

      // attention RMSNorm, then q/k/v projections; k and v land in the cache at their indices
      k.rmsnorm(normed, L.hidden, layer.attnNorm, 0, rows, c.hidden, c.normEps, 0, rows);
      this.matmul(L.query, normed, layer.q, layer.qBias, rows, 0);
      this.matmul(keyRows, normed, layer.k, layer.kBias, rows, 0);
      this.matmul(valueRows, normed, layer.v, layer.vBias, rows, 0);
      barrier();

      // per-head q/k RMSNorm (Qwen3) and RoPE
      const [qFirst, qEnd] = sliceOf(rows * c.nHeads, 1, thread, threads);
      const [kFirst, kEnd] = sliceOf(rows * c.nKvHeads, 1, thread, threads);
      if (layer.qNorm) k.rmsnorm(L.query, L.query, layer.qNorm, 0, rows * c.nHeads, c.headDim, c.normEps, qFirst, qEnd);
      if (layer.kNorm) k.rmsnorm(keyRows, keyRows, layer.kNorm, 0, rows * c.nKvHeads, c.headDim, c.normEps, kFirst, kEnd);
      rope(L.query, L.ropeTable, rows, c.nHeads, c.headDim, c.ropeDim, qFirst, qEnd);
      rope(keyRows, L.ropeTable, rows, c.nKvHeads, c.headDim, c.ropeDim, kFirst, kEnd);
      barrier();

      // attention over cache indices [0, keys)
      k.attention(L.attention, L.query, layer.keyCache, layer.valueCache, rows, c.nHeads, c.nKvHeads, c.headDim,
        start, keys, maskKind, blockSize, attentionScale, scratch, qFirst, qEnd);
      barrier();

      // output projection added into the residual stream
      this.matmul(L.hidden, L.attention, layer.o, 0, rows, 1);
      barrier();

      // FFN RMSNorm, then SwiGLU: down(silu(gate(x)) * up(x)) added into the residual stream
      k.rmsnorm(normed, L.hidden, layer.ffnNorm, 0, rows, c.hidden, c.normEps, 0, rows);
      this.matmul(L.gate, normed, layer.gate, 0, rows, 0);
      this.matmul(L.up, normed, layer.up, 0, rows, 0);
      const [fFirst, fEnd] = sliceOf(c.ffn, 8, thread, threads);
      if (fFirst < fEnd) k.silu_mul(L.gate, L.gate, L.up, rows, c.ffn, fFirst, fEnd);
      barrier();

      this.matmul(L.hidden, L.gate, layer.down, 0, rows, 1);
      barrier();
    }

    if (logitRows === 0) return;

    // final RMSNorm of the requested rows, LM head, then the per-row candidate records
    k.rmsnorm(normed, L.hidden, L.outputNorm, L.logitRowIndex, logitRows, c.hidden, c.normEps, 0, logitRows);
    this.matmul(L.logits, normed, L.output, 0, logitRows, 0);
    barrier();

    const [rFirst, rEnd] = sliceOf(logitRows, 1, thread, threads);
    if (rFirst < rEnd) k.mask_update(L.candidates, L.logits, logitRows, c.vocab, temperature, rFirst, rEnd);
    barrier();
  }
}
