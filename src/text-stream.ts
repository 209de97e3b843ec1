// Incremental detokenization for streaming output. Token boundaries do not fall on character boundaries.
// A byte-level BPE token can contain part of a UTF-8 sequence ("日" is three byte tokens in a small vocab).
// An emoji ZWJ sequence or a flag is several code points that a reader sees as one character.
// TextStream decodes the ids it holds as a whole and returns only the text that later ids cannot change.
import type { DecodeOptions } from './tokenizer.js';

/** The part of a tokenizer that TextStream uses. TextTokenizer implements it. */
export interface TokenDecoder {
  decode(ids: readonly number[], options?: DecodeOptions): string;
}

/** Window size that triggers dropping fully emitted ids from the front, and how many ids are kept. */
const WINDOW_TRIM_AT = 64;
const WINDOW_KEEP = 16;

const REPLACEMENT_CHARACTER = 0xfffd;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * Turns ids that arrive in text order into text pieces that never split a UTF-8 sequence or a grapheme
 * cluster. The pieces of all push() calls plus flush() concatenate to the decode of all ids.
 *
 * It holds back (1) trailing U+FFFD, which is how the decoder shows an incomplete UTF-8 sequence, and
 * (2) the last grapheme cluster, because the next id may extend it (a combining accent, a ZWJ, the second
 * half of a flag). A U+FFFD that stands for genuinely invalid bytes at the end is held the same way and
 * comes out with the next text or at flush().
 *
 * The decoder must be prefix-stable: the text of ids[0..k) is a prefix of the text of ids[0..n), apart
 * from a trailing incomplete character. Byte-level BPE decoding is. Decoders that rewrite earlier text
 * (HF's clean_up_tokenization_spaces turns " 's" into "'s") are not, and could repeat or lose a space.
 */
export class TextStream {
  private readonly tokenizer: TokenDecoder;
  private readonly options: DecodeOptions;
  /** Ids whose text is not all emitted yet, after a prefix of already emitted ones. */
  private window: number[] = [];
  /** UTF-16 code units of decode(window) already returned. */
  private emitted = 0;

  constructor(tokenizer: TokenDecoder, options: DecodeOptions = {}) {
    this.tokenizer = tokenizer;
    this.options = options;
  }

  /** Appends ids and returns the text that became final, possibly "". */
  push(ids: Iterable<number>): string {
    for (const id of ids) this.window.push(id);
    const text = this.tokenizer.decode(this.window, this.options);

    let end = text.length;
    while (end > 0 && text.charCodeAt(end - 1) === REPLACEMENT_CHARACTER) end--;
    const stableEnd = end > 0 ? graphemes.segment(text).containing(end - 1)!.index : 0;

    let piece = '';
    if (stableEnd > this.emitted) {
      piece = text.slice(this.emitted, stableEnd);
      this.emitted = stableEnd;
    }
    if (this.window.length >= WINDOW_TRIM_AT) this.trimWindow(text);
    return piece;
  }

  /** Returns all text not yet returned, including held-back characters, and empties the stream. */
  flush(): string {
    const text = this.window.length > 0 ? this.tokenizer.decode(this.window, this.options) : '';
    const piece = text.slice(this.emitted);
    this.reset();
    return piece;
  }

  /** Drops all ids and held-back text. */
  reset(): void {
    this.window = [];
    this.emitted = 0;
  }

  /**
   * Drops emitted ids from the front so each push decodes a bounded window, not the whole output.
   * A cut is taken only where decoding the two parts separately gives the same text as decoding them
   * together, and where the cut falls on a grapheme boundary inside already emitted text.
   * Otherwise the window stays as it is and the next push tries again.
   */
  private trimWindow(text: string): void {
    const cut = this.window.length - WINDOW_KEEP;
    const head = this.tokenizer.decode(this.window.slice(0, cut), this.options);
    if (head.length > this.emitted || head.length === 0) return;
    if (head.charCodeAt(head.length - 1) === REPLACEMENT_CHARACTER) return;
    if (graphemes.segment(text).containing(head.length)?.index !== head.length) return;
    const tail = this.tokenizer.decode(this.window.slice(cut), this.options);
    if (head + tail !== text) return;

    this.window = this.window.slice(cut);
    this.emitted -= head.length;
  }
}
