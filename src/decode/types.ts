// Shapes shared by the decoding loops and the Model API: the resolved settings of one request, the
// per-forward event, and the outcome of a loop before text is attached.
import type { SamplingOptions } from './sampler.js';

/** Options of one request after defaults and validation (see GenerateOptions in model.ts). */
export interface DecodeSettings {
  maxTokens: number;              // generated positions on the canvas
  blockLength: number;            // B: positions refined together
  steps: number | null;           // refinement steps over the whole generation, spread over the blocks
  stepsPerBlock: number | null;   // refinement steps per block (SDAR's count); excludes `steps`
  threshold: number | null;       // commit every candidate with confidence >= threshold; null disables
  sampling: SamplingOptions;
  seed?: number;
  signal?: AbortSignal;
}

/** Purpose of a forward: prompt prefill, one refinement step, or storing a finished block's K/V. */
export type ForwardKind = 'prefill' | 'refine' | 'cache';

/** Emitted after every forward of a request. */
export interface StepEvent {
  type: 'step';
  forward: number;        // 1-based count of forwards in this request
  kind: ForwardKind;
  block: number;          // 0-based index of the block being decoded, counted from the first block with generated positions; -1 during prefill
  canvas: Int32Array;     // (maxTokens) a copy of the generated positions, maskId where still masked
  maskId: number;
  committed: number[];    // canvas indices that this forward committed
  finalized: number;      // canvas[0, finalized) is final and ends before any stop token
}

/** Per-forward callback of the loops. */
export type StepListener = (event: StepEvent) => void;

/** Result of a decoding loop, in token ids. */
export interface DecodeOutcome {
  tokens: Int32Array;              // generated ids up to, not including, the first stop token
  stopReason: 'stop' | 'length';
  forwards: number;                // every forward, prefill included
  prefillForwards: number;         // forwards that only stored prompt K/V
  prefillMs: number;
  timeToFirstBlockMs: number;      // from the start of the loop until the first block has no masks
}
