// Worker entry that owns a model for a browser page. A page's main thread may not block in
// Atomics.wait, which thread 0 of the pool does at every barrier, so the page loads the model in this
// worker (see loadModelInWorker) and talks to it through Comlink. The compute workers of the pool are
// started from here.
import * as Comlink from 'comlink';
import { loadModel, type LoadModelOptions } from '../index.js';
import type { ForwardEngine } from '../models/engine-types.js';
import { Model, type GenerateOptions, type GenerateResult, type StepEvent, type TextEvent } from '../model.js';

/** A step event with the text of every canvas position (null where it is still masked). */
export interface CanvasStepEvent extends StepEvent {
  canvasText: (string | null)[];
}

export type WorkerGenerateEvent = CanvasStepEvent | TextEvent;

/** Options that can cross to the worker: GenerateOptions without the signal and the callback. */
export type WorkerGenerateOptions = Omit<GenerateOptions, 'signal' | 'onStep'>;

export interface WorkerModelInfo {
  threads: number;
  contextLength: number;
  vocab: number;
}

/** Resolves after the worker's event loop has run once, so that queued messages (an abort) are handled. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      channel.port1.close();
      resolve();
    };
    channel.port2.postMessage(null);
  });
}

/**
 * Wraps an engine so that each forward first yields to the event loop. Without this a request runs
 * to its end in microtasks and an abort message from the page waits until it has finished.
 */
function yieldingEngine(engine: ForwardEngine): ForwardEngine {
  return new Proxy(engine, {
    get(target, property, receiver) {
      if (property !== 'forward') return Reflect.get(target, property, receiver);
      return async (...args: Parameters<ForwardEngine['forward']>) => {
        await yieldToEventLoop();
        return target.forward(...args);
      };
    },
  });
}

let model: Model | null = null;
const requests = new Map<number, AbortController>();

function requireModel(): Model {
  if (!model) throw new Error('No model is loaded in this worker: call load() first.');
  return model;
}

const api = {
  async load(
    source: string | ArrayBuffer | Uint8Array | null,
    options: Omit<LoadModelOptions, 'signal' | 'onProgress' | 'log'>,
    onProgress?: LoadModelOptions['onProgress'],
  ): Promise<WorkerModelInfo> {
    await model?.dispose();
    model = null;
    const loaded = await loadModel(source ?? undefined, { ...options, onProgress });
    model = new Model(yieldingEngine(loaded.engine), loaded.tokenizer, loaded.config);
    const engine = loaded.engine as ForwardEngine & { threads?: number };
    return { threads: engine.threads ?? 1, contextLength: engine.contextLength, vocab: loaded.config.vocab };
  },

  async run(
    id: number,
    request: { prompt: string | number[] } | { messages: { role: string; content: string }[] },
    options: WorkerGenerateOptions,
    onEvent: (event: WorkerGenerateEvent) => void,
  ): Promise<GenerateResult> {
    const current = requireModel();
    const controller = new AbortController();
    requests.set(id, controller);
    const tokenizer = current.tokenizer;
    // The callback is a Comlink proxy on its own message port, while the result travels on the worker's
    // port. Waiting for the reply to the last callback keeps the result behind the last event.
    let lastDelivery: unknown;
    try {
      const generateOptions = { ...options, signal: controller.signal };
      const generation = 'messages' in request
        ? current.chat(request.messages, generateOptions)
        : current.generate(request.prompt, generateOptions);
      for await (const event of generation) {
        if (event.type === 'text') {
          lastDelivery = onEvent(event);
          continue;
        }
        const canvasText = Array.from(event.canvas, (token): string | null => {
          if (token === event.maskId) return null;
          return tokenizer ? tokenizer.decode([token]) : String(token);
        });
        lastDelivery = onEvent({ ...event, canvasText });
      }
      const result = await generation.result;
      await lastDelivery;
      return result;
    } finally {
      requests.delete(id);
      // Called through Comlink, onEvent is a proxy whose message port stays open until released.
      (onEvent as Partial<Comlink.Remote<object>>)[Comlink.releaseProxy]?.();
    }
  },

  abort(id: number): void {
    requests.get(id)?.abort();
  },

  decode(tokens: number[]): string {
    const tokenizer = requireModel().tokenizer;
    if (!tokenizer) throw new Error('The loaded model has no tokenizer.');
    return tokenizer.decode(tokens, { skipSpecialTokens: true });
  },

  async dispose(): Promise<void> {
    await model?.dispose();
    model = null;
  },
};

export type CoordinatorApi = typeof api;

Comlink.expose(api);
