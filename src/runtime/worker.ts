// Worker entry of the thread pool. Comlink carries the control plane (instantiate, serve, and the
// reply when serving ends); the forward passes themselves are driven through the shared memory, so
// no message crosses threads inside a step. The same script runs as a Node worker_threads worker and
// as a module Web Worker (Deno, browsers).
import * as Comlink from 'comlink';
import { reportFailure } from './barrier.js';
import { instantiateKernels } from './kernels.js';
import { COMMAND_SHUTDOWN, CONTROL, type ModelLayout } from './layout.js';
import { ForwardProgram } from './program.js';
import { ShardedProgram } from './shards.js';

let program: ForwardProgram | ShardedProgram | null = null;
let control: Int32Array | null = null;
let threadIndex = -1;

const api = {
  init(module: WebAssembly.Module, memory: WebAssembly.Memory, layout: ModelLayout, thread: number): void {
    const kernels = instantiateKernels(module, memory);
    program = new ForwardProgram(kernels, layout, memory, thread);
    control = new Int32Array(memory.buffer, 0, CONTROL.slots);
    threadIndex = thread;
  },

  /** As init for a model split over several memories; the first memory's control block drives every step. */
  initShards(module: WebAssembly.Module, memories: WebAssembly.Memory[], layouts: ModelLayout[], thread: number): void {
    program = new ShardedProgram(module, memories, layouts, thread);
    control = new Int32Array(memories[0].buffer, 0, CONTROL.slots);
    threadIndex = thread;
  },

  /**
   * Runs every step the coordinator starts until it sends the shutdown command. `sequence` is the step
   * counter when the pool started: the coordinator may start the first step before this call arrives.
   */
  serve(sequence: number): void {
    if (!program || !control) throw new Error('serve() called before init()');
    let seen = sequence;
    for (;;) {
      Atomics.wait(control, CONTROL.stepSequence, seen);
      const current = Atomics.load(control, CONTROL.stepSequence);
      if (current === seen) continue;
      seen = current;
      if (Atomics.load(control, CONTROL.command) === COMMAND_SHUTDOWN) return;
      try {
        program.run();
      } catch (error) {
        reportFailure(control, threadIndex);
        // A failed step leaves the pool unusable; the coordinator closes it.
        throw error;
      }
    }
  },
};

export type WorkerApi = typeof api;

const webWorkerScope = globalThis as unknown as { WorkerGlobalScope?: unknown; Deno?: unknown };
if (webWorkerScope.WorkerGlobalScope !== undefined || webWorkerScope.Deno !== undefined) {
  // Exposed before any await: a Web Worker drops messages that arrive while no listener is attached.
  Comlink.expose(api);
} else {
  // Node keeps messages queued on parentPort until a listener is attached.
  const { parentPort } = await import('node:worker_threads');
  const { default: nodeEndpoint } = await import('comlink/dist/esm/node-adapter.mjs');
  if (!parentPort) throw new Error('the dllm-wasm worker script must run in a worker thread, not as a main script');
  Comlink.expose(api, nodeEndpoint(parentPort));
}
