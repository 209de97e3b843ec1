// Second thread of the kernel benchmarks: instantiates the kernels on the shared memory and runs the
// call that the main thread describes in the job block, then reports completion. The job block has
// Int32 slots at byte `jobs` (0 sequence, 1 finished calls, 2 kernel index into `names`, 3 argument
// count, 4 stop flag) and f64 arguments from byte jobs + 64.
import { parentPort, workerData } from 'node:worker_threads';

const { module, memory, jobs, names } = workerData;
const instance = new WebAssembly.Instance(module, { env: { memory } });
const slots = new Int32Array(memory.buffer, jobs, 16);
const args = new Float64Array(memory.buffer, jobs + 64, 24);
// The main thread only increments the sequence, which starts at 0: a call made before this worker was
// listening is still seen as a change.
let seen = 0;
parentPort.postMessage('ready');
for (;;) {
  Atomics.wait(slots, 0, seen);
  seen = Atomics.load(slots, 0);
  if (Atomics.load(slots, 4) !== 0) break;
  const kernel = instance.exports[names[slots[2]]];
  kernel(...Array.from(args.subarray(0, slots[3])));
  Atomics.add(slots, 1, 1);
  Atomics.notify(slots, 1);
}
