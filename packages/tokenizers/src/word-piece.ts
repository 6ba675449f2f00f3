import { type EncodedText, FormatError, InvalidArgumentError, type TextPairEncoder } from '@diffprune/core';
import { type PaddedBatch, padEncoded } from './batch.js';
import { type PairTruncation, truncatePair } from './truncation.js';

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
  /**
   * Pair truncation: `longest-first` as the tokenizers library (tokenizer.json, transformers ≥ 5),
   * or `longest-first-slow` as transformers' Python BertTokenizer. They differ only on odd budgets.
   * Default: `longest-first` from tokenizer.json, `longest-first-slow` from vocab.txt (as before).
   */
  truncation?: PairTruncation;
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
  readonly truncation: PairTruncation;

  /** The number of ids it can produce (its highest id + 1): the word-embedding rows it needs. */
  get vocabularySize(): number {
    return this.tokens.length;
  }

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
    this.truncation = options.truncation ?? 'longest-first-slow';
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

  /**
   * From a parsed HF `tokenizer.json` whose model is WordPiece (what current transformers saves for
   * BERT, DistilBERT and ELECTRA instead of vocab.txt): the vocabulary is `model.vocab` in id order;
   * `options` come from `tokenizerOptionsFromJson` (or `readTokenizerOptions`) (tokenizer_config.json, else the BertNormalizer).
   */
  static fromTokenizerJson(
    json: unknown,
    options: WordPieceOptions,
    path = 'tokenizer.json',
  ): WordPieceTokenizer {
    const model = (json as { model?: { type?: unknown; vocab?: unknown; unk_token?: unknown } } | null)
      ?.model;
    if (model?.type !== 'WordPiece' || typeof model.vocab !== 'object' || model.vocab === null) {
      throw new FormatError({
        path,
        expected: 'a tokenizer.json with a WordPiece model and its vocab',
        found: `model type ${JSON.stringify(model?.type)}`,
      });
    }
    return new WordPieceTokenizer(tokensInIdOrder(model.vocab as Record<string, unknown>, path), {
      unknownToken: typeof model.unk_token === 'string' ? model.unk_token : '[UNK]',
      truncation: 'longest-first',
      ...options,
    });
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
    const [a, b] = truncatePair(this.tokenize(textA), textB === null ? null : this.tokenize(textB), {
      maxLength: options.maxLength,
      specials: textB === null ? 2 : 3,
      context: 'WordPieceTokenizer.encode',
      strategy: this.truncation,
    });
    const inputIds = [this.classId, ...a, this.separatorId];
    const tokenTypeIds = inputIds.map(() => 0);
    if (textB !== null) {
      inputIds.push(...b!, this.separatorId);
      for (let i = 0; i <= b!.length; i++) tokenTypeIds.push(1);
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
 * WordPiece settings from a model's tokenizer files, parsed (absent ones undefined):
 * `tokenizer_config.json` (`do_lower_case`, `strip_accents`, `tokenize_chinese_chars`, special
 * tokens), else `tokenizer.json`'s BertNormalizer, else a guess from the model name (`cased` but not
 * `uncased` → cased), else uncased (HF's default). `readTokenizerOptions` (Node) reads a directory.
 */
export function tokenizerOptionsFromJson(
  name: string,
  fast: Record<string, unknown> | undefined,
  config: Record<string, unknown> | undefined,
): WordPieceOptions {
  const options: WordPieceOptions = { lowercase: !/(^|[^n])cased/i.test(name) || /uncased/i.test(name) };
  const normalizer = fast?.normalizer as Record<string, unknown> | null | undefined;
  if (normalizer && normalizer.type === 'BertNormalizer') {
    if (typeof normalizer.lowercase === 'boolean') options.lowercase = normalizer.lowercase;
    if (typeof normalizer.strip_accents === 'boolean') options.stripAccents = normalizer.strip_accents;
    if (typeof normalizer.handle_chinese_chars === 'boolean')
      options.tokenizeChineseChars = normalizer.handle_chinese_chars;
  }
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

/** The tokens of a `{token: id}` vocabulary in id order; ids must be 0…n−1 without gaps. */
export function tokensInIdOrder(vocab: Record<string, unknown>, path: string): string[] {
  const tokens: string[] = [];
  for (const [token, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0 || tokens[id as number] !== undefined) {
      throw new FormatError({
        path,
        expected: 'distinct non-negative integer token ids',
        found: `${token}: ${id}`,
      });
    }
    tokens[id as number] = token;
  }
  for (let id = 0; id < tokens.length; id++) {
    if (tokens[id] === undefined)
      throw new FormatError({
        path,
        expected: `ids 0…${tokens.length - 1} without gaps`,
        found: `no token with id ${id}`,
      });
  }
  return tokens;
}
