// A model that lives in a dedicated worker, for browser pages: the page's main thread never runs a
// forward and never blocks. The worker (runtime/coordinator.ts) owns the engine and starts the compute
// workers; this side turns its callbacks back into the async iterables that Model returns.
import * as Comlink from 'comlink';
import type { LoadProgress } from './runtime/engine.js';
import type { ChatMessage, GenerateResult } from './model.js';
import type { CoordinatorApi, WorkerGenerateEvent, WorkerGenerateOptions, WorkerModelInfo } from './runtime/coordinator.js';

export type { CanvasStepEvent, WorkerGenerateEvent, WorkerGenerateOptions, WorkerModelInfo } from './runtime/coordinator.js';

export interface WorkerModelOptions {
  threads?: number;
  contextLength?: number;
  onProgress?: (progress: LoadProgress) => void;
}

/** One request running in the worker. Iterate it for events, or await `result`, or both. */
export interface WorkerGeneration extends AsyncIterable<WorkerGenerateEvent> {
  readonly result: Promise<GenerateResult>;
}

export interface WorkerModel extends WorkerModelInfo {
  generate(prompt: string | number[], options?: WorkerGenerateOptions & { signal?: AbortSignal }): WorkerGeneration;
  chat(messages: ChatMessage[], options?: WorkerGenerateOptions & { signal?: AbortSignal }): WorkerGeneration;
  decode(tokens: number[]): Promise<string>;
  /** Releases the model and terminates the worker. */
  dispose(): Promise<void>;
}

let nextRequestId = 1;

function startRequest(
  remote: Comlink.Remote<CoordinatorApi>,
  request: Parameters<CoordinatorApi['run']>[1],
  options: WorkerGenerateOptions & { signal?: AbortSignal },
): WorkerGeneration {
  const { signal, ...rest } = options;
  const id = nextRequestId++;
  const events: WorkerGenerateEvent[] = [];
  let finished = false;
  let failure: unknown = null;
  let wake: (() => void) | null = null;
  const notify = () => {
    const resolve = wake;
    wake = null;
    resolve?.();
  };

  const onAbort = () => void remote.abort(id);
  signal?.addEventListener('abort', onAbort, { once: true });
  const onEvent = Comlink.proxy((event: WorkerGenerateEvent) => {
    events.push(event);
    notify();
  });
  const result = remote.run(id, request, rest, onEvent).then(
    (value) => value,
    (error: unknown) => {
      failure = error;
      throw error;
    },
  ).finally(() => {
    finished = true;
    signal?.removeEventListener('abort', onAbort);
    notify();
  });
  // A caller who only iterates gets the error from the iterator.
  result.catch(() => {});
  if (signal?.aborted) onAbort();

  return {
    result: result as Promise<GenerateResult>,
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const event = events.shift();
        if (event) {
          yield event;
          continue;
        }
        if (finished) {
          if (failure !== null) throw failure;
          return;
        }
        await new Promise<void>((resolve) => { wake = resolve; });
      }
    },
  };
}

/**
 * Loads a model in a new module worker and returns a handle to it. `source` is GGUF bytes or the URL of
 * a GGUF file or of a Hugging Face folder ending in `/`. A relative URL is resolved against the page.
 * Without a source the worker loads the embedded model. Threads are
 * chosen inside the worker: several where the page is cross-origin isolated, else one.
 */
export async function loadModelInWorker(source?: string | URL | ArrayBuffer | Uint8Array, options: WorkerModelOptions = {}): Promise<WorkerModel> {
  const worker = new Worker(new URL('./coordinator.js', import.meta.url), { type: 'module' });
  const remote = Comlink.wrap<CoordinatorApi>(worker);
  const { onProgress, ...loadOptions } = options;
  let info: WorkerModelInfo;
  try {
    // The worker resolves relative URLs against its own script, so resolve them against the page here.
    const sourceForWorker = source instanceof URL || typeof source === 'string' ? new URL(source, globalThis.location?.href).href : source ?? null;
    info = await remote.load(sourceForWorker, loadOptions, onProgress ? Comlink.proxy(onProgress) : undefined);
  } catch (error) {
    worker.terminate();
    throw error;
  }
  return {
    ...info,
    generate: (prompt, requestOptions = {}) => startRequest(remote, { prompt }, requestOptions),
    chat: (messages, requestOptions = {}) => startRequest(remote, { messages }, requestOptions),
    decode: (tokens) => remote.decode(tokens),
    async dispose() {
      try {
        await remote.dispose();
      } finally {
        remote[Comlink.releaseProxy]();
        worker.terminate();
      }
    },
  };
}
