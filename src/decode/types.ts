// Shapes shared by the decoding loops and the Model API: the strategy names, the resolved settings of
// one request, the per-forward event, and the outcome of a loop before text is attached.
import type { SamplingOptions } from './sampler.js';

/**
 * Refinement strategies. Each is the decoding loop of one published family, and can run on any loaded
 * family whose attention it fits (see options.ts).
 */
export type StrategyName =
  | 'llada'         // LLaDA: semi-autoregressive blocks, linear schedule, low-confidence or random remasking, CFG
  | 'dream'         // Dream: timestep schedule with eps, four confidence algorithms, alg_temp
  | 'fast-dllm'     // Fast-dLLM v1: threshold parallel decoding with the prefix or dual cache
  | 'fast-dllm-v2'  // Fast-dLLM v2: blocks visited as sub-blocks, threshold, optional sub-block cache
  | 'sdar'          // SDAR: block diffusion with dynamic, static or sequential remasking
  | 'llada2'        // LLaDA 2.0: threshold with at least one token per step, EOS early stop
  | 'editing'       // LLaDA 2.1: mask-to-token and token-to-token updates in the same step
  | 'wedlm';        // WeDLM: causal attention, a sliding window of slots, filled slots reordered first

export const STRATEGY_NAMES: readonly StrategyName[] = [
  'llada', 'dream', 'fast-dllm', 'fast-dllm-v2', 'sdar', 'llada2', 'editing', 'wedlm',
];

/**
 * Confidence score of a candidate.
 * - 'probability': its probability under the temperature-scaled, filtered distribution (Dream, SDAR).
 * - 'raw-probability': its probability under softmax of the filtered logits at temperature 1 (LLaDA).
 * - 'margin': top-1 minus top-2 probability (Dream's topk_margin).
 * - 'entropy': sum p ln p, the negative entropy, so higher is more confident (Dream's entropy).
 * - 'random': uniform in [0, 1) (LLaDA's random remasking).
 */
export type ConfidenceKind = 'probability' | 'raw-probability' | 'margin' | 'entropy' | 'random';

/**
 * Rule by which a step picks the positions to commit, given the count k it must commit.
 * - 'confidence': the k most confident, plus every other one at or above the threshold.
 * - 'sequential': the k leftmost masked positions (SDAR's sequential).
 * - 'origin': each masked position independently with probability 1 - s/t (Dream's origin).
 */
export type SelectionKind = 'confidence' | 'sequential' | 'origin';

/** Source of the count a step must commit: a linear split of the block, Dream's timesteps, or only the threshold. */
export type ScheduleKind = 'linear' | 'timestep' | 'threshold';

/** KV reuse of the full-attention loop, and the sub-block cache of Fast-dLLM v2. */
export type CacheMode = 'none' | 'prefix' | 'dual';

/** Options of one request after defaults and validation (see GenerateOptions in model.ts). */
export interface DecodeSettings {
  strategy: StrategyName;
  maxTokens: number;              // generated positions on the canvas
  blockLength: number;            // B: positions refined together
  subBlockLength: number;         // positions whose masks one step may commit; == blockLength except for Fast-dLLM v2
  steps: number | null;           // refinement steps over the whole generation, spread over the blocks
  stepsPerBlock: number | null;   // refinement steps per block (per sub-block with sub-blocks); excludes `steps`
  threshold: number | null;       // commit every candidate with confidence >= threshold; null disables
  schedule: ScheduleKind;
  confidence: ConfidenceKind;
  selection: SelectionKind;
  eps: number;                    // end of Dream's timestep schedule, t goes from 1 to eps
  algTemp: number;                // > 0: sample the positions from softmax(confidence / algTemp) instead of taking the top k
  cfgScale: number;               // classifier-free guidance weight w; 0 disables
  cache: CacheMode;
  suppressEos: boolean;           // a candidate that is a stop token gets confidence -Infinity before selection
  eosEarlyStop: boolean;          // end the request as soon as a stop token is final
  editThreshold: number | null;   // LLaDA 2.1: replace a committed token when the new candidate beats this probability
  maxPostSteps: number;           // LLaDA 2.1: forwards after a block has no masks, while edits continue
  window: number;                 // WeDLM: slots in the sliding window
  entropyThreshold: number;       // WeDLM: fill slots whose penalised entropy is below this
  positionPenalty: number;        // WeDLM: entropy added per slot after the first masked one
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
  committed: number[];    // canvas indices that this forward filled (a mask became a token)
  edited: number[];       // canvas indices whose token this forward replaced (token editing only)
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
