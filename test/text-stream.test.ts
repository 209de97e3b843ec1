// TextStream on the sdar-tiny tokenizer. Its vocabulary has no merges outside ASCII letters, so every
// non-ASCII byte is its own id: "日" is three ids and "👩‍👩‍👧" is eighteen. Fed one at a time, such
// ids show any place where a streaming detokenizer would emit half a character.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TextStream, type TokenDecoder } from '../src/text-stream.js';
import { TextTokenizer } from '../src/tokenizer.js';

function readFixture(relative: string): string {
  return readFileSync(fileURLToPath(new URL(`./fixtures/${relative}`, import.meta.url)), 'utf8');
}

const tokenizer = TextTokenizer.fromHuggingFace(
  readFixture('sdar-tiny/hf-f32/tokenizer.json'),
  readFixture('sdar-tiny/hf-f32/tokenizer_config.json'),
);

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/** Grapheme boundaries of text as UTF-16 offsets, 0 and text.length included. */
function graphemeBoundaries(text: string): Set<number> {
  const boundaries = new Set([text.length]);
  for (const { index } of graphemes.segment(text)) boundaries.add(index);
  return boundaries;
}

/**
 * Pushes ids in chunks of `chunk` and checks after every push that the text emitted so far is a prefix
 * of the full decode ending on one of its grapheme boundaries. Returns the pieces, flush included.
 */
function streamAndCheck(ids: number[], chunk: number, decoder: TokenDecoder = tokenizer): string[] {
  const full = tokenizer.decode(ids);
  const boundaries = graphemeBoundaries(full);
  const stream = new TextStream(decoder);
  const pieces: string[] = [];
  let emitted = '';
  for (let i = 0; i < ids.length; i += chunk) {
    const piece = stream.push(ids.slice(i, i + chunk));
    pieces.push(piece);
    emitted += piece;
    assert.ok(full.startsWith(emitted), `after id ${i}: ${JSON.stringify(emitted)} is not a prefix of the decode`);
    assert.ok(boundaries.has(emitted.length), `after id ${i}: ${JSON.stringify(emitted)} ends inside a grapheme`);
  }
  pieces.push(stream.flush());
  return pieces;
}

const texts: Record<string, string> = {
  'two-byte é': 'café',
  'three-byte CJK': '日本',
  'ZWJ family emoji': '👩‍👩‍👧',
  'flag': '🇫🇷',
  'two flags': '🇫🇷🇩🇪',
  'combining accent': 'cafe\u0301 x',
  'emoji with skin tone': 'hi 👋🏽 there',
  'mixed sentence': 'the cat is on the mat: naïve café — 日本 👩‍👩‍👧 🇫🇷 🙂 done',
};

for (const [name, text] of Object.entries(texts)) {
  for (const chunk of [1, 2, 3, 7]) {
    test(`${name}, chunks of ${chunk}`, () => {
      const ids = tokenizer.encode(text);
      const pieces = streamAndCheck(ids, chunk);
      assert.is(pieces.join(''), tokenizer.decode(ids));
      for (const piece of pieces) assert.not.ok(piece.includes('\uFFFD'), `piece ${JSON.stringify(piece)} holds U+FFFD`);
    });
  }
}

test('flag pair held until complete', () => {
  // 🇫🇷 is two regional indicators of four bytes each. Neither half may appear on its own.
  const ids = tokenizer.encode('🇫🇷');
  assert.is(ids.length, 8);
  const stream = new TextStream(tokenizer);
  for (const id of ids) assert.is(stream.push([id]), '');
  assert.is(stream.flush(), '🇫🇷');
});

test('ZWJ sequence held until flush', () => {
  const stream = new TextStream(tokenizer);
  let emitted = '';
  for (const id of tokenizer.encode('ab👩‍👩‍👧')) emitted += stream.push([id]);
  assert.is(emitted, 'ab');
  assert.is(stream.flush(), '👩‍👩‍👧');
});

test('last grapheme released by next text', () => {
  const stream = new TextStream(tokenizer);
  assert.is(stream.push(tokenizer.encode('é')), '');
  assert.is(stream.push(tokenizer.encode('x')), 'é');
  assert.is(stream.flush(), 'x');
});

test('invalid byte passes through as U+FFFD', () => {
  // Byte 0xFF never occurs in UTF-8. It is held while it is last and released by the next character.
  const ids = [255, 97, 98];
  const pieces = streamAndCheck(ids, 1);
  assert.is(pieces.join(''), '\uFFFDab');
  assert.is(pieces.join(''), tokenizer.decode(ids));
});

test('special tokens stream as text', () => {
  const ids = tokenizer.encode('hi<|im_end|>日本<|im_start|>');
  assert.is(streamAndCheck(ids, 1).join(''), 'hi<|im_end|>日本<|im_start|>');
});

test('skipSpecialTokens drops them', () => {
  const stream = new TextStream(tokenizer, { skipSpecialTokens: true });
  let text = '';
  for (const id of tokenizer.encode('hi<|im_end|>日本<|im_start|>')) text += stream.push([id]);
  text += stream.flush();
  assert.is(text, 'hi日本');
});

test('ids without text emit nothing', () => {
  const stream = new TextStream(tokenizer);
  assert.is(stream.push([268, 270]), '');
  assert.is(stream.push([116, 257, 32]), 'the');
  assert.is(stream.flush(), ' ');
});

test('flush resets the stream', () => {
  const stream = new TextStream(tokenizer);
  stream.push(tokenizer.encode('ab'));
  assert.is(stream.flush(), 'b');
  assert.is(stream.flush(), '');
  assert.is(stream.push(tokenizer.encode('xy')), 'x');
  assert.is(stream.flush(), 'y');
});

test('empty push and empty flush', () => {
  const stream = new TextStream(tokenizer);
  assert.is(stream.push([]), '');
  assert.is(stream.flush(), '');
});

test('long stream keeps a bounded window', () => {
  // Count the ids of every decode call. Without trimming the last call would decode all ids.
  let largestDecode = 0;
  const counting: TokenDecoder = {
    decode(ids, options) {
      largestDecode = Math.max(largestDecode, ids.length);
      return tokenizer.decode(ids, options);
    },
  };
  const text = 'naïve café 日本 👩‍👩‍👧 🇫🇷🇩🇪 the cat. '.repeat(60);
  const ids = tokenizer.encode(text);
  assert.ok(ids.length > 3000, `expected a long input, got ${ids.length} ids`);
  const pieces = streamAndCheck(ids, 1, counting);
  assert.is(pieces.join(''), text);
  assert.ok(largestDecode < 100, `largest decode was ${largestDecode} ids`);
});

test.run();
