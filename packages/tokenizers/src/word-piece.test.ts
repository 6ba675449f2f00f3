import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { encodePairs, padEncoded, toEncodedBatch } from './batch.js';
import { longestFirst } from './truncation.js';
import { WordPieceTokenizer } from './word-piece.js';
import { wordPieceFromVocabularyFile } from './word-piece-files.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const fixturePath = `${shared}fixtures/tokenizer.json`;
const vocabularyPath = `${shared}data/vocab/bert-base-uncased-vocab.txt`;
const missing = !existsSync(fixturePath) || !existsSync(vocabularyPath);
if (missing)
  process.stderr.write(`skipping tokenizer fixture tests: ${fixturePath} or the vocabulary is absent\n`);

interface TokenizerFixture {
  lowercase: boolean;
  cases: {
    text_a: string;
    text_b: string | null;
    max_length: number;
    input_ids: number[];
    token_type_ids: number[];
    tokens: string[];
  }[];
}

describe.skipIf(missing)('WordPiece against the reference tokenizer (tokenizer.json)', async () => {
  const fixture = missing ? undefined : (JSON.parse(readFileSync(fixturePath, 'utf8')) as TokenizerFixture);
  const tokenizer = missing
    ? undefined
    : await wordPieceFromVocabularyFile(vocabularyPath, { lowercase: fixture!.lowercase });
  for (const [index, c] of (fixture?.cases ?? []).entries()) {
    it(`case ${index}: ${JSON.stringify(c.text_a).slice(0, 40)}`, () => {
      const encoded = tokenizer!.encode(c.text_a, c.text_b, { maxLength: c.max_length });
      expect(tokenizer!.idsToTokens(encoded.inputIds)).toEqual(c.tokens);
      expect(encoded.inputIds).toEqual(c.input_ids);
      expect(encoded.tokenTypeIds).toEqual(c.token_type_ids);
    });
  }
});

describe('WordPieceTokenizer on a toy vocabulary', () => {
  const vocabulary = [
    '[PAD]',
    '[UNK]',
    '[CLS]',
    '[SEP]',
    'un',
    '##aff',
    '##able',
    'a',
    'b',
    '##b',
    ',',
    'ok',
    'é',
    '中',
  ];
  const uncased = new WordPieceTokenizer(vocabulary, { lowercase: true });
  const cased = new WordPieceTokenizer(vocabulary, { lowercase: false });

  it('splits greedily by longest match with ## continuations', () => {
    expect(uncased.idsToTokens(uncased.tokenize('Unaffable'))).toEqual(['un', '##aff', '##able']);
    expect(uncased.idsToTokens(uncased.tokenize('abb ax'))).toEqual(['a', '##b', '##b', '[UNK]']);
    expect(uncased.idsToTokens(uncased.tokenize('a,b'))).toEqual(['a', ',', 'b']);
  });

  it('keeps case and accents when cased', () => {
    expect(cased.idsToTokens(cased.tokenize('Unaffable é'))).toEqual(['[UNK]', 'é']);
    expect(uncased.idsToTokens(uncased.tokenize('É'))).toEqual(['[UNK]']); // stripped to "e", not in vocab
  });

  it('splits CJK ideographs and drops control characters', () => {
    expect(uncased.idsToTokens(uncased.tokenize('中中\u0000ok\u0007'))).toEqual(['中', '中', 'ok']);
  });

  it('maps words over 100 characters to [UNK]', () => {
    expect(uncased.tokenize('b'.repeat(101))).toEqual([1]);
    expect(uncased.tokenize('b'.repeat(100))).toEqual([8, ...new Array<number>(99).fill(9)]);
  });

  it('truncates pairs longest-first, ties from the second segment', () => {
    // A direct simulation of HF's loop, to check the closed form against.
    const simulate = (a: number, b: number, budget: number) => {
      while (a + b > budget) {
        if (a > b) a--;
        else b--;
      }
      return [a, b];
    };
    for (let a = 0; a < 12; a++)
      for (let b = 0; b < 12; b++)
        for (let budget = 0; budget < 25; budget++)
          expect(longestFirst(a, b, budget), `${a} ${b} ${budget}`).toEqual(simulate(a, b, budget));
  });

  it('refuses a max length without room for the special tokens', () => {
    expect(() => uncased.encode('a', 'b', { maxLength: 2 })).toThrow(InvalidArgumentError);
  });

  it('pads a batch dynamically to its longest example', () => {
    const padded = padEncoded(
      [uncased.encode('a', null, { maxLength: 8 }), uncased.encode('a b', 'ok', { maxLength: 8 })],
      0,
    );
    expect(padded.inputIds).toEqual([
      [2, 7, 3, 0, 0, 0],
      [2, 7, 8, 3, 11, 3],
    ]);
    expect(padded.tokenTypeIds).toEqual([
      [0, 0, 0, 0, 0, 0],
      [0, 0, 0, 0, 1, 1],
    ]);
    expect(padded.attentionMask).toEqual([
      [1, 1, 1, 0, 0, 0],
      [1, 1, 1, 1, 1, 1],
    ]);
    const batch = toEncodedBatch(padded);
    expect(batch.inputIds.shape).toEqual([2, 6]);
    expect(batch.inputIds.dtype).toBe('int32');
    const direct = encodePairs(
      uncased,
      [
        ['a', null],
        ['a b', 'ok'],
      ],
      { maxLength: 8 },
    );
    expect(direct.inputIds.arraySync()).toEqual(padded.inputIds);
    expect(direct.tokenTypeIds!.arraySync()).toEqual(padded.tokenTypeIds);
    expect(direct.attentionMask.arraySync()).toEqual(padded.attentionMask);
    tf.dispose([batch.inputIds, batch.tokenTypeIds, batch.attentionMask]);
    tf.dispose([direct.inputIds, direct.tokenTypeIds, direct.attentionMask]);
  });
});
