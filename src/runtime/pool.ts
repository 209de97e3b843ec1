// The thread pool: the calling thread is thread 0 and does its share of every kernel call; workers
// 1..threads-1 each own a kernel instance on the same shared memory. Starting a step is one atomic
// increment and a notify; the step ends at the program's last barrier. Workers are Node worker_threads
// on Node and module Web Workers on Deno and in browsers; both speak Comlink.
import * as Comlink from 'comlink';
import { WorkerError } from '../errors.js';
import { reportFailure, ThreadFailedError } from './barrier.js';
import { COMMAND_FORWARD, COMMAND_SHUTDOWN, CONTROL, type ModelLayout } from './layout.js';
import { detectRuntime } from './platform.js';
import type { ForwardProgram } from './program.js';
import type { WorkerApi } from './worker.js';

/** One compute worker, whichever kind of worker the runtime provides. */
interface PoolWorker {
  readonly endpoint: Comlink.Endpoint;
  /** Calls `listener` when the worker crashes or exits. */
  onDeath(listener: (error: Error) => void): void;
  terminate(): Promise<void>;
}

async function spawnNodeWorker(): Promise<PoolWorker> {
  const { Worker } = await import('node:worker_threads');
  const { default: nodeEndpoint } = await import('comlink/dist/esm/node-adapter.mjs');
  let worker: import('node:worker_threads').Worker;
  if (import.meta.url.endsWith('.ts')) {
    // Running from the sources through tsx (the tests): a worker does not inherit tsx's loader, so it
    // registers tsx itself before importing worker.ts.
    const source = new URL('./worker.ts', import.meta.url).href;
    const bootstrap = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(source)}); });`;
    worker = new Worker(bootstrap, { eval: true });
  } else {
    worker = new Worker(new URL('./worker.js', import.meta.url));
  }
  return {
    endpoint: nodeEndpoint(worker),
    onDeath(listener) {
      worker.on('error', listener);
      worker.on('exit', (code) => listener(new Error(`exited with code ${code}`)));
    },
    async terminate() {
      await worker.terminate();
    },
  };
}

function spawnWebWorker(): PoolWorker {
  // Written as one expression so that bundlers (Vite, webpack, esbuild) recognise the worker script
  // and emit it beside the bundle.
  const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  return {
    endpoint: worker,
    onDeath(listener) {
      worker.addEventListener('error', (event) => {
        event.preventDefault();
        listener(new Error(event.message || 'the worker script failed to load or threw'));
      });
      worker.addEventListener('messageerror', () => listener(new Error('a message from the worker could not be deserialised')));
    },
    async terminate() {
      worker.terminate();
    },
  };
}

function spawnWorker(): Promise<PoolWorker> {
  return detectRuntime() === 'node' ? spawnNodeWorker() : Promise.resolve(spawnWebWorker());
}

export class ThreadPool {
  private closed = false;
  private failure: Error | null = null;

  private constructor(
    private readonly control: Int32Array,
    private readonly program: Pick<ForwardProgram, 'run'>,
    private readonly workers: PoolWorker[],
    private readonly serving: Promise<void>[],
  ) {}

  /** `shards` lists every memory and its layout when the model is split over several memories (memory is the first). */
  static async start(
    module: WebAssembly.Module, memory: WebAssembly.Memory, layout: ModelLayout, program: Pick<ForwardProgram, 'run'>,
    shards?: { memories: WebAssembly.Memory[]; layouts: ModelLayout[] },
  ): Promise<ThreadPool> {
    const control = new Int32Array(memory.buffer, 0, CONTROL.slots);
    const workers: PoolWorker[] = [];
    const serving: Promise<void>[] = [];
    try {
      for (let thread = 1; thread < layout.threads; thread++) {
        const worker = await spawnWorker();
        workers.push(worker);
        const remote = Comlink.wrap<WorkerApi>(worker.endpoint);
        if (shards) await remote.initShards(module, shards.memories, shards.layouts, thread);
        else await remote.init(module, memory, layout, thread);
        serving.push(Promise.resolve(remote.serve(Atomics.load(control, CONTROL.stepSequence))));
      }
    } catch (error) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw new WorkerError(`Starting the worker pool failed: ${(error as Error).message}`, { cause: error });
    }
    const pool = new ThreadPool(control, program, workers, serving);
    for (const [index, worker] of workers.entries()) {
      worker.onDeath((error) => pool.onWorkerDeath(index + 1, error));
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
