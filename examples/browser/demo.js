// The demo page: the model runs in a worker (loadModelInWorker), so this thread only draws. Query
// parameters: model (URL of a Hugging Face folder, default the embedded model), threads, and autorun=1
// to generate once the model is loaded (the browser test uses it).
import { loadModelInWorker } from '../../dist/browser/index.js';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const setState = (state) => { document.body.dataset.state = state; };

for (const id of ['steps', 'threshold']) {
  $(id).addEventListener('input', () => { $(`${id}-value`).value = $(id).value; });
}

/** Draws the canvas: committed tokens as text, masked positions as grey boxes, this step's commits highlighted. */
function drawCanvas(event) {
  const fresh = new Set(event.committed);
  const nodes = event.canvasText.map((text, index) => {
    const span = document.createElement('span');
    if (text === null) span.className = 'mask';
    else {
      span.textContent = text;
      if (fresh.has(index)) span.className = 'fresh';
    }
    return span;
  });
  $('canvas').replaceChildren(...nodes);
}

let model;
let controller = null;

async function generate() {
  controller = new AbortController();
  $('run').disabled = true;
  $('stop').disabled = false;
  setState('running');
  const threshold = Number($('threshold').value);
  const options = {
    maxTokens: Number($('max-tokens').value),
    steps: Number($('steps').value),
    threshold: threshold > 0 ? threshold : null,
    signal: controller.signal,
  };
  const started = performance.now();
  let committed = 0;
  let steps = 0;
  try {
    const generation = model.generate($('prompt').value, options);
    for await (const event of generation) {
      if (event.type !== 'step') continue;
      drawCanvas(event);
      steps += 1;
      committed += event.committed.length;
      const seconds = (performance.now() - started) / 1000;
      $('stats').textContent = `${model.threads} thread(s) · step ${event.forward} · ${(committed / seconds).toFixed(1)} tokens/s so far`;
    }
    const result = await generation.result;
    const { stats } = result;
    $('stats').textContent = `${model.threads} thread(s) · ${stats.generatedTokens} tokens · ${stats.tokensPerSecond.toFixed(1)} tokens/s · ` +
      `${stats.forwards} forwards · ${stats.tokensPerForward.toFixed(2)} tokens per forward`;
    window.demoResult = { text: result.text, threads: model.threads, steps, tokensPerSecond: stats.tokensPerSecond, generatedTokens: stats.generatedTokens };
    setState('done');
  } catch (error) {
    $('status').textContent = `Generation failed: ${error.message}`;
    setState(error.name === 'AbortError' ? 'ready' : 'error');
  } finally {
    controller = null;
    $('run').disabled = false;
    $('stop').disabled = true;
  }
}

$('controls').addEventListener('submit', (event) => {
  event.preventDefault();
  void generate();
});
$('stop').addEventListener('click', () => controller?.abort());

try {
  const threads = params.has('threads') ? Number(params.get('threads')) : undefined;
  model = await loadModelInWorker(params.get('model') ?? undefined, {
    threads,
    onProgress: ({ loadedBytes, totalBytes }) => {
      $('status').textContent = `Loading the model… ${Math.round((100 * loadedBytes) / totalBytes)}%`;
    },
  });
  $('status').textContent = `Model loaded: ${model.threads} thread(s), ${crossOriginIsolated ? 'cross-origin isolated' : 'not cross-origin isolated'}.`;
  $('run').disabled = false;
  setState('ready');
  if (params.get('autorun') === '1') await generate();
} catch (error) {
  $('status').textContent = `Loading failed: ${error.message}`;
  window.demoError = String(error.stack ?? error);
  setState('error');
}
