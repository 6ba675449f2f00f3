import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, MissingResourceError, readLocalFile } from '@diffprune/core';
import { tokenizerOptionsFromJson, type WordPieceOptions, WordPieceTokenizer } from './word-piece.js';

// Node only: a model directory's tokenizer files. The settings' logic is tokenizerOptionsFromJson.

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
      return JSON.parse((await readLocalFile(path)).toString('utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new FormatError({ path, expected: 'valid JSON', found: (error as Error).message });
    }
  };
  return tokenizerOptionsFromJson(name, await read('tokenizer.json'), await read('tokenizer_config.json'));
}

/** Reads vocab.txt from a path. */
export async function wordPieceFromVocabularyFile(
  path: string,
  options: WordPieceOptions,
): Promise<WordPieceTokenizer> {
  if (!existsSync(path))
    throw new MissingResourceError({
      resource: path,
      hint: 'BERT models ship their WordPiece vocabulary as vocab.txt',
    });
  return WordPieceTokenizer.fromVocabularyText((await readLocalFile(path)).toString('utf8'), options);
}
