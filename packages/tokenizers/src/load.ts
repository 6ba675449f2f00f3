import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, MissingResourceError, readLocalFile, type TextPairEncoder } from '@diffprune/core';
import { ByteLevelBpeTokenizer } from './byte-level-bpe.js';
import type { TokenizerKind } from './kind.js';
import { tokenizerJsonKind } from './kind.js';
import { WordPieceTokenizer } from './word-piece.js';
import { readTokenizerOptions, wordPieceFromVocabularyFile } from './word-piece-files.js';

/** A tokenizer of either family. */
export type AnyTokenizer = WordPieceTokenizer | ByteLevelBpeTokenizer;

const readJson = async (path: string): Promise<Record<string, unknown> | undefined> => {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse((await readLocalFile(path)).toString('utf8')) as Record<string, unknown>;
  } catch (error) {
    throw new FormatError({ path, expected: 'valid JSON', found: (error as Error).message });
  }
};

/**
 * Reads the tokenizer of an HF model directory, as `AutoTokenizer` would: `tokenizer.json` when
 * present (WordPiece or byte-level BPE), else `vocab.txt` (WordPiece). Settings come from
 * `tokenizer_config.json`. `expected`, when given, is the kind the backbone needs: another kind is
 * a `FormatError`. `name` (a hub id) only guides the cased/uncased guess for a bare vocab.txt.
 */
export async function loadTokenizer(
  directory: string,
  options: { expected?: TokenizerKind; name?: string } = {},
): Promise<AnyTokenizer> {
  const jsonPath = join(directory, 'tokenizer.json');
  const json = await readJson(jsonPath);
  const check = (kind: TokenizerKind, path: string) => {
    if (options.expected && kind !== options.expected)
      throw new FormatError({ path, expected: `a ${options.expected} tokenizer`, found: kind });
  };
  if (json) {
    const kind = tokenizerJsonKind(json);
    if (kind === undefined) {
      throw new FormatError({
        path: jsonPath,
        expected: 'a WordPiece or byte-level BPE tokenizer.json',
        found: `model ${JSON.stringify((json.model as { type?: unknown } | undefined)?.type)}`,
      });
    }
    check(kind, jsonPath);
    if (kind === 'word-piece')
      return WordPieceTokenizer.fromTokenizerJson(
        json,
        await readTokenizerOptions(directory, options.name),
        jsonPath,
      );
    return ByteLevelBpeTokenizer.fromTokenizerJson(
      json,
      (await readJson(join(directory, 'tokenizer_config.json'))) ?? {},
      jsonPath,
    );
  }
  const vocabulary = join(directory, 'vocab.txt');
  if (existsSync(vocabulary)) {
    check('word-piece', vocabulary);
    return wordPieceFromVocabularyFile(vocabulary, await readTokenizerOptions(directory, options.name));
  }
  throw new MissingResourceError({
    resource: jsonPath,
    hint:
      options.expected === 'byte-level-bpe'
        ? 'byte-level BPE models ship tokenizer.json (save the tokenizer with transformers save_pretrained)'
        : 'the model directory needs tokenizer.json or vocab.txt (save the tokenizer with save_pretrained)',
  });
}

/**
 * Refuses a tokenizer that can produce ids past the word-embedding rows (`vocabSize`, config.json's
 * `vocab_size`): such ids would index outside the embedding matrix (issue #15). Fewer tokens than
 * `vocab_size` is fine: HF pads embedding matrices (e.g. to a multiple of 8). Other encoders pass.
 */
export function checkVocabularyFits(encoder: TextPairEncoder, vocabSize: number, path: string): void {
  if (!(encoder instanceof WordPieceTokenizer || encoder instanceof ByteLevelBpeTokenizer)) return;
  if (encoder.vocabularySize > vocabSize)
    throw new FormatError({
      path,
      what: 'vocabulary',
      expected: `at most config.json vocab_size ${vocabSize} tokens (the word-embedding rows); use the tokenizer the model was trained with`,
      found: `${encoder.vocabularySize} tokens`,
    });
}
