// Runs one fuzz case through the public loading path: openCheckpoint, the tokenizer, WasmEngine.load
// with a small context, and one forward. Every error must be a DllmError; anything else is a finding.

import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DllmError } from '../../src/errors.js';
import { tokenizerOf } from '../../src/index.js';
import { openCheckpoint } from '../../src/models/load-checkpoint.js';
import type { Checkpoint } from '../../src/models/types.js';
import { WasmEngine } from '../../src/runtime/engine.js';
import type { FuzzCase } from './mutate.js';

/** Outcome of one stage of a case: success, a typed error with its code, or an untyped error. */
export type StageResult =
  | { status: 'ok' }
  | { status: 'typed'; code: string; name: string }
  | { status: 'untyped'; name: string; message: string; stack?: string };

export interface CaseResult {
  /** openCheckpoint, then WasmEngine.load and one forward. */
  load: StageResult;
  /** The tokenizer built from the checkpoint, run when it opened. */
  tokenizer: StageResult | null;
}

function classify(error: unknown): StageResult {
  if (error instanceof DllmError && typeof error.code === 'string' && error.message.length > 0) {
    return { status: 'typed', code: error.code, name: error.name };
  }
  const e = error as Error | undefined;
  return { status: 'untyped', name: e?.name ?? typeof error, message: String(e?.message ?? error).slice(0, 500), stack: e?.stack?.slice(0, 2000) };
}

let folder: string | null = null;

/** Writes a safetensors case's files into this process's scratch folder and returns its path. */
function writeFolder(files: Map<string, Uint8Array>): string {
  folder ??= join(tmpdir(), `dllm-fuzz-${process.pid}`);
  rmSync(folder, { recursive: true, force: true });
  mkdirSync(folder, { recursive: true });
  for (const [name, bytes] of files) writeFileSync(join(folder, name), bytes);
  return folder;
}

/** Removes the scratch folder of this process. */
export function cleanUp(): void {
  if (folder) rmSync(folder, { recursive: true, force: true });
}

async function loadAndForward(checkpoint: Checkpoint): Promise<void> {
  const engine = await WasmEngine.load(checkpoint, { threads: 1, contextLength: 16, maxRows: 16, log: () => {} });
  try {
    const vocab = checkpoint.config.vocab;
    const tokens = Int32Array.from([1, 2, 3, 4], (id) => Math.min(id, vocab - 1));
    await engine.forward({ tokens, start: 0, attention: checkpoint.config.attention, logitRows: Int32Array.of(0, 3) });
  } finally {
    await engine.dispose();
  }
}

function runTokenizer(checkpoint: Checkpoint): void {
  const tokenizer = tokenizerOf(checkpoint);
  const ids = tokenizer.encode('Hello, world! \uD800 日本');
  tokenizer.decode(ids);
  tokenizer.decode([0, 1, tokenizer.vocabSize - 1].filter((id) => id >= 0), { skipSpecialTokens: true });
  if (tokenizer.chatTemplate !== null) tokenizer.applyChatTemplate([{ role: 'user', content: 'Hi' }]);
}

export async function runCase(fuzzCase: FuzzCase): Promise<CaseResult> {
  let checkpoint: Checkpoint;
  try {
    checkpoint = await openCheckpoint(fuzzCase.kind === 'gguf' ? fuzzCase.bytes : writeFolder(fuzzCase.files));
  } catch (error) {
    return { load: classify(error), tokenizer: null };
  }
  try {
    let tokenizer: StageResult = { status: 'ok' };
    try {
      runTokenizer(checkpoint);
    } catch (error) {
      tokenizer = classify(error);
    }
    let load: StageResult = { status: 'ok' };
    try {
      await loadAndForward(checkpoint);
    } catch (error) {
      load = classify(error);
    }
    return { load, tokenizer };
  } finally {
    await checkpoint.close();
  }
}
