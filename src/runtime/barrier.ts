// The data plane between threads: a barrier and a step signal over int32 slots of the shared memory.
// Waits spin briefly, because a barrier is usually met within microseconds, and then sleep in
// Atomics.wait, so a thread never spins unboundedly. Every wait also watches the error slot, so one
// failed thread releases all others instead of leaving them blocked.
import { CONTROL } from './layout.js';

const SPIN_LIMIT = 2000;
const WAIT_SLICE_MS = 100;
// A thread that sleeps this long at one barrier assumes a peer died without reporting, as a terminated
// worker cannot. NOTE: the limit is an estimate. A whole forward of a synthetic 8B Q4_0 model on
// 2 threads took about 15 s here, so one kernel call stays far below it. Each thread has its own
// copy, and tests lower the coordinating thread's to detect a terminated worker quickly.
export const stallLimit = { ms: 120_000 };

export class ThreadFailedError extends Error {
  constructor(readonly thread: number) {
    super(thread < 0 ? `a thread stopped responding during a forward pass` : `thread ${thread} failed during a forward pass`);
  }
}

/** Waits until slot `index` differs from `seen`, or throws once another thread reports an error. */
export function waitForChange(control: Int32Array, index: number, seen: number): number {
  for (let i = 0; i < SPIN_LIMIT; i++) {
    const value = Atomics.load(control, index);
    if (value !== seen) return value;
  }
  const startedAt = Date.now();
  for (;;) {
    if (Atomics.load(control, CONTROL.error) !== 0) throw new ThreadFailedError(Atomics.load(control, CONTROL.errorThread));
    if (Date.now() - startedAt > stallLimit.ms) {
      Atomics.store(control, CONTROL.error, 1);
      throw new ThreadFailedError(-1);
    }
    Atomics.wait(control, index, seen, WAIT_SLICE_MS);
    const value = Atomics.load(control, index);
    if (value !== seen) return value;
  }
}

/** Sense-reversing barrier for `threads` participants; the last to arrive opens the next generation. */
export function arriveAndWait(control: Int32Array, threads: number): void {
  if (threads === 1) return;
  const generation = Atomics.load(control, CONTROL.barrierGeneration);
  if (Atomics.add(control, CONTROL.barrierCount, 1) === threads - 1) {
    Atomics.store(control, CONTROL.barrierCount, 0);
    Atomics.add(control, CONTROL.barrierGeneration, 1);
    Atomics.notify(control, CONTROL.barrierGeneration);
    return;
  }
  waitForChange(control, CONTROL.barrierGeneration, generation);
}

/** Marks the step as failed by `thread` and wakes every sleeping thread. */
export function reportFailure(control: Int32Array, thread: number): void {
  if (Atomics.compareExchange(control, CONTROL.error, 0, 1) === 0) {
    Atomics.store(control, CONTROL.errorThread, thread);
  }
  Atomics.notify(control, CONTROL.barrierGeneration);
  Atomics.notify(control, CONTROL.stepSequence);
}
