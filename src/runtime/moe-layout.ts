// Memory plan of the mixture-of-experts FFN: the weights of each MoE layer (router, selection bias, every
// expert's three matrices, the shared expert) and the buffers of one routed pass. A pass takes up to
// `chunkRows` rows of the forward. It gathers the rows routed to each expert into one contiguous group
// and runs the expert on it. The shared expert is one more group, of every row. planLayout calls these
// with its arena, so the weights sit with the dense weights and the buffers with the other activations.
import type { ModelConfig, TensorInfo } from '../models/types.js';
import { weightBytes, weightFormatFor, type QuantisedRows, type WeightSlot } from './layout.js';

/** Weights of one MoE layer. Expert matrices are 2-D slots, one per expert, in expert order. */
export interface MoeLayerSlots {
  router: WeightSlot;        // (experts, hidden); never in an int8 layout, so it reads f32 activations
  selectionBias: number;     // (experts) f32, 0 when the model has none
  gate: WeightSlot[];        // per expert (expertFfn, hidden)
  up: WeightSlot[];          // per expert (expertFfn, hidden)
  down: WeightSlot[];        // per expert (hidden, expertFfn)
  sharedGate: WeightSlot | null;  // (sharedFfn, hidden)
  sharedUp: WeightSlot | null;    // (sharedFfn, hidden)
  sharedDown: WeightSlot | null;  // (hidden, sharedFfn)
}

/** Buffers of one routed pass over at most `chunkRows` rows. */
export interface MoeBuffers {
  chunkRows: number;
  groupRows: number;          // chunkRows * expertsUsed, plus chunkRows when there is a shared expert
  routerLogits: number[];     // per thread (chunkRows, experts) f32
  gathered: number[];         // per thread (groupRows, hidden) f32: each group's input rows, group after group
  gatheredInt8: QuantisedRows[];  // per thread, as `gathered` quantised; only when int8 (else empty)
  gate: number;               // (groupElements) f32: each group's (rows, width) block, group after group
  up: number;                 // (groupElements) f32, laid out as `gate`
  hiddenInt8: QuantisedRows;  // silu(gate) * up quantised for int8 down projections, laid out as `gate`
  down: number;               // (groupRows, hidden) f32: the experts' outputs before weighting
}

/** Rows per routed pass: more rows share each expert's weights, fewer bound the buffers. */
export const MOE_CHUNK_ROWS = 128;

type Take = (bytes: number) => number;

function slot(info: TensorInfo | undefined, rows: number, cols: number, int8: boolean, take: Take): WeightSlot {
  const format = info ? weightFormatFor(info.type, int8 && cols % 32 === 0) : 'f32';
  const sizes = weightBytes(format, rows, cols);
  return { format, data: take(sizes.data), scales: sizes.scales ? take(sizes.scales) : 0, rows, cols };
}

/** Places the weights of MoE layer `layer`; returns their slots and the number of weight elements. */
export function planMoeLayer(
  config: ModelConfig, tensors: Map<string, TensorInfo>, layer: number, int8: boolean, take: Take,
): { slots: MoeLayerSlots; elements: number } {
  const moe = config.moe!;
  const { hidden } = config;
  const p = `blk.${layer}.`;
  const router = slot(tensors.get(p + 'ffn_gate_inp.weight'), moe.experts, hidden, false, take);
  const selectionBias = moe.selectionBias ? take(moe.experts * 4) : 0;
  const experts = (name: string, rows: number, cols: number) => {
    const info = tensors.get(p + name);
    return Array.from({ length: moe.experts }, () => slot(info, rows, cols, int8, take));
  };
  const gate = experts('ffn_gate_exps.weight', moe.expertFfn, hidden);
  const up = experts('ffn_up_exps.weight', moe.expertFfn, hidden);
  const down = experts('ffn_down_exps.weight', hidden, moe.expertFfn);
  const shared = moe.sharedFfn > 0;
  const sharedSlot = (name: string, rows: number, cols: number) => (shared ? slot(tensors.get(p + name), rows, cols, int8, take) : null);
  const slots: MoeLayerSlots = {
    router,
    selectionBias,
    gate,
    up,
    down,
    sharedGate: sharedSlot('ffn_gate_shexp.weight', moe.sharedFfn, hidden),
    sharedUp: sharedSlot('ffn_up_shexp.weight', moe.sharedFfn, hidden),
    sharedDown: sharedSlot('ffn_down_shexp.weight', hidden, moe.sharedFfn),
  };
  const elements = moe.experts * (1 + 3 * moe.expertFfn * hidden) + 3 * moe.sharedFfn * hidden;
  return { slots, elements };
}

/** Plans the buffers of one routed pass for `threads` threads and forwards of up to `maxRows` rows. */
export function planMoeBuffers(config: ModelConfig, threads: number, maxRows: number, int8: boolean, take: Take): MoeBuffers {
  const moe = config.moe!;
  const { hidden } = config;
  const chunkRows = Math.min(maxRows, MOE_CHUNK_ROWS);
  const sharedRows = moe.sharedFfn > 0 ? chunkRows : 0;
  const groupRows = chunkRows * moe.expertsUsed + sharedRows;
  const groupElements = chunkRows * moe.expertsUsed * moe.expertFfn + sharedRows * moe.sharedFfn;
  const quantised = (elements: number): QuantisedRows => ({
    values: take(elements * 2),
    bytes: take(elements),
    scales: take(Math.ceil(elements / 32) * 4),
    sums: take(Math.ceil(elements / 32) * 4),
  });
  const buffers: MoeBuffers = {
    chunkRows,
    groupRows,
    routerLogits: [],
    gathered: [],
    gatheredInt8: [],
    gate: take(groupElements * 4),
    up: take(groupElements * 4),
    hiddenInt8: int8 ? quantised(groupElements) : { values: 0, bytes: 0, scales: 0, sums: 0 },
    down: take(groupRows * hidden * 4),
  };
  for (let t = 0; t < threads; t++) {
    buffers.routerLogits.push(take(chunkRows * moe.experts * 4));
    buffers.gathered.push(take(groupRows * hidden * 4));
    if (int8) buffers.gatheredInt8.push(quantised(groupRows * hidden));
  }
  return buffers;
}
