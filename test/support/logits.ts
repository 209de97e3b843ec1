// Helpers of the logits conformance tests: fixture paths, whole-sequence logits from the engine, and the
// largest absolute difference between two sets of rows.
import { readFileSync } from 'node:fs';
import * as assert from 'uvu/assert';
import type { AttentionKind } from '../../src/models/types.js';
import type { WasmEngine } from '../../src/runtime/engine.js';

const FIXTURES = new URL('../fixtures/', import.meta.url);

/** Absolute path of a file under test/fixtures. */
export const fixturePath = (relative: string): string => new URL(relative, FIXTURES).pathname;

export const readFixtureJson = (relative: string) => JSON.parse(readFileSync(fixturePath(relative), 'utf8'));

/** Every output row of `ids`, run as the engine runs a sequence: block by block for block-causal attention. */
export async function sequenceLogits(engine: WasmEngine, ids: number[], attention: AttentionKind, blockSize: number): Promise<number[][]> {
  const rows: number[][] = [];
  const vocab = engine.config.vocab;
  const step = attention === 'block-causal' ? blockSize : ids.length;
  for (let start = 0; start < ids.length; start += step) {
    const tokens = Int32Array.from(ids.slice(start, start + step));
    const logitRows = Int32Array.from(tokens, (_, i) => i);
    const result = await engine.forward({ tokens, start, attention, logitRows, blockSize });
    for (let r = 0; r < tokens.length; r++) rows.push(Array.from(result.logits.subarray(r * vocab, (r + 1) * vocab)));
  }
  return rows;
}

/** Largest |actual - expected| over all rows; a NaN anywhere counts as Infinity. Asserts equal shapes. */
export function maxAbsDiff(actual: number[][], expected: number[][]): number {
  assert.is(actual.length, expected.length, 'row count');
  let worst = 0;
  for (let r = 0; r < expected.length; r++) {
    assert.is(actual[r].length, expected[r].length, `row ${r} width`);
    for (let i = 0; i < expected[r].length; i++) {
      const d = Math.abs(actual[r][i] - expected[r][i]);
      if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
    }
  }
  return worst;
}
