// The thread pool: the calling thread is thread 0 and does its share of every kernel call; workers
// 1..threads-1 each own a kernel instance on the same shared memory. Starting a step is one atomic
// increment and a notify; the step ends at the program's last barrier.
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { Worker } from 'node:worker_threads';
import { WorkerError } from '../errors.js';
import { reportFailure, ThreadFailedError } from './barrier.js';
import { COMMAND_FORWARD, COMMAND_SHUTDOWN, CONTROL, type ModelLayout } from './layout.js';
import type { ForwardProgram } from './program.js';
import type { WorkerApi } from './worker.js';

function spawnWorker(): Worker {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./worker.js', import.meta.url));
  // Running from the sources through tsx (the tests): a worker does not inherit tsx's loader, so it
  // registers tsx itself before importing worker.ts.
  const source = new URL('./worker.ts', import.meta.url).href;
  const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); });`;
  return new Worker(bootstrap, { eval: true });
}

export class ThreadPool {
  private closed = false;
  private failure: Error | null = null;

  private constructor(
    private readonly control: Int32Array,
    private readonly program: ForwardProgram,
    private readonly workers: Worker[],
    private readonly serving: Promise<void>[],
  ) {}

  static async start(module: WebAssembly.Module, memory: WebAssembly.Memory, layout: ModelLayout, program: ForwardProgram): Promise<ThreadPool> {
    const control = new Int32Array(memory.buffer, 0, CONTROL.slots);
    const workers: Worker[] = [];
    const serving: Promise<void>[] = [];
    try {
      for (let thread = 1; thread < layout.threads; thread++) {
        const worker = spawnWorker();
        workers.push(worker);
        const remote = Comlink.wrap<WorkerApi>(nodeEndpoint(worker));
        await remote.init(module, memory, layout, thread);
        serving.push(Promise.resolve(remote.serve(Atomics.load(control, CONTROL.stepSequence))));
      }
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw new WorkerError(`Starting the worker pool failed: ${(error as Error).message}`, { cause: error });
    }
    const pool = new ThreadPool(control, program, workers, serving);
    for (const [index, worker] of workers.entries()) {
      worker.on('error', (error) => pool.onWorkerDeath(index + 1, error));
      worker.on('exit', (code) => { if (!pool.closed) pool.onWorkerDeath(index + 1, new Error(`exited with code ${code}`)); });
    }
    for (const promise of serving) promise.catch((error) => pool.onWorkerDeath(-1, error));
    return pool;
  }

  get threads(): number {
    return this.workers.length + 1;
  }

  private onWorkerDeath(thread: number, error: Error): void {
    if (this.closed) return;
    this.failure ??= new WorkerError(`Worker thread ${thread} failed: ${error.message}. The model is closed; load it again.`, { cause: error });
    reportFailure(this.control, thread);
  }

  /** Runs one forward whose parameters are already in the control block. */
  runStep(): void {
    if (this.failure) throw this.failure;
    if (this.closed) throw new WorkerError('The thread pool is closed.');
    Atomics.store(this.control, CONTROL.command, COMMAND_FORWARD);
    if (this.workers.length > 0) {
      Atomics.add(this.control, CONTROL.stepSequence, 1);
      Atomics.notify(this.control, CONTROL.stepSequence);
    }
    try {
      this.program.run();
    } catch (error) {
      reportFailure(this.control, 0);
      this.failure ??= error instanceof ThreadFailedError
        ? new WorkerError(`Worker thread ${error.thread} failed during a forward pass. The model is closed; load it again.`, { cause: error })
        : new WorkerError(`The forward pass failed on the coordinating thread: ${(error as Error).message}`, { cause: error });
      throw this.failure;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    Atomics.store(this.control, CONTROL.command, COMMAND_SHUTDOWN);
    Atomics.add(this.control, CONTROL.stepSequence, 1);
    Atomics.notify(this.control, CONTROL.stepSequence);
    await Promise.race([Promise.allSettled(this.serving), new Promise((resolve) => setTimeout(resolve, 1000))]);
    await Promise.all(this.workers.map((worker) => worker.terminate()));
  }
}
