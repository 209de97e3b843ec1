// Child process of the memory suite: loads one model, runs one forward of 32 positions over 128 cached
// ones, and prints {weightBytes, kvCacheBytes, loadMs, peakRssBytes, baselineRssBytes} as JSON. A fresh
// process makes the peak RSS that of this model alone (process.resourceUsage().maxRSS is in KiB). The
// baseline is the RSS after the engine's modules are imported, before the model is opened.
import { WasmEngine } from '../src/runtime/engine.js';
import { openCheckpoint } from '../src/models/load-checkpoint.js';

const [path, int8Flag, contextFlag] = process.argv.slice(2);
if (!path) throw new Error('usage: load-child.ts MODEL.gguf [int8 true|false] [contextLength]');
const int8 = int8Flag === 'true';
const contextLength = Number(contextFlag ?? 1024);

const baselineRssBytes = process.memoryUsage().rss;
const started = performance.now();
const checkpoint = await openCheckpoint(path);
const engine = await WasmEngine.load(checkpoint, { threads: 1, int8, contextLength, maxRows: 256, log: () => {} });
await checkpoint.close();
const loadMs = performance.now() - started;

const config = engine.config;
await engine.forward({ tokens: new Int32Array(128), start: 0, attention: 'causal', logitRows: new Int32Array(0) });
await engine.forward({ tokens: new Int32Array(32), start: 128, attention: 'full', logitRows: Int32Array.from({ length: 32 }, (_, i) => i) });
const kvCacheBytes = 2 * config.nLayers * contextLength * config.nKvHeads * config.headDim * 4;
console.log(JSON.stringify({
  weightBytes: engine.layout.weightBytes,
  kvCacheBytes,
  loadMs,
  peakRssBytes: process.resourceUsage().maxRSS * 1024,
  baselineRssBytes,
}));
await engine.dispose();
