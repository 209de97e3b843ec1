// Request options: the public GenerateOptions, the defaults of each strategy and family, which options
// each strategy reads, and validation into DecodeSettings. Every check throws ConfigError naming the
// option, its value and what is valid.
import { ConfigError } from '../errors.js';
import type { AttentionKind, Family, ModelConfig } from '../models/types.js';
import type { CacheMode, ConfidenceKind, DecodeSettings, ScheduleKind, SelectionKind, StepEvent, StrategyName } from './types.js';
import { STRATEGY_NAMES } from './types.js';

/** LLaDA remasking (`low_confidence`, `random`) and SDAR remasking (the other three). */
export type Remasking = 'low_confidence' | 'random' | 'low_confidence_dynamic' | 'low_confidence_static' | 'sequential';

/** Dream's confidence algorithms. */
export type DreamAlgorithm = 'origin' | 'maskgit_plus' | 'topk_margin' | 'entropy';

export interface GenerateOptions {
  /** Decoding strategy. Default: the family's own (sdar, fast-dllm-v2, llada, dream; wedlm for causal models). */
  strategy?: StrategyName;
  /** Generated positions; the result may be shorter when a stop token ends it. Default 128. */
  maxTokens?: number;
  /** Positions refined together. Default: per strategy, see docs/decoding.md. */
  blockLength?: number;
  /** Refinement steps over the whole generation, spread evenly over the blocks (LLaDA, Dream, llama.cpp). Excludes `stepsPerBlock`. */
  steps?: number;
  /** Refinement steps per block (SDAR, LLaDA 2.x). Excludes `steps`. */
  stepsPerBlock?: number;
  /**
   * Commit every masked position whose confidence is at least this, in (0, 1], and at least one per step;
   * null disables it. With a step budget as well, a step commits whichever is more.
   */
  threshold?: number | null;
  /** Sampling temperature; 0 decodes greedily. Default 0. */
  temperature?: number;
  /** Sample only among the k most likely tokens; 0 disables. Default 0. */
  topK?: number;
  /** Sample only within the top-p nucleus, in (0, 1]; 1 disables. Default 1. */
  topP?: number;
  /** Seed of the sampler; the same seed and options reproduce the same output. Default: random. */
  seed?: number;
  /** Stops the request between forwards; the promise then rejects with AbortError. */
  signal?: AbortSignal;
  /** Called after every forward with the same event that the iterator yields. */
  onStep?: (event: StepEvent) => void;
  /** llada: 'low_confidence' (default) or 'random'. sdar: 'low_confidence_dynamic' (default), 'low_confidence_static' or 'sequential'. */
  remasking?: Remasking;
  /** llada: classifier-free guidance weight w >= 0; 0 (default) disables it. */
  cfgScale?: number;
  /** dream: end of the timestep schedule, in (0, 1). Default 1e-3. */
  eps?: number;
  /** dream: confidence algorithm. Default 'entropy'. */
  algorithm?: DreamAlgorithm;
  /** dream: > 0 samples the positions from softmax(confidence / algTemp) instead of taking the top ones. Default 0. */
  algTemp?: number;
  /** fast-dllm-v2: positions of a sub-block, the unit whose masks a step may commit. Default 8. */
  subBlockLength?: number;
  /** llada, dream, fast-dllm: 'none', 'prefix' or 'dual'. fast-dllm-v2: 'prefix' or 'dual' (the sub-block cache). */
  cache?: CacheMode;
  /** editing: replace a committed token when a different candidate's probability is above this, in [0, 1]. Default 0.5. */
  editThreshold?: number;
  /** editing: forwards after a block has no masks, while edits continue. Default 16. */
  maxPostSteps?: number;
  /** End the request as soon as a stop token is final. Default true; false runs every block, as the references do. */
  eosEarlyStop?: boolean;
  /** wedlm: slots in the sliding window. Default 16. */
  window?: number;
  /** wedlm: fill every slot whose penalised entropy (nats) is below this. Default 0.4. */
  entropyThreshold?: number;
  /** wedlm: entropy added per slot after the first masked one. Default 0.02. */
  positionPenalty?: number;
  /** Give stop-token candidates confidence -Infinity before selection, so they are committed last. Default false. */
  suppressEos?: boolean;
}

// ---------------------------------------------------------------------------------------------------
// Strategies and families

/** Attention kinds of the families each strategy can run on. */
const STRATEGY_ATTENTION: Record<StrategyName, readonly AttentionKind[]> = {
  'llada': ['full'],
  'dream': ['full'],
  'fast-dllm': ['full'],
  'fast-dllm-v2': ['block-causal'],
  'sdar': ['block-causal'],
  'llada2': ['block-causal'],
  'editing': ['block-causal'],
  'wedlm': ['causal', 'block-causal'],
};

const DEFAULT_STRATEGY: Record<Family, StrategyName> = {
  'sdar': 'sdar',
  'fast-dllm-v2': 'fast-dllm-v2',
  'llada': 'llada',
  'llada-moe': 'llada',
  'llada2': 'llada2',
  'dream': 'dream',
  'qwen2': 'wedlm',
  'qwen3': 'wedlm',
};

/** Options that only some strategies read; every other option applies to all of them. */
const STRATEGY_OPTIONS: Record<StrategyName, readonly (keyof GenerateOptions)[]> = {
  'llada': ['blockLength', 'steps', 'stepsPerBlock', 'threshold', 'remasking', 'cfgScale', 'cache'],
  'dream': ['blockLength', 'steps', 'stepsPerBlock', 'eps', 'algorithm', 'algTemp', 'cache'],
  'fast-dllm': ['blockLength', 'steps', 'stepsPerBlock', 'threshold', 'cache'],
  'fast-dllm-v2': ['blockLength', 'steps', 'stepsPerBlock', 'threshold', 'subBlockLength', 'cache'],
  'sdar': ['blockLength', 'steps', 'stepsPerBlock', 'threshold', 'remasking'],
  'llada2': ['blockLength', 'steps', 'stepsPerBlock', 'threshold'],
  'editing': ['blockLength', 'steps', 'stepsPerBlock', 'threshold', 'editThreshold', 'maxPostSteps'],
  'wedlm': ['window', 'entropyThreshold', 'positionPenalty'],
};

const SPECIFIC_OPTIONS = new Set<keyof GenerateOptions>(Object.values(STRATEGY_OPTIONS).flat());

export const DEFAULT_MAX_TOKENS = 128;

/** The JavaScript type each option takes; `null` is also accepted where the option allows it. */
const OPTION_TYPES: Record<keyof GenerateOptions, 'number' | 'string' | 'boolean' | 'function' | 'object'> = {
  strategy: 'string', maxTokens: 'number', blockLength: 'number', steps: 'number', stepsPerBlock: 'number',
  threshold: 'number', temperature: 'number', topK: 'number', topP: 'number', seed: 'number', signal: 'object',
  onStep: 'function', remasking: 'string', cfgScale: 'number', eps: 'number', algorithm: 'string', algTemp: 'number',
  subBlockLength: 'number', cache: 'string', editThreshold: 'number', maxPostSteps: 'number', eosEarlyStop: 'boolean',
  window: 'number', entropyThreshold: 'number', positionPenalty: 'number', suppressEos: 'boolean',
};

/** Rejects option names that no strategy reads (a typo such as `max_tokens` would else be ignored) and values of the wrong type. */
function checkOptionNamesAndTypes(options: GenerateOptions): void {
  for (const [key, value] of Object.entries(options)) {
    const expected = OPTION_TYPES[key as keyof GenerateOptions];
    if (!expected) {
      throw new ConfigError('INVALID_OPTION', `Unknown option '${key}'. Valid options: ${Object.keys(OPTION_TYPES).join(', ')}.`);
    }
    if (value === undefined || (value === null && key === 'threshold')) continue;
    const actual = value === null ? 'null' : typeof value;
    const signalLike = key !== 'signal' || (typeof (value as AbortSignal).aborted === 'boolean' && typeof (value as AbortSignal).addEventListener === 'function');
    if (actual !== expected || !signalLike) {
      let shownValue = '';
      if (typeof value === 'string') shownValue = ` '${value}'`;
      else if (typeof value === 'number' || typeof value === 'boolean') shownValue = ` ${value}`;
      const expectedType = key === 'signal' ? 'an AbortSignal' : `a ${expected}`;
      throw new ConfigError('INVALID_OPTION', `Option ${key} must be ${expectedType}, got ${actual === 'object' ? 'another object' : actual}${shownValue}.`);
    }
  }
}

/** Returns the strategy a request on `config` runs when it names none. */
export function defaultStrategy(config: ModelConfig): StrategyName {
  const own = DEFAULT_STRATEGY[config.family];
  if (own) return own;
  if (config.attention === 'block-causal') return 'sdar';
  if (config.attention === 'full') return 'llada';
  return 'wedlm';
}

// ---------------------------------------------------------------------------------------------------
// Resolution

/** Resolves defaults and throws ConfigError, naming the option and its valid range, on invalid input. */
export function resolveSettings(options: GenerateOptions, config: ModelConfig): DecodeSettings {
  checkOptionNamesAndTypes(options);
  const strategy = options.strategy ?? defaultStrategy(config);
  if (!STRATEGY_NAMES.includes(strategy)) {
    throw new ConfigError('INVALID_OPTION', `Unknown strategy '${strategy}': expected one of ${STRATEGY_NAMES.join(', ')}.`);
  }
  checkCompatible(strategy, config);
  for (const key of Object.keys(options) as (keyof GenerateOptions)[]) {
    if (options[key] === undefined || !SPECIFIC_OPTIONS.has(key) || STRATEGY_OPTIONS[strategy].includes(key)) continue;
    const users = STRATEGY_NAMES.filter((name) => STRATEGY_OPTIONS[name].includes(key));
    throw new ConfigError('INVALID_OPTION', `Option ${key} does not apply to the ${strategy} strategy; it is read by ${users.join(', ')}.`);
  }

  const maxTokens = integerOption('maxTokens', options.maxTokens, DEFAULT_MAX_TOKENS, 1);
  const blockLength = integerOption('blockLength', options.blockLength, defaultBlockLength(strategy, config, maxTokens), 1);
  let steps = options.steps === undefined ? null : integerOption('steps', options.steps, 0, 1);
  let stepsPerBlock = options.stepsPerBlock === undefined ? null : integerOption('stepsPerBlock', options.stepsPerBlock, 0, 1);
  if (steps !== null && stepsPerBlock !== null) {
    throw new ConfigError('INVALID_OPTION', `Set either steps (${steps}) or stepsPerBlock (${stepsPerBlock}), not both.`);
  }
  const budget = steps !== null || stepsPerBlock !== null;

  const temperature = options.temperature ?? 0;
  if (!(temperature >= 0 && Number.isFinite(temperature))) {
    throw new ConfigError('INVALID_OPTION', `Invalid temperature ${temperature}: expected a finite number >= 0 (0 is greedy).`);
  }
  const topK = integerOption('topK', options.topK, 0, 0);
  const topP = options.topP ?? 1;
  if (!(topP > 0 && topP <= 1)) {
    throw new ConfigError('INVALID_OPTION', `Invalid topP ${topP}: expected a number in (0, 1] (1 disables it).`);
  }
  if (options.seed !== undefined && !Number.isInteger(options.seed)) {
    throw new ConfigError('INVALID_OPTION', `Invalid seed ${options.seed}: expected an integer.`);
  }

  // Threshold: per strategy when the request leaves it out.
  let threshold: number | null;
  if (options.threshold === undefined) threshold = defaultThreshold(strategy, budget, options.remasking);
  else if (options.threshold === null) threshold = null;
  else threshold = unitOption('threshold', options.threshold, false);
  if (strategy === 'sdar' && options.remasking !== undefined && options.remasking !== 'low_confidence_dynamic' && options.threshold != null) {
    throw new ConfigError('INVALID_OPTION', `remasking '${options.remasking}' ignores the threshold; leave threshold unset or use 'low_confidence_dynamic'.`);
  }

  // Step budget: the strategy's own when neither the request nor a threshold bounds the steps.
  if (!budget) {
    if (strategy === 'llada' || strategy === 'dream') {
      if (threshold === null || strategy === 'dream') steps = maxTokens;
    } else if (strategy === 'sdar' || strategy === 'llada2') {
      stepsPerBlock = blockLength;
    } else if (threshold === null && strategy !== 'wedlm') {
      stepsPerBlock = blockLength;  // one position per step
    }
  }

  const subBlockLength = strategy === 'fast-dllm-v2' ? integerOption('subBlockLength', options.subBlockLength, Math.min(8, blockLength), 1) : blockLength;
  if (subBlockLength > blockLength) {
    throw new ConfigError('INVALID_OPTION', `Invalid subBlockLength ${subBlockLength}: expected at most blockLength (${blockLength}).`);
  }

  const cfgScale = options.cfgScale ?? 0;
  if (!(cfgScale >= 0 && Number.isFinite(cfgScale))) throw new ConfigError('INVALID_OPTION', `Invalid cfgScale ${cfgScale}: expected a finite number >= 0 (0 disables guidance).`);
  const cache = resolveCache(strategy, options.cache);
  if (cfgScale > 0 && cache !== 'none') {
    throw new ConfigError('INVALID_OPTION', `cfgScale needs cache 'none', got '${cache}': guidance recomputes the whole sequence twice per step.`);
  }

  const eps = options.eps ?? 1e-3;
  if (!(eps > 0 && eps < 1)) throw new ConfigError('INVALID_OPTION', `Invalid eps ${eps}: expected a number in (0, 1).`);
  const algTemp = options.algTemp ?? 0;
  if (!(algTemp >= 0 && Number.isFinite(algTemp))) throw new ConfigError('INVALID_OPTION', `Invalid algTemp ${algTemp}: expected a finite number >= 0 (0 takes the top positions).`);
  const algorithm = options.algorithm ?? 'entropy';
  if (!['origin', 'maskgit_plus', 'topk_margin', 'entropy'].includes(algorithm)) {
    throw new ConfigError('INVALID_OPTION', `Invalid algorithm '${algorithm}': expected origin, maskgit_plus, topk_margin or entropy.`);
  }

  const remasking = options.remasking ?? (strategy === 'sdar' ? 'low_confidence_dynamic' : 'low_confidence');
  const validRemasking = strategy === 'sdar' ? ['low_confidence_dynamic', 'low_confidence_static', 'sequential'] : ['low_confidence', 'random'];
  if (!validRemasking.includes(remasking)) {
    throw new ConfigError('INVALID_OPTION', `Invalid remasking '${remasking}' for the ${strategy} strategy: expected ${validRemasking.join(', ')}.`);
  }
  if (strategy === 'sdar' && remasking !== 'low_confidence_dynamic') threshold = null;

  const editing = strategy === 'editing';
  const editThreshold = editing ? unitOption('editThreshold', options.editThreshold ?? 0.5, true) : null;
  const maxPostSteps = integerOption('maxPostSteps', options.maxPostSteps, 16, 0);
  const window = integerOption('window', options.window, 16, 1);
  const entropyThreshold = options.entropyThreshold ?? 0.4;
  if (!Number.isFinite(entropyThreshold)) throw new ConfigError('INVALID_OPTION', `Invalid entropyThreshold ${entropyThreshold}: expected a finite number of nats.`);
  const positionPenalty = options.positionPenalty ?? 0.02;
  if (!(positionPenalty >= 0 && Number.isFinite(positionPenalty))) throw new ConfigError('INVALID_OPTION', `Invalid positionPenalty ${positionPenalty}: expected a finite number >= 0.`);

  return {
    strategy,
    maxTokens,
    blockLength,
    subBlockLength,
    steps,
    stepsPerBlock,
    threshold,
    schedule: scheduleOf(strategy, steps, stepsPerBlock),
    confidence: confidenceOf(strategy, config, remasking, algorithm),
    selection: selectionOf(strategy, remasking, algorithm),
    eps,
    algTemp: strategy === 'dream' ? algTemp : 0,
    cfgScale,
    cache,
    suppressEos: options.suppressEos ?? false,
    eosEarlyStop: options.eosEarlyStop ?? true,
    editThreshold,
    maxPostSteps,
    window,
    entropyThreshold,
    positionPenalty,
    sampling: { temperature, topK, topP },
    seed: options.seed,
    signal: options.signal,
  };
}

function checkCompatible(strategy: StrategyName, config: ModelConfig): void {
  const kinds = STRATEGY_ATTENTION[strategy];
  if (!kinds.includes(config.attention)) {
    const fitting = STRATEGY_NAMES.filter((name) => STRATEGY_ATTENTION[name].includes(config.attention));
    throw new ConfigError('INVALID_OPTION',
      `The ${strategy} strategy needs a model with ${kinds.join(' or ')} attention, but the ${config.family} model uses ` +
        `${config.attention} attention; use one of ${fitting.join(', ')}.`);
  }
  if (strategy === 'wedlm' && config.shiftLogits) {
    throw new ConfigError('INVALID_OPTION',
      `The wedlm strategy reads each masked slot's own logits row, but the ${config.family} model predicts from the row before (shifted logits); use fast-dllm-v2 or sdar.`);
  }
}

function defaultBlockLength(strategy: StrategyName, config: ModelConfig, maxTokens: number): number {
  if (strategy === 'dream') return maxTokens;
  if (config.attention === 'block-causal' && config.blockSize > 0) return config.blockSize;
  return 32;
}

function defaultThreshold(strategy: StrategyName, budget: boolean, remasking: Remasking | undefined): number | null {
  switch (strategy) {
    case 'fast-dllm':
    case 'fast-dllm-v2':
      return budget ? null : 0.9;
    case 'sdar':
      return remasking === undefined || remasking === 'low_confidence_dynamic' ? 0.9 : null;
    case 'llada2':
      return 0.95;
    case 'editing':
      return 0.7;
    default:
      return null;
  }
}

function resolveCache(strategy: StrategyName, cache: CacheMode | undefined): CacheMode {
  const valid: readonly CacheMode[] = strategy === 'fast-dllm-v2' ? ['prefix', 'dual'] : ['none', 'prefix', 'dual'];
  const fallback: CacheMode = strategy === 'fast-dllm' ? 'dual' : strategy === 'fast-dllm-v2' || STRATEGY_ATTENTION[strategy].includes('block-causal') ? 'prefix' : 'none';
  const value = cache ?? fallback;
  if (!valid.includes(value)) {
    throw new ConfigError('INVALID_OPTION', `Invalid cache '${value}' for the ${strategy} strategy: expected ${valid.join(' or ')}.`);
  }
  return value;
}

function scheduleOf(strategy: StrategyName, steps: number | null, stepsPerBlock: number | null): ScheduleKind {
  if (strategy === 'dream') return 'timestep';
  if (steps !== null || stepsPerBlock !== null) return 'linear';
  return 'threshold';
}

function selectionOf(strategy: StrategyName, remasking: Remasking, algorithm: DreamAlgorithm): SelectionKind {
  if (strategy === 'dream' && algorithm === 'origin') return 'origin';
  if (remasking === 'sequential') return 'sequential';
  return 'confidence';
}

function confidenceOf(strategy: StrategyName, config: ModelConfig, remasking: Remasking, algorithm: DreamAlgorithm): ConfidenceKind {
  if (strategy === 'dream') {
    if (algorithm === 'topk_margin') return 'margin';
    if (algorithm === 'entropy') return 'entropy';
    return 'probability';
  }
  if (strategy === 'llada') return remasking === 'random' ? 'random' : 'raw-probability';
  // Fast-dLLM scores LLaDA with the raw softmax and Dream with its sampling distribution.
  if (strategy === 'fast-dllm') return config.family === 'llada' || config.family === 'llada-moe' ? 'raw-probability' : 'probability';
  return 'probability';
}

function integerOption(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) {
    throw new ConfigError('INVALID_OPTION', `Invalid ${name} ${value}: expected an integer >= ${min}.`);
  }
  return value;
}

function unitOption(name: string, value: number, allowZero: boolean): number {
  if (!((allowZero ? value >= 0 : value > 0) && value <= 1)) {
    throw new ConfigError('INVALID_OPTION', `Invalid ${name} ${value}: expected a number in ${allowZero ? '[0, 1]' : '(0, 1]'}.`);
  }
  return value;
}
