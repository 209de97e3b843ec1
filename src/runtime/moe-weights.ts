// Placing the weights of a mixture-of-experts layer: each 3-D expert tensor (experts, out, in) is cut
// into one 2-D matrix per expert and written to that expert's slot in the same formats as dense weights.
import { AbortError } from '../errors.js';
import type { TensorInfo } from '../models/types.js';
import type { MoeLayerSlots } from './moe-layout.js';
import { writeMatrix, writeVector, type WeightTarget } from './weights.js';

export interface WeightJob {
  info: TensorInfo;
  write: (bytes: Uint8Array) => void;
  /** Reads and writes the tensor itself in parts, in place of write(await info.read()). */
  load?: () => Promise<void>;
}

/** Returns expert e's 2-D record of a 3-D expert tensor, for writeMatrix's shape checks. */
function expertPart(info: TensorInfo, slot: WeightSlotList[number], e: number, perExpert: number): TensorInfo {
  return { name: `${info.name} (expert ${e})`, type: info.type, shape: [slot.rows, slot.cols], byteLength: perExpert, read: info.read };
}

/** Writes expert e's bytes, the e-th equal part of a 3-D tensor's bytes, into slots[e]. */
function writeExperts(target: WeightTarget, slots: WeightSlotList, info: TensorInfo, bytes: Uint8Array): void {
  const perExpert = bytes.byteLength / slots.length;
  slots.forEach((slot, e) => {
    writeMatrix(target, slot, expertPart(info, slot, e, perExpert), bytes.subarray(e * perExpert, (e + 1) * perExpert));
  });
}

type WeightSlotList = MoeLayerSlots['gate'];

/**
 * Lists the load jobs of one MoE layer; `require` returns a tensor or throws MISSING_TENSOR. Ranged reads
 * go into `reads.scratchFor(length)` when given, and stop with AbortError once `reads.signal` aborts.
 */
export function moeWeightJobs(
  target: WeightTarget, slots: MoeLayerSlots, prefix: string, require: (name: string) => TensorInfo,
  reads: { signal?: AbortSignal; scratchFor?: (length: number) => Uint8Array } = {},
): WeightJob[] {
  const { signal, scratchFor } = reads;
  const { memory } = target;
  const jobs: WeightJob[] = [];
  const matrix = (name: string, slot: MoeLayerSlots['router'] | null) => {
    if (!slot) return;
    const info = require(prefix + name);
    jobs.push({ info, write: (bytes) => writeMatrix(target, slot, info, bytes) });
  };
  const experts = (name: string, list: WeightSlotList) => {
    const info = require(prefix + name);
    const write = (bytes: Uint8Array) => writeExperts(target, list, info, bytes);
    const { readRange } = info;
    if (!readRange) {
      jobs.push({ info, write });
      return;
    }
    // One range of the file: read one expert at a time, so loading never keeps all experts' bytes.
    const perExpert = info.byteLength / list.length;
    const load = async () => {
      for (let e = 0; e < list.length; e++) {
        if (signal?.aborted) throw new AbortError('Loading the model was aborted.');
        const bytes = await readRange.call(info, e * perExpert, perExpert, scratchFor?.(perExpert));
        writeMatrix(target, list[e], expertPart(info, list[e], e, perExpert), bytes);
      }
    };
    jobs.push({ info, write, load });
  };

  matrix('ffn_gate_inp.weight', slots.router);
  if (slots.selectionBias) {
    const info = require(prefix + 'exp_probs_b.bias');
    jobs.push({ info, write: (bytes) => writeVector(memory, slots.selectionBias, info, bytes, slots.router.rows) });
  }
  experts('ffn_gate_exps.weight', slots.gate);
  experts('ffn_up_exps.weight', slots.up);
  experts('ffn_down_exps.weight', slots.down);
  matrix('ffn_gate_shexp.weight', slots.sharedGate);
  matrix('ffn_up_shexp.weight', slots.sharedUp);
  matrix('ffn_down_shexp.weight', slots.sharedDown);
  return jobs;
}
