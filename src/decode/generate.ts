// Chooses the decoding loop for a model family.
import { ConfigError, UnsupportedModelError } from '../errors.js';
import type { ForwardEngine } from '../models/engine-types.js';
import { generateBlockCausal } from './block-diffusion.js';
import { generateFullCanvas } from './full-canvas.js';
import type { DecodeOutcome, DecodeSettings, StepListener } from './types.js';

/**
 * Runs the decoding loop that fits `engine.config`: block diffusion with a KV cache for block-causal
 * families, whole-sequence recomputation for the others. Throws UnsupportedModelError for a checkpoint
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
  if (config.attention === 'block-causal') return generateBlockCausal(engine, prompt, settings, onStep);
  return generateFullCanvas(engine, prompt, settings, onStep);
}
