// TextTokenizer against the fixtures' reference ids: @huggingface/tokenizers on tokenizer.json, llama.cpp's
// llama_tokenize on the GGUF twins, and chat prompts rendered by @huggingface/jinja. The GGUF-built
// tokenizer must give the same ids as the tokenizer.json one on every case.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, UnsupportedModelError } from '../src/errors.js';
import { readGguf } from '../src/formats/gguf.js';
import { openFileSource } from '../src/formats/source.js';
import { TextTokenizer, type ChatMessage, type GgufMetadata } from '../src/tokenizer.js';

interface TokenizerCase {
  name: string;
  text: string;
  ids: number[];
  messages?: ChatMessage[];
  add_generation_prompt?: boolean;
  llama_cpp_ids: number[];
  llama_cpp_agrees: boolean;
  decode_roundtrips: boolean;
}

function fixturePath(relative: string): string {
  return fileURLToPath(new URL(`./fixtures/${relative}`, import.meta.url));
}

function readFixture(relative: string): string {
  return readFileSync(fixturePath(relative), 'utf8');
}

function loadHuggingFace(model: string): TextTokenizer {
  return TextTokenizer.fromHuggingFace(
    readFixture(`${model}/hf-f32/tokenizer.json`),
    readFixture(`${model}/hf-f32/tokenizer_config.json`),
  );
}

// readGguf reads the header only and stops before the tensor data.
async function readGgufMetadata(relative: string): Promise<GgufMetadata> {
  const source = await openFileSource(fixturePath(relative));
  try {
    return (await readGguf(source)).metadata;
  } finally {
    await source.close();
  }
}

const twins = ['sdar-tiny', 'fastdllm-tiny'] as const;
const hfTokenizers = new Map(twins.map((model) => [model, loadHuggingFace(model)]));
const ggufMetadata = new Map<string, GgufMetadata>();
for (const model of twins) ggufMetadata.set(model, await readGgufMetadata(`${model}/${model}-f32.gguf`));
const ggufTokenizers = new Map(twins.map((model) => [model, TextTokenizer.fromGguf(ggufMetadata.get(model)!)]));
const tinyQwen3 = TextTokenizer.fromGguf(await readGgufMetadata('tiny/fixtures/tiny-qwen3-f32.gguf'));
const tinyLlada = TextTokenizer.fromGguf(await readGgufMetadata('tiny/fixtures/tiny-llada-f32.gguf'));

function casesOf(model: string): TokenizerCase[] {
  return JSON.parse(readFixture(`${model}/tokenizer-cases.json`)).cases;
}

// ---------------------------------------------------------------------------------------------------
// Fixture cases

for (const model of twins) {
  const hf = hfTokenizers.get(model)!;
  const fromGguf = ggufTokenizers.get(model)!;

  for (const c of casesOf(model)) {
    test(`${model} ${c.name}: tokenizer.json ids`, () => {
      assert.equal(hf.encode(c.text), c.ids);
    });

    test(`${model} ${c.name}: GGUF ids equal tokenizer.json ids`, () => {
      assert.equal(fromGguf.encode(c.text), c.ids);
    });

    if (c.llama_cpp_agrees) {
      test(`${model} ${c.name}: GGUF ids equal llama.cpp`, () => {
        assert.equal(fromGguf.encode(c.text), c.llama_cpp_ids);
      });
    }

    test(`${model} ${c.name}: decode`, () => {
      // Where the case does not round-trip, the difference is the NFC normalizer ("cafe\u0301" -> "café").
      const expected = c.decode_roundtrips ? c.text : c.text.normalize('NFC');
      assert.is(hf.decode(c.ids), expected);
      assert.is(fromGguf.decode(c.ids), expected);
    });

    if (c.messages) {
      test(`${model} ${c.name}: chat template`, () => {
        const options = { addGenerationPrompt: c.add_generation_prompt };
        assert.is(hf.applyChatTemplate(c.messages!, options), c.text);
        assert.is(fromGguf.applyChatTemplate(c.messages!, options), c.text);
      });
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Special ids and vocabulary size

test('encode failure is INVALID_TOKENIZER', () => {
  // The tokenizer library accepts this Split behavior when it builds and fails only on the first encode.
  const json = JSON.parse(readFixture('sdar-tiny/hf-f32/tokenizer.json'));
  json.pre_tokenizer.pretokenizers[0].behavior = [1, 2];
  const config = readFixture('sdar-tiny/hf-f32/tokenizer_config.json');
  const tokenizer = TextTokenizer.fromHuggingFace(json, config);
  const error = (() => {
    try {
      tokenizer.encode('Hello');
    } catch (caught) {
      return caught;
    }
    return null;
  })();
  assert.instance(error, ConfigError);
  assert.is((error as ConfigError).code, 'INVALID_TOKENIZER');
});

test('special ids from tokenizer.json', () => {
  const sdar = hfTokenizers.get('sdar-tiny')!;
  assert.is(sdar.bosTokenId, -1); // tokenizer_config has bos_token null
  assert.is(sdar.eosTokenId, 266);
  assert.is(sdar.padTokenId, 264);
  assert.is(sdar.maskTokenId, 267); // tokenizer_config mask_token
  assert.is(hfTokenizers.get('fastdllm-tiny')!.maskTokenId, 267); // found by the name |<MASK>|
});

test('special ids from GGUF', () => {
  const sdar = ggufTokenizers.get('sdar-tiny')!;
  assert.is(sdar.bosTokenId, 264);
  assert.is(sdar.eosTokenId, 266);
  assert.is(sdar.padTokenId, 264);
  assert.is(sdar.maskTokenId, 267);
  assert.is(sdar.eotTokenId, -1);
  assert.is(tinyQwen3.maskTokenId, 266);
  assert.is(tinyQwen3.eosTokenId, 264);
  assert.is(tinyQwen3.bosTokenId, 265);
});

test('mask id found by name without metadata', () => {
  const metadata = { ...ggufMetadata.get('fastdllm-tiny')!, 'tokenizer.ggml.mask_token_id': undefined };
  assert.is(TextTokenizer.fromGguf(metadata).maskTokenId, 267);
});

test('vocabSize counts named ids', () => {
  // tokenizer.json names 268 tokens, the GGUF twins also name the padding rows [PAD268]..[PAD271].
  assert.is(hfTokenizers.get('sdar-tiny')!.vocabSize, 268);
  assert.is(ggufTokenizers.get('sdar-tiny')!.vocabSize, 272);
  assert.is(tinyQwen3.vocabSize, 267);
});

test('tokenToId and idToToken', () => {
  for (const tokenizer of [hfTokenizers.get('sdar-tiny')!, ggufTokenizers.get('sdar-tiny')!]) {
    assert.is(tokenizer.tokenToId('Ġthe'), 258);
    assert.is(tokenizer.idToToken(258), 'Ġthe');
    assert.is(tokenizer.tokenToId('<|im_end|>'), 266);
    assert.is(tokenizer.idToToken(32), 'Ġ');
    assert.is(tokenizer.tokenToId('no such token'), undefined);
    assert.is(tokenizer.idToToken(100000), undefined);
  }
});

// ---------------------------------------------------------------------------------------------------
// Ids without text: padding rows and GGUF UNUSED tokens

test('padding rows decode to nothing', () => {
  for (const tokenizer of [hfTokenizers.get('sdar-tiny')!, ggufTokenizers.get('sdar-tiny')!]) {
    assert.is(tokenizer.decode([268, 269, 270, 271]), '');
    assert.is(tokenizer.decode([116, 270, 257]), 'the');
  }
});

test('UNUSED token keeps its name', () => {
  const fromGguf = ggufTokenizers.get('sdar-tiny')!;
  assert.is(fromGguf.idToToken(268), '[PAD268]');
  assert.is(fromGguf.tokenToId('[PAD271]'), 271);
});

test('UNUSED token text is not matched', () => {
  const ids = ggufTokenizers.get('sdar-tiny')!.encode('[PAD268]');
  assert.is(ids.includes(268), false);
  assert.equal(ids, hfTokenizers.get('sdar-tiny')!.encode('[PAD268]'));
});

// ---------------------------------------------------------------------------------------------------
// Tiny 267-token vocabulary and BOS

test('tiny-qwen3 GGUF plain sentence', () => {
  assert.equal(tinyQwen3.encode('the cat is on the mat'), [116, 257, 32, 99, 97, 116, 32, 105, 115, 32, 262, 258, 32, 109, 97, 116]);
});

test('tiny-llada GGUF prepends BOS', () => {
  assert.equal(tinyLlada.encode('a cat is on the mat'), [265, 97, 32, 99, 97, 116, 32, 105, 115, 32, 262, 258, 32, 109, 97, 116]);
  assert.equal(tinyLlada.encode('a cat', { addSpecialTokens: false }), [97, 32, 99, 97, 116]);
  assert.equal(tinyLlada.encode(''), [265]);
  assert.is(tinyLlada.decode([265, 97], { skipSpecialTokens: true }), 'a');
});

// ---------------------------------------------------------------------------------------------------
// Edge inputs

test('empty string and empty ids', () => {
  const tokenizer = hfTokenizers.get('sdar-tiny')!;
  assert.equal(tokenizer.encode(''), []);
  assert.equal(tokenizer.encode('', { addSpecialTokens: false }), []);
  assert.is(tokenizer.decode([]), '');
});

test('only special tokens', () => {
  for (const tokenizer of [hfTokenizers.get('sdar-tiny')!, ggufTokenizers.get('sdar-tiny')!]) {
    const text = '<|im_start|><|im_end|><|MASK|><|endoftext|>';
    assert.equal(tokenizer.encode(text), [265, 266, 267, 264]);
    assert.is(tokenizer.decode([265, 266, 267, 264]), text);
    assert.is(tokenizer.decode([265, 266, 267, 264], { skipSpecialTokens: true }), '');
  }
});

test('skipSpecialTokens keeps plain text', () => {
  const tokenizer = ggufTokenizers.get('fastdllm-tiny')!;
  const ids = tokenizer.encode('<|im_start|>user\nhi<|im_end|>');
  assert.is(tokenizer.decode(ids, { skipSpecialTokens: true }), 'user\nhi');
});

test('lone surrogates become U+FFFD', () => {
  // A lone surrogate has no UTF-8 encoding. encode() replaces it by U+FFFD (bytes EF BF BD) first.
  for (const tokenizer of [hfTokenizers.get('sdar-tiny')!, ggufTokenizers.get('sdar-tiny')!]) {
    assert.equal(tokenizer.encode('\uD800'), [239, 191, 189]);
    assert.equal(tokenizer.encode('a\uDC00b'), tokenizer.encode('a\uFFFDb'));
    assert.equal(tokenizer.encode('x\uD83D'), tokenizer.encode('x\uFFFD'));
    assert.is(tokenizer.decode(tokenizer.encode('a\uD800b')), 'a\uFFFDb');
    // A valid surrogate pair is one code point and is kept.
    assert.equal(tokenizer.encode('\uD83D\uDE42'), [240, 159, 153, 130]);
  }
});

test('very long input round-trips', () => {
  const tokenizer = ggufTokenizers.get('sdar-tiny')!;
  const text = 'the cat is on the mat, 日本 👩‍👩‍👧 <|im_end|>\n'.repeat(3000) + 'x'.repeat(50000);
  const ids = tokenizer.encode(text);
  assert.ok(ids.length > 150000, `expected many ids, got ${ids.length}`);
  assert.is(tokenizer.decode(ids), text);
});

test('incomplete UTF-8 decodes to U+FFFD', () => {
  const tokenizer = hfTokenizers.get('sdar-tiny')!;
  assert.is(tokenizer.decode([230, 151]), '\uFFFD'); // first two bytes of 日
  assert.is(tokenizer.decode([230, 151, 165]), '日');
});

test('invalid ids are rejected', () => {
  const tokenizer = hfTokenizers.get('sdar-tiny')!;
  assert.throws(() => tokenizer.decode([1, -1]), (error: unknown) => error instanceof ConfigError && error.code === 'INVALID_OPTION' && /-1 at index 1/.test(error.message));
  assert.throws(() => tokenizer.decode([1.5]), (error: unknown) => error instanceof ConfigError && error.code === 'INVALID_OPTION');
});

// ---------------------------------------------------------------------------------------------------
// Chat templates

test('chat template gets eos_token and empty bos_token', () => {
  const tokenizer = TextTokenizer.fromHuggingFace(
    readFixture('sdar-tiny/hf-f32/tokenizer.json'),
    readFixture('sdar-tiny/hf-f32/tokenizer_config.json'),
    { chatTemplate: '[{{ bos_token }}]{{ messages[0].content }}{{ eos_token }}' },
  );
  assert.is(tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }]), '[]hi<|im_end|>');
});

test('chat template defaults to generation prompt', () => {
  const tokenizer = hfTokenizers.get('sdar-tiny')!;
  assert.is(tokenizer.applyChatTemplate([{ role: 'user', content: 'ok' }]), '<|im_start|>user\nok<|im_end|>\n<|im_start|>assistant\n');
});

test('missing chat template is a ConfigError', () => {
  const metadata = { ...ggufMetadata.get('sdar-tiny')!, 'tokenizer.chat_template': undefined };
  const tokenizer = TextTokenizer.fromGguf(metadata);
  assert.is(tokenizer.chatTemplate, null);
  assert.throws(
    () => tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }]),
    (error: unknown) => error instanceof ConfigError && error.code === 'MISSING_FIELD' && /no chat template/.test(error.message),
  );
});

test('unparsable chat template is a ConfigError', () => {
  const metadata = { ...ggufMetadata.get('sdar-tiny')!, 'tokenizer.chat_template': '{% for m in messages %}{{ m.content }}' };
  const tokenizer = TextTokenizer.fromGguf(metadata);
  assert.throws(
    () => tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }]),
    (error: unknown) => error instanceof ConfigError && error.code === 'INVALID_CHAT_TEMPLATE' && /failed to parse/.test(error.message),
  );
});

test('raise_exception in template is a ConfigError', () => {
  const template = "{% if messages[0]['role'] != 'system' %}{{ raise_exception('first message must be system') }}{% endif %}";
  const metadata = { ...ggufMetadata.get('sdar-tiny')!, 'tokenizer.chat_template': template };
  const tokenizer = TextTokenizer.fromGguf(metadata);
  assert.throws(
    () => tokenizer.applyChatTemplate([{ role: 'user', content: 'hi' }]),
    (error: unknown) => error instanceof ConfigError && error.code === 'INVALID_OPTION' && /rejected the messages: first message must be system/.test(error.message),
  );
});

// ---------------------------------------------------------------------------------------------------
// Unsupported and malformed GGUF metadata

test('SentencePiece GGUF is rejected', () => {
  const metadata = { ...ggufMetadata.get('sdar-tiny')!, 'tokenizer.ggml.model': 'llama' };
  assert.throws(
    () => TextTokenizer.fromGguf(metadata),
    (error: unknown) => error instanceof UnsupportedModelError && /"llama" is not supported/.test(error.message),
  );
});

test('GGUF without tokens is rejected', () => {
  const metadata = { ...ggufMetadata.get('sdar-tiny')!, 'tokenizer.ggml.tokens': undefined };
  assert.throws(() => TextTokenizer.fromGguf(metadata), /tokenizer\.ggml\.tokens is missing/);
});

test('GGUF pre-tokenizer follows tokenizer.ggml.pre', () => {
  // Add the merge "2 0" as id 272. Qwen2 splits numbers into single digits, so the merge never applies.
  // llama-bpe (Llama 3) splits them into runs of up to 3 digits, GPT-2 keeps the whole run.
  const base = ggufMetadata.get('sdar-tiny')!;
  const withMerge = (pre: string): GgufMetadata => ({
    ...base,
    'tokenizer.ggml.pre': pre,
    'tokenizer.ggml.tokens': [...(base['tokenizer.ggml.tokens'] as string[]), '20'],
    'tokenizer.ggml.token_type': [...(base['tokenizer.ggml.token_type'] as number[]), 1],
    'tokenizer.ggml.merges': [...(base['tokenizer.ggml.merges'] as string[]), '2 0'],
  });
  assert.equal(TextTokenizer.fromGguf(withMerge('qwen2')).encode('2024'), [50, 48, 50, 52]);
  assert.equal(TextTokenizer.fromGguf(withMerge('llama-bpe')).encode('2020 120'), [272, 50, 48, 32, 49, 272]);
  const gpt2 = TextTokenizer.fromGguf(withMerge('some-unknown-pre'));
  assert.equal(gpt2.encode('2020 120'), [272, 272, 32, 49, 272]);
  assert.is(gpt2.decode(gpt2.encode('the cat 2024')), 'the cat 2024');
});

test.run();
