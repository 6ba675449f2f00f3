import { type EncodedText, FormatError, type TextPairEncoder } from '@diffprune/core';
import { Tokenizer } from '@huggingface/tokenizers';
import { truncatePair } from './truncation.js';

/**
 * RoBERTa's byte-level BPE (GPT-2 bytes-to-unicode, the GPT-2 pre-tokenization regex, ranked merges)
 * from an HF `tokenizer.json`, wrapped as a `TextPairEncoder`: `<s> a </s>` or `<s> a </s></s> b </s>`
 * (`RobertaProcessing`), `longest_first` truncation, token type ids all 0 (RoBERTa has one type).
 *
 * The subword step is `@huggingface/tokenizers` (HF's own pure-JS port, no dependencies): it reads
 * tokenizer.json as the Rust library does, so the normalizer, pre-tokenizer and merge rules are HF's
 * rather than our re-implementation of them. We add only what it leaves out: truncation (it has none)
 * and the special-token layout, taken from the file's post-processor.
 */
export class ByteLevelBpeTokenizer implements TextPairEncoder {
  readonly classId: number;
  readonly separatorId: number;
  readonly padId: number;
  readonly unknownId: number | undefined;
  /** The number of ids it can produce (its highest id, model vocab or added token, + 1). */
  readonly vocabularySize: number;
  private readonly tokenizer: Tokenizer;

  private constructor(
    tokenizer: Tokenizer,
    ids: { classId: number; separatorId: number; padId: number; unknownId: number | undefined },
    vocabularySize: number,
  ) {
    this.tokenizer = tokenizer;
    this.vocabularySize = vocabularySize;
    this.classId = ids.classId;
    this.separatorId = ids.separatorId;
    this.padId = ids.padId;
    this.unknownId = ids.unknownId;
  }

  /**
   * From a parsed tokenizer.json (BPE model, ByteLevel pre-tokenizer, RobertaProcessing
   * post-processor) and the parsed tokenizer_config.json (for `pad_token`, `unk_token`; may be `{}`).
   */
  static fromTokenizerJson(
    json: unknown,
    config: Record<string, unknown> = {},
    path = 'tokenizer.json',
  ): ByteLevelBpeTokenizer {
    const file = json as {
      model?: { type?: unknown; vocab?: unknown };
      added_tokens?: unknown;
      pre_tokenizer?: { type?: unknown } | null;
      post_processor?: { type?: unknown; cls?: unknown; sep?: unknown } | null;
    } | null;
    if (file?.model?.type !== 'BPE' || file.pre_tokenizer?.type !== 'ByteLevel') {
      throw new FormatError({
        path,
        expected: 'a byte-level BPE tokenizer.json (model BPE, pre_tokenizer ByteLevel)',
        found: `model ${JSON.stringify(file?.model?.type)}, pre_tokenizer ${JSON.stringify(file?.pre_tokenizer?.type)}`,
      });
    }
    const post = file.post_processor;
    if (post?.type !== 'RobertaProcessing') {
      throw new FormatError({
        path,
        expected: 'post_processor RobertaProcessing (<s> a </s></s> b </s>)',
        found: JSON.stringify(post?.type ?? null),
      });
    }
    const special = (value: unknown, role: string): number => {
      if (Array.isArray(value) && typeof value[1] === 'number') return value[1];
      throw new FormatError({
        path,
        expected: `post_processor.${role} as [token, id]`,
        found: JSON.stringify(value),
      });
    };
    const tokenizer = new Tokenizer(json as object, config);
    const idOf = (key: string, fallback: string): number | undefined =>
      tokenizer.token_to_id(typeof config[key] === 'string' ? (config[key] as string) : fallback);
    const padId = idOf('pad_token', '<pad>');
    if (padId === undefined) {
      throw new FormatError({
        path,
        expected: 'a pad token in the vocabulary (pad_token, else <pad>)',
        found: 'none',
      });
    }
    return new ByteLevelBpeTokenizer(
      tokenizer,
      {
        classId: special(post.cls, 'cls'),
        separatorId: special(post.sep, 'sep'),
        padId,
        unknownId: idOf('unk_token', '<unk>'),
      },
      highestId(file.model.vocab, file.added_tokens) + 1,
    );
  }

  /** Token ids of a text, without special tokens. */
  tokenize(text: string): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  /** The tokens of ids. */
  idsToTokens(ids: readonly number[]): string[] {
    return ids.map((id) => this.tokenizer.id_to_token(id) ?? '');
  }

  encode(textA: string, textB: string | null, options: { maxLength: number }): EncodedText {
    const [a, b] = truncatePair(this.tokenize(textA), textB === null ? null : this.tokenize(textB), {
      maxLength: options.maxLength,
      specials: textB === null ? 2 : 4,
      context: 'ByteLevelBpeTokenizer.encode',
    });
    const inputIds = [this.classId, ...a, this.separatorId];
    if (b !== null) inputIds.push(this.separatorId, ...b, this.separatorId);
    return { inputIds, tokenTypeIds: inputIds.map(() => 0) };
  }
}

/** The highest id of a tokenizer.json's `model.vocab` (token → id) and `added_tokens` ([{ id }]); −1 if none. */
function highestId(vocab: unknown, added: unknown): number {
  let highest = -1;
  if (vocab !== null && typeof vocab === 'object')
    for (const id of Object.values(vocab)) if (typeof id === 'number' && id > highest) highest = id;
  if (Array.isArray(added))
    for (const token of added) {
      const id = (token as { id?: unknown } | null)?.id;
      if (typeof id === 'number' && id > highest) highest = id;
    }
  return highest;
}
