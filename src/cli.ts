#!/usr/bin/env node
// The `dllm` command. `generate` streams a continuation, optionally redrawing the canvas as it is
// refined. `chat` runs a conversation read line by line from stdin. `logits` prints the raw logits of a
// token sequence as JSON for comparison with a reference.
import { createInterface } from 'node:readline';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, ContextOverflowError } from './errors.js';
import { loadModel } from './index.js';
import {
  defaultStrategy, STRATEGY_NAMES, type ChatMessage, type GenerateOptions, type GenerateResult, type Generation, type StepEvent, type TokenizerLike,
} from './model.js';
import type { AttentionKind } from './models/types.js';

const MAIN_HELP = `Usage: dllm <command> [flags]

Runs diffusion language models on the CPU through WebAssembly.

Commands:
  generate   generate text from a prompt
  chat       chat with the model: one user message per line on stdin, history kept
  logits     print the raw logits of a token sequence as JSON

Run \`dllm <command> --help\` for the flags of a command.
Set DLLM_DEBUG=1 to print stack traces on errors.`;

/** Decoding flags shared by `generate` and `chat`. */
const DECODING_FLAGS = `Decoding (defaults depend on the strategy and the model; see docs/decoding.md):
  --strategy NAME          ${STRATEGY_NAMES.join(', ')}
                           (default: the model family's own)
  --max-tokens N           tokens to generate, at most (default: 128)
  --block N                block length in tokens
  --steps N                refinement steps over the whole generation, spread over the blocks
  --steps-per-block N      refinement steps per block; excludes --steps
  --threshold X            commit every position with confidence >= X, in (0, 1]; 'none' disables
  --temperature X          sampling temperature; 0 is greedy (default: 0)
  --top-k N                sample among the N most likely tokens; 0 disables (default: 0)
  --top-p X                sample within the top-p nucleus, in (0, 1]; 1 disables (default: 1)
  --seed N                 sampler seed, an integer (default: random)
  --remasking NAME         llada: low_confidence, random; sdar: low_confidence_dynamic,
                           low_confidence_static, sequential
  --cfg-scale X            llada: classifier-free guidance weight; 0 disables (default: 0)
  --eps X                  dream: end of the timestep schedule, in (0, 1) (default: 0.001)
  --algorithm NAME         dream: origin, maskgit_plus, topk_margin, entropy (default: entropy)
  --alg-temp X             dream: sample positions from softmax(confidence / X); 0 takes the top
  --sub-block N            fast-dllm-v2: sub-block length in tokens (default: 8)
  --cache MODE             llada, dream, fast-dllm: none, prefix, dual; fast-dllm-v2: prefix, dual
  --edit-threshold X       editing: replace a token when a new candidate's probability is above X
  --max-post-steps N       editing: forwards after a block has no masks, while edits continue
  --no-early-stop          run every block even after a stop token is final
  --suppress-eos           commit stop-token candidates last
  --window N               wedlm: slots in the sliding window (default: 16)
  --entropy-threshold X    wedlm: fill slots whose penalised entropy is below X nats (default: 0.4)
  --position-penalty X     wedlm: entropy added per slot after the first mask (default: 0.02)`;

const GENERATE_HELP = `Usage: dllm generate --prompt TEXT [flags]

Streams the generated text to stdout as it becomes final and ends with one summary line on stderr.

Flags:
  --model PATH             GGUF file or Hugging Face folder (default: the embedded model)
  --prompt TEXT            prompt text (required)
  --chat                   wrap the prompt as a user message in the model's chat template
  --threads N              threads per forward (default: available cores, at most 8)
  --int8                   quantised matmuls on int8 activations: 2-3x faster, logits off f32 by ~0.1
  --show-canvas            redraw the canvas after every forward, masks shown as ░
                           (one line per forward when stdout is not a terminal)
  -h, --help               print this help

${DECODING_FLAGS}`;

const CHAT_HELP = `Usage: dllm chat [flags]

Reads one user message per line from stdin and streams each reply to stdout, keeping the conversation
in the model's chat template. A summary line per reply goes to stderr. Ctrl-C stops the current reply;
Ctrl-D (end of input) quits.

Flags:
  --model PATH             GGUF file or Hugging Face folder (default: the embedded model)
  --system TEXT            system message at the start of the conversation
  --threads N              threads per forward (default: available cores, at most 8)
  --int8                   quantised matmuls on int8 activations: 2-3x faster, logits off f32 by ~0.1
  --show-canvas            redraw the canvas after every forward, masks shown as ░
  -h, --help               print this help

${DECODING_FLAGS}`;

const LOGITS_HELP = `Usage: dllm logits --tokens ID,ID,... [flags]

Prints {"logits": [[...], ...]} on stdout: one row per position, the full vocabulary, raw LM-head
output before any logit shift. Values are float32 and print with enough digits to read back exactly.

Flags:
  --model PATH             GGUF file or Hugging Face folder (default: the embedded model)
  --tokens ID,ID,...       token ids, comma-separated (required)
  --attention KIND         causal, full, or block:N for block-causal with block length N
                           (default: the model's own attention)
  --threads N              threads per forward (default: available cores, at most 8)
  --int8                   quantised matmuls on int8 activations: 2-3x faster, logits off f32 by ~0.1
  -h, --help               print this help`;

// ---------------------------------------------------------------------------------------------------
// Flag parsing

/** Parses an integer flag; range checks are left to the Model's option validation. */
function integerFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isInteger(number)) {
    throw new ConfigError('INVALID_OPTION', `Invalid --${flag} '${value}': expected an integer.`);
  }
  return number;
}

function numberFlag(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (value.trim() === '' || !Number.isFinite(number)) {
    throw new ConfigError('INVALID_OPTION', `Invalid --${flag} '${value}': expected a number.`);
  }
  return number;
}

function parseTokens(value: string): number[] {
  return value.split(',').map((part, i) => {
    const id = Number(part.trim());
    if (!/^\d+$/.test(part.trim()) || !Number.isSafeInteger(id)) {
      throw new ConfigError('INVALID_OPTION', `Invalid --tokens entry ${i} '${part}': expected a non-negative integer id.`);
    }
    return id;
  });
}

function parseAttention(value: string): { attention: AttentionKind; blockSize?: number } {
  if (value === 'causal' || value === 'full') return { attention: value };
  const match = /^block:(\d+)$/.exec(value);
  if (match && Number(match[1]) >= 1) return { attention: 'block-causal', blockSize: Number(match[1]) };
  throw new ConfigError('INVALID_OPTION', `Invalid --attention '${value}': expected causal, full, or block:N with N >= 1.`);
}

// ---------------------------------------------------------------------------------------------------
// Decoding flags

const DECODING_OPTIONS = {
  strategy: { type: 'string' },
  'max-tokens': { type: 'string' },
  block: { type: 'string' },
  steps: { type: 'string' },
  'steps-per-block': { type: 'string' },
  threshold: { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  seed: { type: 'string' },
  remasking: { type: 'string' },
  'cfg-scale': { type: 'string' },
  eps: { type: 'string' },
  algorithm: { type: 'string' },
  'alg-temp': { type: 'string' },
  'sub-block': { type: 'string' },
  cache: { type: 'string' },
  'edit-threshold': { type: 'string' },
  'max-post-steps': { type: 'string' },
  'no-early-stop': { type: 'boolean' },
  'suppress-eos': { type: 'boolean' },
  window: { type: 'string' },
  'entropy-threshold': { type: 'string' },
  'position-penalty': { type: 'string' },
} satisfies ParseArgsConfig['options'];

/** Flags of `generate` and `chat` that choose and load the model and show its progress. */
const SESSION_OPTIONS = {
  model: { type: 'string' },
  threads: { type: 'string' },
  int8: { type: 'boolean' },
  'show-canvas': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} satisfies ParseArgsConfig['options'];

type FlagValues = Record<string, string | boolean | undefined>;

/** API option names that the library's messages use, and the flags a CLI user typed for them. */
const FLAG_OF_OPTION: Record<string, string> = {
  maxTokens: '--max-tokens', blockLength: '--block', stepsPerBlock: '--steps-per-block', topK: '--top-k',
  topP: '--top-p', cfgScale: '--cfg-scale', algTemp: '--alg-temp', subBlockLength: '--sub-block',
  editThreshold: '--edit-threshold', maxPostSteps: '--max-post-steps', eosEarlyStop: '--no-early-stop',
  suppressEos: '--suppress-eos', entropyThreshold: '--entropy-threshold', positionPenalty: '--position-penalty',
};

/** Rewrites a library message for the terminal: camelCase option names become the CLI's flags. */
function cliMessage(message: string): string {
  return message.replace(/\b[a-z]+[A-Z][A-Za-z]*\b/g, (name) => FLAG_OF_OPTION[name] ?? name);
}

/** Builds GenerateOptions from the decoding flags; the Model validates names and ranges. */
function decodingOptions(values: FlagValues): GenerateOptions {
  const text = (name: string) => values[name] as string | undefined;
  const threshold = text('threshold');
  return {
    strategy: text('strategy') as GenerateOptions['strategy'],
    maxTokens: integerFlag('max-tokens', text('max-tokens')),
    blockLength: integerFlag('block', text('block')),
    steps: integerFlag('steps', text('steps')),
    stepsPerBlock: integerFlag('steps-per-block', text('steps-per-block')),
    threshold: threshold === 'none' ? null : numberFlag('threshold', threshold),
    temperature: numberFlag('temperature', text('temperature')),
    topK: integerFlag('top-k', text('top-k')),
    topP: numberFlag('top-p', text('top-p')),
    seed: integerFlag('seed', text('seed')),
    remasking: text('remasking') as GenerateOptions['remasking'],
    cfgScale: numberFlag('cfg-scale', text('cfg-scale')),
    eps: numberFlag('eps', text('eps')),
    algorithm: text('algorithm') as GenerateOptions['algorithm'],
    algTemp: numberFlag('alg-temp', text('alg-temp')),
    subBlockLength: integerFlag('sub-block', text('sub-block')),
    cache: text('cache') as GenerateOptions['cache'],
    editThreshold: numberFlag('edit-threshold', text('edit-threshold')),
    maxPostSteps: integerFlag('max-post-steps', text('max-post-steps')),
    eosEarlyStop: values['no-early-stop'] ? false : undefined,
    suppressEos: values['suppress-eos'] ? true : undefined,
    window: integerFlag('window', text('window')),
    entropyThreshold: numberFlag('entropy-threshold', text('entropy-threshold')),
    positionPenalty: numberFlag('position-penalty', text('position-penalty')),
  };
}

/** Streams one request to stdout (text, or the canvas view) and returns its result. */
async function streamGeneration(generation: Generation, canvasView: CanvasView | null): Promise<GenerateResult> {
  for await (const event of generation) {
    if (event.type === 'step') canvasView?.draw(event);
    else if (!canvasView) await write(event.text);
  }
  const result = await generation.result;
  if (canvasView) {
    canvasView.clear();
    await write(result.text);
  }
  await write('\n');
  return result;
}

function printSummary(result: GenerateResult, strategy: string): void {
  const { stats } = result;
  process.stderr.write(
    `${strategy}: forwards ${stats.forwards}, tokens/forward ${stats.tokensPerForward.toFixed(2)}, ` +
      `${stats.tokensPerSecond.toFixed(1)} tokens/s, first block ${Math.round(stats.timeToFirstBlockMs)} ms, ` +
      `${stats.generatedTokens} token${stats.generatedTokens === 1 ? '' : 's'}, ${result.stopReason === 'stop' ? 'ended by a stop token' : 'reached --max-tokens'}\n`,
  );
}

// ---------------------------------------------------------------------------------------------------
// generate

async function runGenerate(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      prompt: { type: 'string' },
      chat: { type: 'boolean' },
      ...SESSION_OPTIONS,
      ...DECODING_OPTIONS,
    },
  });
  if (values.help) {
    console.log(GENERATE_HELP);
    return;
  }
  if (values.prompt === undefined) throw new ConfigError('MISSING_FIELD', 'Missing --prompt TEXT; see `dllm generate --help`.');

  const controller = new AbortController();
  const options: GenerateOptions = { ...decodingOptions(values), signal: controller.signal };
  const threads = integerFlag('threads', values.threads);

  const model = await loadModel(values.model, { threads, int8: values.int8, signal: controller.signal });
  const onInterrupt = () => controller.abort();
  process.once('SIGINT', onInterrupt);
  try {
    const canvasView = values['show-canvas'] ? new CanvasView(model.tokenizer) : null;
    const generation = values.chat
      ? model.chat([{ role: 'user', content: values.prompt }], options)
      : model.generate(values.prompt, options);
    const result = await streamGeneration(generation, canvasView);
    printSummary(result, options.strategy ?? defaultStrategy(model.config));
  } finally {
    process.off('SIGINT', onInterrupt);
    await model.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------
// chat

async function runChat(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      system: { type: 'string' },
      ...SESSION_OPTIONS,
      ...DECODING_OPTIONS,
    },
  });
  if (values.help) {
    console.log(CHAT_HELP);
    return;
  }
  const options = decodingOptions(values);
  const threads = integerFlag('threads', values.threads);
  const model = await loadModel(values.model, { threads, int8: values.int8 });
  const history: ChatMessage[] = values.system === undefined ? [] : [{ role: 'system', content: values.system }];
  const interactive = Boolean(process.stdin.isTTY);
  const lines = createInterface({ input: process.stdin, output: interactive ? process.stdout : undefined, terminal: interactive });

  // Ctrl-C stops the reply being generated; with no reply running it quits.
  let controller: AbortController | null = null;
  const onInterrupt = () => {
    if (controller) controller.abort();
    else lines.close();
  };
  lines.on('SIGINT', onInterrupt);
  process.on('SIGINT', onInterrupt);
  const canvasView = values['show-canvas'] ? new CanvasView(model.tokenizer) : null;

  // Replies to the last message of `history`. When the conversation outgrows the context, the oldest
  // exchange is dropped (a system message stays) until it fits; a message too long on its own is
  // reported and removed, and the chat goes on. Returns null in that case.
  const replyWithinContext = async (history: ChatMessage[], signal: AbortSignal) => {
    for (;;) {
      try {
        return await streamGeneration(model.chat(history, { ...options, signal }), canvasView);
      } catch (error) {
        if (!(error instanceof ContextOverflowError)) throw error;
        const first = history[0]?.role === 'system' ? 1 : 0;
        if (history.length - first > 1) {
          history.splice(first, history[first + 1]?.role === 'assistant' ? 2 : 1);
          process.stderr.write('dllm: dropped the oldest exchange to fit the context\n');
          continue;
        }
        history.pop();
        process.stderr.write(`dllm: ${cliMessage(error.message)}\n`);
        return null;
      }
    }
  };

  try {
    if (interactive) lines.setPrompt('> ');
    if (interactive) lines.prompt();
    for await (const line of lines) {
      const content = line.trim();
      if (content === '') {
        if (interactive) lines.prompt();
        continue;
      }
      history.push({ role: 'user', content });
      controller = new AbortController();
      try {
        const result = await replyWithinContext(history, controller.signal);
        if (result) {
          history.push({ role: 'assistant', content: result.text });
          printSummary(result, options.strategy ?? defaultStrategy(model.config));
        }
      } catch (error) {
        if ((error as Error).name !== 'AbortError') throw error;
        // The interrupted turn is dropped from the history, so the next message starts clean.
        history.pop();
        process.stderr.write('\ndllm: reply interrupted\n');
      } finally {
        controller = null;
      }
      if (interactive) lines.prompt();
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    lines.close();
    await model.dispose();
  }
}

/**
 * Draws the generated canvas after every forward. On a terminal it overwrites the previous drawing;
 * otherwise it prints one line per forward.
 */
class CanvasView {
  private readonly tokenizer: TokenizerLike | null;
  private readonly tty = Boolean(process.stdout.isTTY);
  private drawnLines = 0;

  constructor(tokenizer: TokenizerLike | null) {
    this.tokenizer = tokenizer;
  }

  draw(event: StepEvent): void {
    const text = this.render(event.canvas, event.maskId);
    if (!this.tty) {
      const where = event.block < 0 ? event.kind : `${event.kind} block ${event.block}`;
      process.stdout.write(`[forward ${event.forward} ${where}] ${text}\n`);
      return;
    }
    this.clear();
    process.stdout.write(text);
    // NOTE: counts code points, so double-width characters make this undercount the lines to erase.
    const columns = process.stdout.columns || 80;
    this.drawnLines = Math.max(1, Math.ceil([...text].length / columns));
  }

  /** Erases the last drawing on a terminal. */
  clear(): void {
    if (!this.tty || this.drawnLines === 0) return;
    if (this.drawnLines > 1) process.stdout.write(`\x1b[${this.drawnLines - 1}A`);
    process.stdout.write('\r\x1b[J');
    this.drawnLines = 0;
  }

  /** Decodes runs of committed tokens and shows each mask as ░; newlines become ↵ to keep one line. */
  private render(canvas: Int32Array, maskId: number): string {
    let text = '';
    let run: number[] = [];
    const flushRun = () => {
      if (run.length === 0) return;
      text += this.tokenizer ? this.tokenizer.decode(run, { skipSpecialTokens: false }) : run.join(' ') + ' ';
      run = [];
    };
    for (const id of canvas) {
      if (id === maskId) {
        flushRun();
        text += '░';
      } else {
        run.push(id);
      }
    }
    flushRun();
    return text.replace(/\r?\n/g, '↵').replace(/[\x00-\x1f\x7f]/g, ' ');
  }
}

// ---------------------------------------------------------------------------------------------------
// logits

async function runLogits(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' },
      tokens: { type: 'string' },
      attention: { type: 'string' },
      threads: { type: 'string' },
      int8: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(LOGITS_HELP);
    return;
  }
  if (values.tokens === undefined) throw new ConfigError('MISSING_FIELD', 'Missing --tokens ID,ID,...; see `dllm logits --help`.');
  const tokens = parseTokens(values.tokens);
  const attention = values.attention === undefined ? {} : parseAttention(values.attention);
  const threads = integerFlag('threads', values.threads);

  const model = await loadModel(values.model, { threads, int8: values.int8 });
  try {
    const { rows, vocab, data } = await model.logits(tokens, attention);
    let nonFinite = 0;
    await write('{"logits": [');
    for (let r = 0; r < rows; r++) {
      const parts: string[] = new Array(vocab);
      for (let v = 0; v < vocab; v++) {
        // A float32 widened to a double prints in the shortest form that reads back as the same double,
        // and therefore as the same float32.
        const x = data[r * vocab + v];
        if (Number.isFinite(x)) {
          parts[v] = String(x);
        } else {
          parts[v] = 'null';
          nonFinite++;
        }
      }
      await write(`${r === 0 ? '' : ',\n'}[${parts.join(', ')}]`);
    }
    await write(']}\n');
    if (nonFinite > 0) process.stderr.write(`dllm: warning: ${nonFinite} logits were not finite and were printed as null\n`);
  } finally {
    await model.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------
// Entry

/** Writes to stdout and waits for the stream to drain when its buffer is full. */
function write(text: string): Promise<void> {
  if (process.stdout.write(text)) return Promise.resolve();
  return new Promise((resolve) => process.stdout.once('drain', () => resolve()));
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === 'generate') return runGenerate(rest);
  if (command === 'chat') return runChat(rest);
  if (command === 'logits') return runLogits(rest);
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(MAIN_HELP);
    return;
  }
  throw new ConfigError('INVALID_OPTION', `Unknown command '${command}'; run \`dllm --help\` for the list of commands.`);
}

// A reader that closes the pipe early (`dllm logits ... | head`) is not an error of dllm.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});

main(process.argv.slice(2)).catch((error: unknown) => {
  const err = error instanceof Error ? error : new Error(String(error));
  if (err.name === 'AbortError') {
    process.stderr.write('\ndllm: interrupted\n');
    process.exit(130);
  }
  process.stderr.write(`dllm: ${cliMessage(err.message)}\n`);
  if (process.env.DLLM_DEBUG === '1' && err.stack) process.stderr.write(`${err.stack}\n`);
  // Exit at once: a worker pool left by a failed load must not keep the process alive.
  process.exit(1);
});
