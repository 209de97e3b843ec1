// What the JavaScript runtime offers the engine: which runtime this is, whether a forward can run on
// several threads (a shared WebAssembly.Memory plus workers that may block in Atomics.wait), and how
// many hardware threads there are. The engine calls threadSupport once per load and logs its choice once
// per process.

/** The runtimes dllm-wasm is built and tested for. 'browser' covers pages and their workers. */
export type RuntimeName = 'node' | 'deno' | 'browser' | 'workerd' | 'unknown';

export interface ThreadSupport {
  runtime: RuntimeName;
  /** True when workers can share one WebAssembly.Memory and this thread may block in Atomics.wait. */
  shared: boolean;
  /** Hardware threads reported by the runtime (1 when it reports none). */
  hardwareThreads: number;
  /** Reason that `shared` is false, for the log line; empty when it is true. */
  reason: string;
}

interface RuntimeGlobals {
  Deno?: { version?: { deno?: string } };
  process?: { versions?: { node?: string } };
  navigator?: { userAgent?: string; hardwareConcurrency?: number };
  window?: unknown;
  document?: unknown;
  WorkerGlobalScope?: unknown;
  crossOriginIsolated?: boolean;
}

const runtimeGlobals = globalThis as unknown as RuntimeGlobals;

/** Identifies the runtime from its globals. Deno is checked first because it also defines `process`. */
export function detectRuntime(): RuntimeName {
  if (runtimeGlobals.Deno?.version?.deno) return 'deno';
  if (runtimeGlobals.navigator?.userAgent === 'Cloudflare-Workers') return 'workerd';
  if (runtimeGlobals.process?.versions?.node) return 'node';
  if (runtimeGlobals.window !== undefined || runtimeGlobals.WorkerGlobalScope !== undefined) return 'browser';
  return 'unknown';
}

/** True on a browser page's main thread, where Atomics.wait throws. */
export function isBrowserMainThread(): boolean {
  return detectRuntime() === 'browser' && runtimeGlobals.document !== undefined;
}

async function countHardwareThreads(runtime: RuntimeName): Promise<number> {
  if (runtime === 'node') {
    // Node 20 has no navigator; node:os is loaded here so that other runtimes never import it.
    const os = await import('node:os');
    return os.availableParallelism();
  }
  const reported = runtimeGlobals.navigator?.hardwareConcurrency;
  return typeof reported === 'number' && reported >= 1 ? reported : 1;
}

/** Reports whether this thread can run a multithreaded forward, and why not when it cannot. */
export async function threadSupport(): Promise<ThreadSupport> {
  const runtime = detectRuntime();
  const hardwareThreads = await countHardwareThreads(runtime);
  let reason = '';
  if (runtime === 'workerd') {
    reason = 'Cloudflare Workers run one thread per isolate';
  } else if (runtime === 'browser' && runtimeGlobals.crossOriginIsolated !== true) {
    // typeof SharedArrayBuffer is not enough: some browsers define it but refuse to share it.
    reason = 'the page is not cross-origin isolated (serve it with Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp)';
  } else if (isBrowserMainThread()) {
    reason = "a page's main thread cannot block in Atomics.wait (load the model in a worker)";
  } else if (runtime === 'unknown' && typeof SharedArrayBuffer === 'undefined') {
    reason = 'this runtime has no SharedArrayBuffer';
  }
  return { runtime, shared: reason === '', hardwareThreads, reason };
}

export interface ThreadChoice {
  threads: number;
  /** Whether the memory is shared (the shared-memory kernel build and a worker pool). */
  shared: boolean;
  /** One line describing the choice, as logged. */
  description: string;
}

/** Maximum thread count chosen when the caller requests none. */
export const DEFAULT_MAX_THREADS = 8;

/**
 * Picks the thread count: `requested` when the runtime allows it, else one thread with a non-shared
 * memory. Without a request, the hardware threads up to DEFAULT_MAX_THREADS.
 */
export function chooseThreads(support: ThreadSupport, requested?: number): ThreadChoice {
  const count = requested ?? Math.min(DEFAULT_MAX_THREADS, support.hardwareThreads);
  if (count > 1 && !support.shared) {
    return {
      threads: 1,
      shared: false,
      description: `dllm-wasm: ${support.runtime}, 1 thread with the single-thread kernels instead of ${count}: ${support.reason}.`,
    };
  }
  const threads = Math.max(1, count);
  const kind = threads > 1 ? 'shared memory and the worker pool' : 'the single-thread kernels';
  // More threads than hardware threads make every barrier wait for a descheduled peer.
  const oversubscribed = threads > support.hardwareThreads
    ? ` Warning: this machine has ${support.hardwareThreads} hardware threads, so forwards run slower than with ${support.hardwareThreads}.`
    : '';
  return {
    threads,
    shared: threads > 1,
    description: `dllm-wasm: ${support.runtime}, ${threads} thread${threads > 1 ? 's' : ''} with ${kind}.${oversubscribed}`,
  };
}

/** Writes diagnostics to stderr on Node and Deno (stdout may carry a program's output) and to console.info elsewhere. */
export function defaultLog(message: string): void {
  const runtime = detectRuntime();
  if (runtime === 'node' || runtime === 'deno') console.error(message);
  else console.info(message);
}

const loggedChoices = new Set<string>();

/** Logs each distinct thread choice once per process, so that loading many models does not repeat it. */
export function logThreadChoice(choice: ThreadChoice, log: (message: string) => void = defaultLog): void {
  if (loggedChoices.has(choice.description)) return;
  loggedChoices.add(choice.description);
  log(choice.description);
}

// Set by build/build-js.mjs to the embedded model's folder relative to each bundle; undefined when
// running from the sources, where this file sits in src/runtime/.
declare const DLLM_EMBEDDED_MODEL_DIR: string | undefined;

/**
 * Returns the URL of the embedded model's folder (a file: URL on Node and Deno, http(s) in browsers).
 * Throws in runtimes whose modules have no URL, such as Cloudflare Workers: pass a model there.
 */
export function embeddedModelUrl(): URL {
  const relative = typeof DLLM_EMBEDDED_MODEL_DIR === 'string' ? DLLM_EMBEDDED_MODEL_DIR : '../../models/sdar-micro/';
  try {
    return new URL(relative, import.meta.url);
  } catch (error) {
    throw new Error(
      `The embedded model has no URL in this runtime (${detectRuntime()}, module URL ${String(import.meta.url)}). ` +
        'Pass the model to loadModel, for example memoryFolder({ "config.json": ..., "model.safetensors": ... }).',
      { cause: error },
    );
  }
}
