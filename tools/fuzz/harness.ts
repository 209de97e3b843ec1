// Runs fuzz cases in child processes with a per-case timeout. A child that exits, crashes or runs out of
// memory during a case marks that case as a crash; a case that exceeds the timeout is a hang, and its
// child is killed. Both children are replaced and the run continues.

import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildCase } from './mutate.js';
import type { CaseResult } from './run-case.js';

export interface FuzzOptions {
  seed: number;
  /** Case indices to run. */
  indices: number[];
  /** Child processes that run cases in parallel. */
  jobs: number;
  timeoutMs: number;
  /** Heap limit of each child in MiB, so that a runaway allocation ends as a crash instead of swapping. */
  maxHeapMb?: number;
  onProgress?: (done: number, total: number) => void;
}

export type Finding =
  | { index: number; kind: 'crash'; detail: string }
  | { index: number; kind: 'hang'; detail: string }
  | { index: number; kind: 'untyped'; detail: string };

export interface FuzzReport {
  seed: number;
  cases: number;
  /** Count of each outcome: 'ok', or the error code of a typed error. */
  outcomes: Map<string, number>;
  findings: Finding[];
}

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));

function describe(seed: number, index: number): string {
  try {
    const fuzzCase = buildCase(seed, index);
    return `${fuzzCase.fixture}: ${fuzzCase.mutations.join(' | ')}`;
  } catch (error) {
    return `(building the case failed: ${(error as Error).message})`;
  }
}

export async function runFuzz(options: FuzzOptions): Promise<FuzzReport> {
  const { seed, indices, jobs, timeoutMs } = options;
  const report: FuzzReport = { seed, cases: indices.length, outcomes: new Map(), findings: [] };
  const count = (key: string) => report.outcomes.set(key, (report.outcomes.get(key) ?? 0) + 1);
  let next = 0;
  let done = 0;

  const record = (index: number, result: CaseResult) => {
    for (const [stage, stageResult] of [['load', result.load], ['tokenizer', result.tokenizer]] as const) {
      if (!stageResult) continue;
      if (stageResult.status === 'ok') count(`${stage}:ok`);
      else if (stageResult.status === 'typed') count(`${stage}:${stageResult.code}`);
      else {
        count(`${stage}:untyped`);
        report.findings.push({
          index,
          kind: 'untyped',
          detail: `${stage}: ${stageResult.name}: ${stageResult.message}\n    case ${describe(seed, index)}\n    ${stageResult.stack ?? ''}`,
        });
      }
    }
  };

  // One lane per job: start a child, feed it cases until none are left, replace it after a crash or hang.
  const lane = async (): Promise<void> => {
    let child: ChildProcess | null = null;
    const start = (): Promise<ChildProcess> =>
      new Promise((resolve, reject) => {
        const process_ = fork(CHILD, [], {
          execArgv: ['--import', 'tsx', `--max-old-space-size=${options.maxHeapMb ?? 1024}`],
          stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
        });
        process_.stderr!.on('data', () => {});
        process_.once('message', (message) => (message === 'ready' ? resolve(process_) : reject(new Error(`unexpected ${String(message)}`))));
        process_.once('exit', (code) => reject(new Error(`fuzz child exited with code ${code} before it was ready`)));
      });

    while (next < indices.length) {
      const index = indices[next++];
      child ??= await start();
      const current: ChildProcess = child;
      const outcome = await new Promise<{ result?: CaseResult; finding?: Finding }>((resolve) => {
        const timer = setTimeout(() => {
          cleanup();
          current.kill('SIGKILL');
          resolve({ finding: { index, kind: 'hang', detail: `no result after ${timeoutMs} ms\n    case ${describe(seed, index)}` } });
        }, timeoutMs);
        const onMessage = (message: { index: number; result: CaseResult }) => {
          if (message.index !== index) return;
          cleanup();
          resolve({ result: message.result });
        };
        const onExit = (code: number | null, signal: string | null) => {
          cleanup();
          resolve({ finding: { index, kind: 'crash', detail: `child exited (code ${code}, signal ${signal})\n    case ${describe(seed, index)}` } });
        };
        const cleanup = () => {
          clearTimeout(timer);
          current.off('message', onMessage);
          current.off('exit', onExit);
        };
        current.on('message', onMessage);
        current.on('exit', onExit);
        current.send({ seed, index });
      });
      if (outcome.result) {
        record(index, outcome.result);
      } else {
        report.findings.push(outcome.finding!);
        count(outcome.finding!.kind);
        child = null;
      }
      options.onProgress?.(++done, indices.length);
    }
    if (child) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.send('exit');
      await exited;
    }
  };

  await Promise.all(Array.from({ length: Math.max(1, jobs) }, lane));
  return report;
}
