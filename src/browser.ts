// Entry of the browser and Cloudflare Workers builds: the whole library plus loadModelInWorker, which
// keeps a page's main thread free while a model runs.
export * from './index.js';
export { loadModelInWorker, type CanvasStepEvent, type WorkerGenerateEvent, type WorkerGenerateOptions, type WorkerGeneration, type WorkerModel, type WorkerModelOptions } from './worker-model.js';
