// The synthetic GGUF models the benchmarks load. They are written by tools/synth/synth-model.ts into
// a folder under the system temp directory (never into the repository) and reused by later runs: the
// writer is deterministic, so a file with the expected name and size is the same file.
import { existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHAPES, writeSyntheticModel, type ModelShape } from '../tools/synth/synth-model.js';
import type { SynthTensorType } from '../tools/synth/gguf-writer.js';

export interface SynthModel {
  /** Short label used in tables, e.g. "0.5B Q8_0 v151936". */
  label: string;
  path: string;
  type: SynthTensorType;
  shape: ModelShape;
  fileBytes: number;
  /** Seconds spent writing the file in this run; 0 when it was reused. */
  writeSeconds: number;
}

export const MODEL_DIR = process.env.DLLM_BENCH_MODELS ?? join(tmpdir(), 'dllm-wasm-bench-models');

/** Returns the synthetic model of `shapeName` in `type`, with the vocabulary replaced by `vocab` when given. */
export function synthModel(shapeName: keyof typeof SHAPES, type: SynthTensorType, vocab?: number): SynthModel {
  const shape: ModelShape = { ...SHAPES[shapeName], ...(vocab ? { vocab } : {}) };
  const label = `${shapeName} ${type} v${shape.vocab}`;
  const path = join(MODEL_DIR, `${shapeName}-v${shape.vocab}-${type}-seed1.gguf`);
  mkdirSync(MODEL_DIR, { recursive: true });
  let writeSeconds = 0;
  if (!existsSync(path)) {
    const started = performance.now();
    const partial = `${path}.partial-${process.pid}`;
    writeSyntheticModel(partial, shape, type, 1, label);
    renameSync(partial, path);
    writeSeconds = (performance.now() - started) / 1000;
  }
  return { label, path, type, shape, fileBytes: statSync(path).size, writeSeconds };
}
