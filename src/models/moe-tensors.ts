// Tensor records of mixture-of-experts checkpoints: the shapes their layers need, row slices of a fused
// q/k/v matrix, and Hugging Face per-expert matrices stacked into the 3-D expert tensors that GGUF stores.
// All three produce ordinary TensorInfo records, so that the engine reads one naming scheme:
//   blk.N.ffn_gate_inp.weight                     router (experts, hidden)
//   blk.N.exp_probs_b.bias                        selection bias (experts)
//   blk.N.ffn_{gate,up}_exps.weight               (experts, expertFfn, hidden)
//   blk.N.ffn_down_exps.weight                    (experts, hidden, expertFfn)
//   blk.N.ffn_{gate,up,down}_shexp.weight         shared expert, a plain SwiGLU FFN

import { ModelFormatError } from '../errors.js';
import { byteLengthOf, ggmlTypeByName } from '../formats/quant.js';
import type { ModelConfig, TensorInfo } from './types.js';

/** True when layer `layer` has a routed FFN instead of a dense one. */
export function isMoeLayer(config: ModelConfig, layer: number): boolean {
  return config.moe !== undefined && layer >= config.moe.denseLayers;
}

/** Adds to `expected` the FFN tensors of MoE layer `layer` with their row-major shapes. */
export function addMoeExpectedTensors(config: ModelConfig, layer: number, expected: Map<string, number[]>): void {
  const moe = config.moe!;
  const { hidden } = config;
  const p = `blk.${layer}.`;
  expected.set(`${p}ffn_gate_inp.weight`, [moe.experts, hidden]);
  if (moe.selectionBias) expected.set(`${p}exp_probs_b.bias`, [moe.experts]);
  expected.set(`${p}ffn_gate_exps.weight`, [moe.experts, moe.expertFfn, hidden]);
  expected.set(`${p}ffn_up_exps.weight`, [moe.experts, moe.expertFfn, hidden]);
  expected.set(`${p}ffn_down_exps.weight`, [moe.experts, hidden, moe.expertFfn]);
  if (moe.sharedFfn > 0) {
    expected.set(`${p}ffn_gate_shexp.weight`, [moe.sharedFfn, hidden]);
    expected.set(`${p}ffn_up_shexp.weight`, [moe.sharedFfn, hidden]);
    expected.set(`${p}ffn_down_shexp.weight`, [hidden, moe.sharedFfn]);
  }
}

/** Bytes of one row of `cols` values in a tensor's stored type. */
function rowBytes(info: TensorInfo, cols: number): number {
  const type = ggmlTypeByName(info.type);
  if (!type) throw new ModelFormatError('INVALID_GGUF', `Tensor ${info.name} has the unknown type ${info.type}.`);
  return byteLengthOf(type, cols, info.name);
}

/** Returns a record of rows [first, first + rows) of a 2-D tensor; rows are independent in every ggml type. */
function rowSlice(info: TensorInfo, name: string, first: number, rows: number): TensorInfo {
  const cols = info.shape[1];
  const bytesPerRow = rowBytes(info, cols);
  const begin = first * bytesPerRow;
  const byteLength = rows * bytesPerRow;
  return {
    name,
    type: info.type,
    shape: [rows, cols],
    byteLength,
    read: async () => (await info.read()).subarray(begin, begin + byteLength),
  };
}

/**
 * Adds blk.N.attn_{q,k,v}.weight records that read their rows of blk.N.attn_qkv.weight (rows q, then k,
 * then v, as LLaDA 2.x's query_key_value stores them). Each record reads the fused tensor again when
 * placed, which costs a second and third read of a small tensor and no extra memory.
 */
export function splitFusedQkv(config: ModelConfig, tensors: Map<string, TensorInfo>, where: string): void {
  const qWidth = config.nHeads * config.headDim;
  const kvWidth = config.nKvHeads * config.headDim;
  for (let l = 0; l < config.nLayers; l++) {
    const p = `blk.${l}.`;
    const fused = tensors.get(p + 'attn_qkv.weight');
    if (!fused) continue;
    const expected = [qWidth + 2 * kvWidth, config.hidden];
    if (fused.shape.length !== 2 || fused.shape[0] !== expected[0] || fused.shape[1] !== expected[1]) {
      throw new ModelFormatError(
        'SHAPE_MISMATCH',
        `${where}: tensor "${fused.name}" has shape [${fused.shape.join(', ')}], expected [${expected.join(', ')}] ` +
          `(q ${qWidth}, k and v ${kvWidth} rows each)`,
      );
    }
    tensors.set(p + 'attn_q.weight', rowSlice(fused, p + 'attn_q.weight', 0, qWidth));
    tensors.set(p + 'attn_k.weight', rowSlice(fused, p + 'attn_k.weight', qWidth, kvWidth));
    tensors.set(p + 'attn_v.weight', rowSlice(fused, p + 'attn_v.weight', qWidth + kvWidth, kvWidth));
  }
}

const PER_EXPERT_NAME = /^(blk\.\d+\.ffn_(?:gate|up|down)_exps)\.(\d+)\.weight$/;

/**
 * Replaces per-expert records `blk.N.ffn_{gate,up,down}_exps.E.weight` (the names hfToGgufName gives
 * Hugging Face's `mlp.experts.E.*_proj.weight`) by one 3-D record per layer and matrix, whose bytes are
 * the experts' bytes in expert order, as GGUF stores them.
 */
export function stackExperts(tensors: Map<string, TensorInfo>, where: string): void {
  const groups = new Map<string, Map<number, TensorInfo>>();
  for (const [name, info] of tensors) {
    const match = PER_EXPERT_NAME.exec(name);
    if (!match) continue;
    const experts = groups.get(match[1]) ?? new Map<number, TensorInfo>();
    experts.set(Number(match[2]), info);
    groups.set(match[1], experts);
  }
  for (const [base, experts] of groups) {
    const parts: TensorInfo[] = [];
    for (let e = 0; e < experts.size; e++) {
      const part = experts.get(e);
      if (!part) throw new ModelFormatError('MISSING_TENSOR', `${where}: expert ${e} of ${base} is missing (${experts.size} experts found)`);
      parts.push(part);
    }
    const first = parts[0];
    const mismatch = parts.find((t) => t.type !== first.type || t.shape.join() !== first.shape.join());
    if (mismatch) {
      throw new ModelFormatError(
        'SHAPE_MISMATCH',
        `${where}: experts of ${base} differ: ${first.name} is ${first.type} [${first.shape}], ${mismatch.name} is ${mismatch.type} [${mismatch.shape}]`,
      );
    }
    const byteLength = parts.reduce((sum, t) => sum + t.byteLength, 0);
    const name = `${base}.weight`;
    tensors.set(name, {
      name,
      type: first.type,
      shape: [parts.length, ...first.shape],
      byteLength,
      read: async () => {
        const bytes = new Uint8Array(byteLength);
        let offset = 0;
        for (const part of parts) {
          bytes.set(await part.read(), offset);
          offset += part.byteLength;
        }
        return bytes;
      },
    });
    for (const part of parts) tensors.delete(part.name);
  }
}
