// Text <-> token ids, and chat prompts. One class covers both checkpoint kinds: a Hugging Face folder
// hands over tokenizer.json + tokenizer_config.json, and a GGUF file hands over its `tokenizer.*`
// metadata, which is converted here into an equivalent tokenizer.json. Both then run through
// @huggingface/tokenizers, so the two paths share one BPE implementation and agree id for id.
//
// Chapters: public types -> the TextTokenizer class -> GGUF metadata to tokenizer.json -> helpers.
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';
import { ConfigError, ModelFormatError, UnsupportedModelError } from './errors.js';

// ---------------------------------------------------------------------------------------------------
// Public types

export interface ChatMessage {
  role: string;     // 'system' | 'user' | 'assistant', or whatever roles the template accepts
  content: string;
}

export interface EncodeOptions {
  /** Apply the tokenizer's post-processor, which prepends BOS for tokenizers that want it. Default true. */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** Drop special tokens (control tokens such as `<|im_end|>`) from the text. Default false. */
  skipSpecialTokens?: boolean;
}

export interface ChatTemplateOptions {
  /** Append the opening of an assistant turn (`add_generation_prompt` in the template). Default true. */
  addGenerationPrompt?: boolean;
}

export interface HuggingFaceTokenizerOptions {
  /** Chat template that replaces tokenizer_config's, for repositories that ship a separate chat_template.jinja. */
  chatTemplate?: string;
}

/** GGUF metadata as key -> value. Arrays may be plain or typed arrays, and integers may be bigints. */
export type GgufMetadata = Readonly<Record<string, unknown>>;

/** Token names that diffusion checkpoints use for the mask token, tried in this order. */
export const MASK_TOKEN_NAMES = ['<|MASK|>', '|<MASK>|', '<|mask|>', '<|mdm_mask|>'] as const;

// ---------------------------------------------------------------------------------------------------
// TextTokenizer

/** Special-token facts that do not live inside the @huggingface/tokenizers object. */
interface TokenizerExtras {
  chatTemplate: string | null;
  bosTokenId: number;
  eosTokenId: number;
  eotTokenId: number;
  padTokenId: number;
  maskTokenId: number;  // -1 here means "look it up by name"
  /** Ids that have a name but no text, such as GGUF's UNUSED `[PAD268]` rows. */
  textlessTokens: Map<number, string>;
}

/**
 * Byte-level BPE tokenizer with its chat template. Special-token ids are -1 when the checkpoint has none,
 * as in ModelConfig.
 */
export class TextTokenizer {
  /** One past the largest id that has a name. May be smaller than the model's embedding rows (Qwen pads them). */
  readonly vocabSize: number;
  readonly bosTokenId: number;
  readonly eosTokenId: number;
  /** End-of-turn token (GGUF `tokenizer.ggml.eot_token_id`), -1 when the file names none. */
  readonly eotTokenId: number;
  readonly padTokenId: number;
  readonly maskTokenId: number;
  readonly chatTemplate: string | null;

  private readonly inner: Tokenizer;
  private readonly textlessTokens: Map<number, string>;
  private readonly textlessIds: Map<string, number>;
  private compiledTemplate: Template | null = null;

  private constructor(inner: Tokenizer, extras: TokenizerExtras) {
    this.inner = inner;
    this.textlessTokens = extras.textlessTokens;
    this.textlessIds = new Map([...extras.textlessTokens].map(([id, token]) => [token, id]));
    this.chatTemplate = extras.chatTemplate;

    let maxId = -1;
    for (const id of inner.get_vocab(true).values()) maxId = Math.max(maxId, id);
    for (const id of this.textlessTokens.keys()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;

    this.bosTokenId = extras.bosTokenId;
    this.eosTokenId = extras.eosTokenId;
    this.eotTokenId = extras.eotTokenId;
    this.padTokenId = extras.padTokenId;
    this.maskTokenId = extras.maskTokenId >= 0 ? extras.maskTokenId : this.findMaskTokenByName();
  }

  /**
   * Builds a tokenizer from the text (or parsed JSON) of tokenizer.json and tokenizer_config.json.
   * The mask token comes from tokenizer_config's `mask_token`, else from MASK_TOKEN_NAMES.
   */
  static fromHuggingFace(
    tokenizerJson: string | object,
    tokenizerConfig: string | object,
    options: HuggingFaceTokenizerOptions = {},
  ): TextTokenizer {
    const json = parseJsonObject(tokenizerJson, 'tokenizer.json');
    const config = parseJsonObject(tokenizerConfig, 'tokenizer_config.json');
    const inner = createInnerTokenizer(json, config, 'tokenizer.json');
    const idOf = (value: unknown): number => {
      const token = specialTokenContent(value);
      return token === null ? -1 : inner.token_to_id(token) ?? -1;
    };
    return new TextTokenizer(inner, {
      chatTemplate: options.chatTemplate ?? selectChatTemplate(config.chat_template),
      bosTokenId: idOf(config.bos_token),
      eosTokenId: idOf(config.eos_token),
      eotTokenId: -1,
      padTokenId: idOf(config.pad_token),
      maskTokenId: idOf(config.mask_token),
      textlessTokens: new Map(),
    });
  }

  /**
   * Builds a tokenizer from GGUF metadata with `tokenizer.ggml.model` "gpt2" (byte-level BPE). encode()
   * prepends BOS only when `tokenizer.ggml.add_bos_token` is true, and never appends EOS.
   * Throws UnsupportedModelError for other tokenizer models, such as SentencePiece ("llama").
   */
  static fromGguf(metadata: GgufMetadata): TextTokenizer {
    const { tokenizerJson, tokenizerConfig, textlessTokens } = tokenizerJsonFromGguf(metadata);
    const inner = createInnerTokenizer(tokenizerJson, tokenizerConfig, 'GGUF tokenizer metadata');
    const chatTemplate = metadata['tokenizer.chat_template'];
    return new TextTokenizer(inner, {
      chatTemplate: typeof chatTemplate === 'string' ? chatTemplate : null,
      bosTokenId: optionalId(metadata, 'tokenizer.ggml.bos_token_id'),
      eosTokenId: optionalId(metadata, 'tokenizer.ggml.eos_token_id'),
      eotTokenId: optionalId(metadata, 'tokenizer.ggml.eot_token_id'),
      padTokenId: optionalId(metadata, 'tokenizer.ggml.padding_token_id'),
      maskTokenId: optionalId(metadata, 'tokenizer.ggml.mask_token_id'),
      textlessTokens,
    });
  }

  /**
   * Encodes text to ids. Special-token strings inside the text (`<|im_end|>`) become their single ids.
   * Lone UTF-16 surrogates cannot be encoded as UTF-8 and are replaced by U+FFFD first, so they become
   * the ids of the bytes EF BF BD.
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const wellFormed = text.replace(LONE_SURROGATE, '\uFFFD');
    try {
      return this.inner.encode(wellFormed, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
    } catch (error) {
      // The tokenizer library reads some settings only when it first encodes, so a malformed
      // tokenizer.json can pass construction and fail here.
      throw new ConfigError('INVALID_TOKENIZER',
        `Encoding failed, so the tokenizer's configuration is invalid: ${errorMessage(error)}. Check its pre_tokenizer and normalizer settings, or download tokenizer.json again.`, { cause: error });
    }
  }

  /**
   * Decodes ids to text. Ids without text (padding rows beyond the tokenizer, GGUF UNUSED tokens) decode
   * to nothing. Bytes that do not form complete UTF-8 characters decode to U+FFFD.
   * Throws ConfigError INVALID_OPTION for an id that is not a non-negative integer.
   */
  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const withText: number[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0) {
        throw new ConfigError('INVALID_OPTION', `Invalid token id ${id} at index ${i}: token ids are non-negative integers`);
      }
      if (this.inner.id_to_token(id) !== undefined) withText.push(id);
    }
    // The library rejects an empty list.
    if (withText.length === 0) return '';
    return this.inner.decode(withText, { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  /** Returns the id of a token name (byte-level form, `Ġthe` for " the"), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token) ?? this.textlessIds.get(token);
  }

  /** Returns the name of a token id (byte-level form), or undefined for an id without a name. */
  idToToken(id: number): string | undefined {
    return this.inner.id_to_token(id) ?? this.textlessTokens.get(id);
  }

  /**
   * Renders messages through the checkpoint's Jinja chat template. `bos_token` is passed as "" because
   * `encode` adds BOS itself where the tokenizer wants one, so a template that writes `{{ bos_token }}`
   * would double it. Throws ConfigError MISSING_FIELD when there is no template, INVALID_CHAT_TEMPLATE
   * when it fails to parse or render, and INVALID_OPTION for messages that are not {role, content}
   * strings or that the template rejects through `raise_exception`.
   */
  applyChatTemplate(messages: readonly ChatMessage[], options: ChatTemplateOptions = {}): string {
    checkMessages(messages);
    const template = this.compileChatTemplate();
    const eosToken = this.eosTokenId >= 0 ? this.idToToken(this.eosTokenId) ?? '' : '';
    try {
      return template.render({
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? true,
        bos_token: '',
        eos_token: eosToken,
      });
    } catch (error) {
      // The library's raise_exception throws a plain Error, as do its own failures, and the template
      // cannot replace it. A message that appears in the template's text is taken to be a raise_exception
      // literal, such as "Conversation roles must alternate user/assistant/...".
      // NOTE: a rejection whose message the template builds at render time is reported as INVALID_CHAT_TEMPLATE.
      const message = errorMessage(error);
      if (message.length > 0 && this.chatTemplate?.includes('raise_exception') && this.chatTemplate.includes(message)) {
        throw new ConfigError('INVALID_OPTION', `The chat template rejected the messages: ${message}`, { cause: error });
      }
      throw new ConfigError('INVALID_CHAT_TEMPLATE', `The chat template failed to render: ${message}`, { cause: error });
    }
  }

  private compileChatTemplate(): Template {
    if (this.compiledTemplate) return this.compiledTemplate;
    if (this.chatTemplate === null) {
      throw new ConfigError(
        'MISSING_FIELD',
        'The checkpoint has no chat template (tokenizer_config.json `chat_template` or GGUF ' +
          '`tokenizer.chat_template`); format the prompt yourself and call encode().',
      );
    }
    try {
      this.compiledTemplate = new Template(this.chatTemplate);
    } catch (error) {
      throw new ConfigError(
        'INVALID_CHAT_TEMPLATE',
        `The chat template failed to parse: ${errorMessage(error)}. Fix the template in the checkpoint, or format ` +
          'the prompt yourself and call encode().',
        { cause: error },
      );
    }
    return this.compiledTemplate;
  }

  private findMaskTokenByName(): number {
    for (const name of MASK_TOKEN_NAMES) {
      const id = this.inner.token_to_id(name);
      if (id !== undefined) return id;
    }
    return -1;
  }
}

// ---------------------------------------------------------------------------------------------------
// GGUF metadata -> tokenizer.json

/** llama.cpp's `llama_token_type` values stored in `tokenizer.ggml.token_type`. */
const GGUF_TOKEN_TYPE = {
  normal: 1,
  unknown: 2,
  control: 3,
  userDefined: 4,
  unused: 5,
  byte: 6,
} as const;

// Pre-tokenizer regexes, written as in the Hugging Face tokenizer.json files of these model families.
// `tokenizer.ggml.pre` names which one a GGUF file used when it was converted.
const QWEN2_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LLAMA3_PATTERN =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** tokenizer.ggml.pre -> split regex. Any other value gets the GPT-2 regex. */
const PRE_TOKENIZER_PATTERNS: Readonly<Record<string, string>> = {
  'qwen2': QWEN2_PATTERN,
  'llama-bpe': LLAMA3_PATTERN,
  'gpt-2': GPT2_PATTERN,
};

interface ConvertedTokenizer {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  textlessTokens: Map<number, string>;
}

/**
 * Converts GGUF `tokenizer.*` metadata into tokenizer.json and tokenizer_config.json objects.
 * NORMAL and BYTE tokens form the BPE vocabulary. CONTROL and UNKNOWN tokens become special added tokens,
 * and USER_DEFINED tokens become non-special added tokens, so their strings in text map to single ids
 * as llama.cpp parses them. UNUSED tokens stay out of both and are returned as textless ids.
 */
function tokenizerJsonFromGguf(metadata: GgufMetadata): ConvertedTokenizer {
  const model = metadata['tokenizer.ggml.model'];
  if (model !== 'gpt2') {
    throw new UnsupportedModelError(
      'UNSUPPORTED_FEATURE',
      `GGUF tokenizer model ${JSON.stringify(model)} is not supported: only "gpt2" (byte-level BPE) is. ` +
        'SentencePiece ("llama") tokenizers are not implemented; use a checkpoint with a BPE tokenizer.',
    );
  }

  const tokens = requireStringArray(metadata, 'tokenizer.ggml.tokens');
  const merges = requireStringArray(metadata, 'tokenizer.ggml.merges');
  const types = optionalNumberArray(metadata, 'tokenizer.ggml.token_type');
  if (types && types.length !== tokens.length) {
    throw new ModelFormatError(
      'INVALID_GGUF',
      `GGUF tokenizer.ggml.token_type has ${types.length} entries but tokenizer.ggml.tokens has ${tokens.length}`,
    );
  }

  const vocab: Record<string, number> = {};
  const addedTokens: object[] = [];
  const textlessTokens = new Map<number, string>();
  for (let id = 0; id < tokens.length; id++) {
    const token = tokens[id];
    const type = types ? types[id] : GGUF_TOKEN_TYPE.normal;
    if (type === GGUF_TOKEN_TYPE.unused) {
      textlessTokens.set(id, token);
    } else if (type === GGUF_TOKEN_TYPE.control || type === GGUF_TOKEN_TYPE.unknown) {
      addedTokens.push(addedToken(id, token, true));
    } else if (type === GGUF_TOKEN_TYPE.userDefined) {
      addedTokens.push(addedToken(id, token, false));
    } else {
      vocab[token] = id;
    }
  }

  const pre = metadata['tokenizer.ggml.pre'];
  const pattern = (typeof pre === 'string' && PRE_TOKENIZER_PATTERNS[pre]) || GPT2_PATTERN;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: false, use_regex: false };

  const bosId = optionalId(metadata, 'tokenizer.ggml.bos_token_id');
  const addBos = metadata['tokenizer.ggml.add_bos_token'] === true && bosId >= 0;
  // A TemplateProcessing post-processor is how tokenizer.json expresses "prepend BOS".
  const postProcessor = addBos
    ? {
        type: 'TemplateProcessing',
        single: [{ SpecialToken: { id: tokens[bosId], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
        pair: [{ SpecialToken: { id: tokens[bosId], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } },
          { Sequence: { id: 'B', type_id: 1 } }],
        special_tokens: { [tokens[bosId]]: { id: tokens[bosId], ids: [bosId], tokens: [tokens[bosId]] } },
      }
    : byteLevel;

  const tokenizerJson = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    // Qwen2's tokenizer.json normalizes to NFC. llama.cpp does not normalize, so the two differ on
    // decomposed input ("cafe\u0301"). This follows tokenizer.json, the tokenizer the model was trained with.
    normalizer: pre === 'qwen2' ? { type: 'NFC' } : null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
        byteLevel,
      ],
    },
    post_processor: postProcessor,
    decoder: byteLevel,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: merges.map(splitMerge),
    },
  };
  const tokenizerConfig = { clean_up_tokenization_spaces: false };
  return { tokenizerJson, tokenizerConfig, textlessTokens };
}

function addedToken(id: number, content: string, special: boolean): object {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special };
}

/** Splits a GGUF merge "Ġt he" into its pair. Byte-level tokens never contain a space (it is `Ġ`). */
function splitMerge(merge: string): [string, string] {
  const space = merge.indexOf(' ', 1);
  if (space < 0) throw new ModelFormatError('INVALID_GGUF', `GGUF merge ${JSON.stringify(merge)} is not two tokens separated by a space`);
  return [merge.slice(0, space), merge.slice(space + 1)];
}

// ---------------------------------------------------------------------------------------------------
// Helpers

/** A lone high or low surrogate. With the `u` flag, a valid surrogate pair is one code point and does not match. */
const LONE_SURROGATE = /\p{Cs}/gu;

function createInnerTokenizer(json: object, config: object, source: string): Tokenizer {
  try {
    return new Tokenizer(json, config);
  } catch (error) {
    throw new ConfigError('INVALID_TOKENIZER', `Invalid ${source}: ${errorMessage(error)}`, { cause: error });
  }
}

function checkMessages(messages: readonly ChatMessage[]): void {
  if (!Array.isArray(messages)) {
    throw new ConfigError('INVALID_OPTION', `Invalid chat messages ${String(messages)}: expected an array of {role, content}.`);
  }
  messages.forEach((message, i) => {
    if (typeof message?.role !== 'string' || typeof message.content !== 'string') {
      throw new ConfigError(
        'INVALID_OPTION',
        `Invalid chat message at index ${i}: role and content must be strings, got ${JSON.stringify(message)}.`,
      );
    }
  });
}

function parseJsonObject(value: string | object, name: string): Record<string, unknown> {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch (error) {
      throw new ConfigError('INVALID_TOKENIZER', `Invalid ${name}: ${errorMessage(error)}`, { cause: error });
    }
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError('INVALID_TOKENIZER', `Invalid ${name}: expected a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

/** tokenizer_config names special tokens as a string or as an AddedToken object with `content`. */
function specialTokenContent(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (value !== null && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return null;
}

/** tokenizer_config's `chat_template` is a string, or a list of `{name, template}` with one named "default". */
function selectChatTemplate(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value.find((entry) => entry?.name === 'default') ?? value[0];
    return typeof named?.template === 'string' ? named.template : null;
  }
  return null;
}

function optionalId(metadata: GgufMetadata, key: string): number {
  const value = metadata[key];
  if (typeof value === 'number' || typeof value === 'bigint') return Number(value);
  return -1;
}

function requireStringArray(metadata: GgufMetadata, key: string): string[] {
  const value = metadata[key];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new ModelFormatError('INVALID_GGUF', `GGUF metadata ${key} is missing or is not an array of strings`);
  }
  return value;
}

function optionalNumberArray(metadata: GgufMetadata, key: string): number[] | null {
  const value = metadata[key];
  if (value === undefined) return null;
  if (Array.isArray(value) || ArrayBuffer.isView(value)) {
    return Array.from(value as ArrayLike<number | bigint>, Number);
  }
  throw new ModelFormatError('INVALID_GGUF', `GGUF metadata ${key} is not an array of integers`);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
