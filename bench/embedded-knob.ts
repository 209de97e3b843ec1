// The speed/quality knob on the embedded model: tokens per forward and tokens/s at confidence thresholds
// 0.5, 0.7, 0.9 and at 1, 2, 4 steps per block (greedy, block 4), with a sample output for each.
// Prints a markdown table for models/sdar-micro/MODEL_CARD.md.
//
//   node --import tsx bench/embedded-knob.ts [--threads N] [--max-tokens N]
import { parseArgs } from 'node:util';
import { loadModel } from '../src/index.js';

const { values } = parseArgs({ options: { threads: { type: 'string', default: '2' }, 'max-tokens': { type: 'string', default: '96' } } });
const threads = Number(values.threads);
const maxTokens = Number(values['max-tokens']);

const PROMPTS = [
  'Elizabeth walked into the garden, and',
  'It was a fine morning, and Mr. Knightley',
  'Her sister had always said that',
];

const SETTINGS: { label: string; options: Record<string, number | null> }[] = [
  { label: 'threshold 0.5', options: { threshold: 0.5 } },
  { label: 'threshold 0.7', options: { threshold: 0.7 } },
  { label: 'threshold 0.9', options: { threshold: 0.9 } },
  { label: '1 step per block', options: { stepsPerBlock: 1, threshold: null } },
  { label: '2 steps per block', options: { stepsPerBlock: 2, threshold: null } },
  { label: '4 steps per block', options: { stepsPerBlock: 4, threshold: null } },
];

const model = await loadModel(undefined, { threads });
try {
  // One untimed run so that the first measured request does not pay for compilation warm-up.
  await model.generate(PROMPTS[0], { maxTokens: 16 }).result;

  console.log(`| setting | tokens/forward | tokens/s | sample (first prompt: "${PROMPTS[0]}") |`);
  console.log('|---|---:|---:|---|');
  for (const { label, options } of SETTINGS) {
    let tokens = 0;
    let forwards = 0;
    let seconds = 0;
    let sample = '';
    for (const prompt of PROMPTS) {
      const result = await model.generate(prompt, { maxTokens, temperature: 0, ...options }).result;
      tokens += result.stats.generatedTokens;
      forwards += result.stats.generatedTokens / result.stats.tokensPerForward;
      seconds += result.stats.generatedTokens / result.stats.tokensPerSecond;
      if (!sample) sample = result.text.replace(/\s+/g, ' ').trim();
    }
    const perForward = (tokens / forwards).toFixed(2);
    const perSecond = (tokens / seconds).toFixed(0);
    console.log(`| ${label} | ${perForward} | ${perSecond} | ${sample.slice(0, 160).replace(/\|/g, '\\|')}… |`);
  }
} finally {
  await model.dispose();
}
