// Chooses the decoding loop for a request's strategy.
import { ConfigError, UnsupportedModelError } from '../errors.js';
import type { ForwardEngine } from '../models/engine-types.js';
import { generateBlockCausal } from './block-diffusion.js';
import { generateFullCanvas } from './full-canvas.js';
import type { DecodeOutcome, DecodeSettings, StepListener } from './types.js';
import { generateWedlm } from './wedlm.js';

/**
 * Runs the loop of `settings.strategy`: whole-sequence refinement for full-attention strategies (llada,
 * dream, fast-dllm), block diffusion over the exact prefix cache for block-causal ones (sdar, llada2,
 * editing, fast-dllm-v2), the sliding window for wedlm. Throws UnsupportedModelError for a checkpoint
 * without a mask token, such as a plain Qwen2/Qwen3, which can only produce logits.
 */
export function generateTokens(
  engine: ForwardEngine,
  prompt: ArrayLike<number>,
  settings: DecodeSettings,
  onStep?: StepListener,
): Promise<DecodeOutcome> {
  const config = engine.config;
  if (config.maskTokenId < 0) {
    throw new UnsupportedModelError('UNSUPPORTED_FEATURE',
      `The ${config.family} checkpoint (${config.architecture}) has no mask token, so it cannot generate ` +
        'by diffusion; use it for logits only (`dllm logits`).');
  }
  if (prompt.length === 0) {
    throw new ConfigError('INVALID_OPTION', 'The prompt is empty; generation needs at least one prompt token.');
  }
  switch (settings.strategy) {
    case 'llada':
    case 'dream':
    case 'fast-dllm':
      return generateFullCanvas(engine, prompt, settings, onStep);
    case 'wedlm':
      return generateWedlm(engine, prompt, settings, onStep);
    default:
      return generateBlockCausal(engine, prompt, settings, onStep);
  }
}
