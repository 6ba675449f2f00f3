import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  type EncodedBatch,
  type EncodedText,
  FormatError,
  InvalidArgumentError,
  MissingResourceError,
  readLocalFile,
  type TextPairEncoder,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';

/**
 * BERT's WordPiece tokenizer (HF `BertTokenizer`: `BasicTokenizer` + `WordpieceTokenizer`), written
 * here rather than taken from a library because it is short and must match HF exactly from a plain
 * vocab.txt: clean text (drop NUL, U+FFFD and control characters, whitespace → space), NFC, spaces
 * around CJK ideographs, whitespace split, lowercase + strip accents when uncased, punctuation split,
 * then greedy longest-match WordPiece with `##` continuations; words over 100 characters → [UNK].
 */

export interface WordPieceOptions {
  /** Lowercase (and strip accents) before WordPiece: `do_lower_case`, true for uncased models. */
  lowercase: boolean;
  /** Strip accents; default: as `lowercase` (HF `strip_accents=None`). */
  stripAccents?: boolean;
  /** Split CJK ideographs into single-character words; default true. */
  tokenizeChineseChars?: boolean;
  /** Words longer than this (in characters) become [UNK]; default 100. */
  maxCharsPerWord?: number;
  unknownToken?: string;
  classToken?: string;
  separatorToken?: string;
  padToken?: string;
}

/** An encoded batch as plain arrays, padded to its longest example (dynamic padding). */
export interface PaddedBatch {
  inputIds: number[][];
  tokenTypeIds: number[][];
  attentionMask: number[][];
}

const isWhitespace = (c: string) =>
  c === ' ' || c === '\t' || c === '\n' || c === '\r' || /^\p{Zs}$/u.test(c);
const isControl = (c: string) => c !== '\t' && c !== '\n' && c !== '\r' && /^\p{C}$/u.test(c);
const isPunctuation = (c: string) => {
  const cp = c.codePointAt(0)!;
  if (
    (cp >= 33 && cp <= 47) ||
    (cp >= 58 && cp <= 64) ||
    (cp >= 91 && cp <= 96) ||
    (cp >= 123 && cp <= 126)
  ) {
    return true;
  }
  return /^\p{P}$/u.test(c);
};
const isChineseChar = (cp: number) =>
  (cp >= 0x4e00 && cp <= 0x9fff) ||
  (cp >= 0x3400 && cp <= 0x4dbf) ||
  (cp >= 0x20000 && cp <= 0x2a6df) ||
  (cp >= 0x2a700 && cp <= 0x2b73f) ||
  (cp >= 0x2b740 && cp <= 0x2b81f) ||
  (cp >= 0x2b820 && cp <= 0x2ceaf) ||
  (cp >= 0xf900 && cp <= 0xfaff) ||
  (cp >= 0x2f800 && cp <= 0x2fa1f);

/** Python's `str.split()`; the other characters Python counts as space are controls, removed by cleaning. */
const whitespaceSplit = (text: string) => text.split(/\s+/u).filter((t) => t.length > 0);

export class WordPieceTokenizer implements TextPairEncoder {
  readonly vocabulary: ReadonlyMap<string, number>;
  readonly tokens: readonly string[];
  readonly lowercase: boolean;
  readonly stripAccents: boolean;
  readonly tokenizeChineseChars: boolean;
  readonly maxCharsPerWord: number;
  readonly unknownId: number;
  readonly classId: number;
  readonly separatorId: number;
  readonly padId: number;

  /** From the tokens of a vocab.txt, in id order. */
  constructor(tokens: readonly string[], options: WordPieceOptions) {
    this.tokens = tokens;
    const vocabulary = new Map<string, number>();
    tokens.forEach((token, id) => {
      if (!vocabulary.has(token)) vocabulary.set(token, id);
    });
    this.vocabulary = vocabulary;
    this.lowercase = options.lowercase;
    this.stripAccents = options.stripAccents ?? options.lowercase;
    this.tokenizeChineseChars = options.tokenizeChineseChars ?? true;
    this.maxCharsPerWord = options.maxCharsPerWord ?? 100;
    const special = (token: string, role: string) => {
      const id = vocabulary.get(token);
      if (id === undefined) {
        throw new InvalidArgumentError({
          argument: `${role} token`,
          expected: 'a token of the vocabulary',
          found: token,
          context: 'WordPieceTokenizer',
        });
      }
      return id;
    };
    this.unknownId = special(options.unknownToken ?? '[UNK]', 'unknown');
    this.classId = special(options.classToken ?? '[CLS]', 'class');
    this.separatorId = special(options.separatorToken ?? '[SEP]', 'separator');
    this.padId = special(options.padToken ?? '[PAD]', 'pad');
  }

  /** Parses vocab.txt text: one token per line, id = line number. */
  static fromVocabularyText(text: string, options: WordPieceOptions): WordPieceTokenizer {
    const lines = text.split(/\r?\n/);
    if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
    return new WordPieceTokenizer(lines, options);
  }

  /** Reads vocab.txt from a path. */
  static async fromVocabularyFile(path: string, options: WordPieceOptions): Promise<WordPieceTokenizer> {
    if (!existsSync(path))
      throw new MissingResourceError({
        resource: path,
        hint: 'BERT models ship their WordPiece vocabulary as vocab.txt',
      });
    return WordPieceTokenizer.fromVocabularyText(
      (await readLocalFile(path, { what: 'vocab.txt' })).toString('utf8'),
      options,
    );
  }

  /** The basic tokenizer: clean, split CJK, whitespace split, lowercase/strip accents, split punctuation. */
  basicTokenize(text: string): string[] {
    let cleaned = '';
    for (const c of text) {
      const cp = c.codePointAt(0)!;
      if (cp === 0 || cp === 0xfffd || isControl(c)) continue;
      if (isWhitespace(c)) cleaned += ' ';
      else if (this.tokenizeChineseChars && isChineseChar(cp)) cleaned += ` ${c} `;
      else cleaned += c;
    }
    cleaned = cleaned.normalize('NFC');
    const words: string[] = [];
    for (let token of whitespaceSplit(cleaned)) {
      if (this.lowercase) token = token.toLowerCase();
      if (this.stripAccents) token = token.normalize('NFD').replace(/\p{Mn}/gu, '');
      let current = '';
      for (const c of token) {
        if (isPunctuation(c)) {
          if (current) words.push(current);
          words.push(c);
          current = '';
        } else current += c;
      }
      if (current) words.push(current);
    }
    return words;
  }

  /** Greedy longest-match WordPiece of one word, as ids; a word that cannot be covered is [UNK]. */
  wordPiece(word: string): number[] {
    const chars = Array.from(word);
    if (chars.length > this.maxCharsPerWord) return [this.unknownId];
    const ids: number[] = [];
    let start = 0;
    while (start < chars.length) {
      let end = chars.length;
      let id: number | undefined;
      while (start < end) {
        const piece = (start > 0 ? '##' : '') + chars.slice(start, end).join('');
        id = this.vocabulary.get(piece);
        if (id !== undefined) break;
        end--;
      }
      if (id === undefined) return [this.unknownId];
      ids.push(id);
      start = end;
    }
    return ids;
  }

  /** Token ids of a text, without special tokens. */
  tokenize(text: string): number[] {
    return this.basicTokenize(text).flatMap((word) => this.wordPiece(word));
  }

  /** The tokens of ids. */
  idsToTokens(ids: readonly number[]): string[] {
    return ids.map((id) => this.tokens[id] ?? '[UNK]');
  }

  /**
   * `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]`, truncated to `maxLength` tokens with HF's
   * `longest_first` strategy (one token at a time from the longer segment, ties from the second).
   */
  encode(textA: string, textB: string | null, options: { maxLength: number }): EncodedText {
    const { maxLength } = options;
    const specials = textB === null ? 2 : 3;
    if (!Number.isInteger(maxLength) || maxLength < specials) {
      throw new InvalidArgumentError({
        argument: 'maxLength',
        expected: `an integer >= ${specials} (room for the special tokens)`,
        found: maxLength,
        context: 'WordPieceTokenizer.encode',
      });
    }
    let a = this.tokenize(textA);
    let b = textB === null ? [] : this.tokenize(textB);
    const budget = maxLength - specials;
    if (a.length + b.length > budget) {
      if (textB === null) a = a.slice(0, budget);
      else {
        const [lengthA, lengthB] = longestFirst(a.length, b.length, budget);
        a = a.slice(0, lengthA);
        b = b.slice(0, lengthB);
      }
    }
    const inputIds = [this.classId, ...a, this.separatorId];
    const tokenTypeIds = inputIds.map(() => 0);
    if (textB !== null) {
      inputIds.push(...b, this.separatorId);
      for (let i = 0; i <= b.length; i++) tokenTypeIds.push(1);
    }
    return { inputIds, tokenTypeIds };
  }

  /** Encodes examples and pads them to the longest one (padding id, type 0, mask 0). */
  encodeBatch(
    pairs: readonly (readonly [string, string | null])[],
    options: { maxLength: number },
  ): PaddedBatch {
    return padEncoded(
      pairs.map(([a, b]) => this.encode(a, b, options)),
      this.padId,
    );
  }
}

/**
 * HF `longest_first` truncation lengths: removing one token at a time from the longer segment (the
 * second on ties) until `budget` is met, computed in closed form.
 */
export function longestFirst(lengthA: number, lengthB: number, budget: number): [number, number] {
  let a = lengthA;
  let b = lengthB;
  let remove = a + b - budget;
  if (remove <= 0) return [a, b];
  const difference = Math.abs(a - b);
  const first = Math.min(remove, difference);
  if (a > b) a -= first;
  else b -= first;
  remove -= first;
  // Now equal: alternately from b (tie), then a.
  b -= Math.ceil(remove / 2);
  a -= Math.floor(remove / 2);
  return [Math.max(a, 0), Math.max(b, 0)];
}

/** Pads encoded examples to the longest (dynamic padding). */
export function padEncoded(encoded: readonly EncodedText[], padId: number): PaddedBatch {
  const length = Math.max(0, ...encoded.map((e) => e.inputIds.length));
  const batch: PaddedBatch = { inputIds: [], tokenTypeIds: [], attentionMask: [] };
  for (const e of encoded) {
    const pad = length - e.inputIds.length;
    batch.inputIds.push([...e.inputIds, ...new Array<number>(pad).fill(padId)]);
    batch.tokenTypeIds.push([...e.tokenTypeIds, ...new Array<number>(pad).fill(0)]);
    batch.attentionMask.push([
      ...new Array<number>(e.inputIds.length).fill(1),
      ...new Array<number>(pad).fill(0),
    ]);
  }
  return batch;
}

/** int32 tensors [batch, length] of a padded batch (the caller disposes them). */
export function toEncodedBatch(batch: PaddedBatch): EncodedBatch {
  const shape: [number, number] = [batch.inputIds.length, batch.inputIds[0]?.length ?? 0];
  const flat = (rows: number[][]) => Int32Array.from(rows.flat());
  return {
    inputIds: tf.tensor2d(flat(batch.inputIds), shape, 'int32'),
    tokenTypeIds: tf.tensor2d(flat(batch.tokenTypeIds), shape, 'int32'),
    attentionMask: tf.tensor2d(flat(batch.attentionMask), shape, 'int32'),
  };
}

/**
 * Encodes text pairs with any backbone encoder and pads them into int32 tensors [batch, longest]
 * (dynamic padding). The caller disposes the tensors.
 */
export function encodePairs(
  encoder: TextPairEncoder,
  pairs: readonly (readonly [string, string | null])[],
  options: { maxLength: number },
): EncodedBatch {
  return toEncodedBatch(
    padEncoded(
      pairs.map(([a, b]) => encoder.encode(a, b, options)),
      encoder.padId,
    ),
  );
}

/**
 * The tokenizer settings of a model directory: `tokenizer_config.json` (`do_lower_case`,
 * `strip_accents`, `tokenize_chinese_chars`), else `tokenizer.json`'s BertNormalizer, else a
 * guess from the model name (`cased` but not `uncased` → cased), else uncased (HF's default).
 */
export async function readTokenizerOptions(directory: string, name = directory): Promise<WordPieceOptions> {
  const read = async (file: string): Promise<Record<string, unknown> | undefined> => {
    const path = join(directory, file);
    if (!existsSync(path)) return undefined;
    try {
      return JSON.parse((await readLocalFile(path, { what: file })).toString('utf8')) as Record<
        string,
        unknown
      >;
    } catch (error) {
      throw new FormatError({ path, expected: 'valid JSON', found: (error as Error).message });
    }
  };
  const options: WordPieceOptions = { lowercase: !/(^|[^n])cased/i.test(name) || /uncased/i.test(name) };
  const fast = await read('tokenizer.json');
  const normalizer = fast?.normalizer as Record<string, unknown> | null | undefined;
  if (normalizer && normalizer.type === 'BertNormalizer') {
    if (typeof normalizer.lowercase === 'boolean') options.lowercase = normalizer.lowercase;
    if (typeof normalizer.strip_accents === 'boolean') options.stripAccents = normalizer.strip_accents;
    if (typeof normalizer.handle_chinese_chars === 'boolean')
      options.tokenizeChineseChars = normalizer.handle_chinese_chars;
  }
  const config = await read('tokenizer_config.json');
  if (config) {
    if (typeof config.do_lower_case === 'boolean') options.lowercase = config.do_lower_case;
    if (typeof config.strip_accents === 'boolean') options.stripAccents = config.strip_accents;
    if (typeof config.tokenize_chinese_chars === 'boolean')
      options.tokenizeChineseChars = config.tokenize_chinese_chars;
    for (const [key, field] of [
      ['unk_token', 'unknownToken'],
      ['cls_token', 'classToken'],
      ['sep_token', 'separatorToken'],
      ['pad_token', 'padToken'],
    ] as const) {
      if (typeof config[key] === 'string') options[field] = config[key] as string;
    }
  }
  return options;
}
