import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ByteLevelBpeTokenizer } from './byte-level-bpe.js';
import { loadTokenizer } from './load.js';
import { WordPieceTokenizer } from './word-piece.js';

/** Golden-id tables written by HF transformers (fixtures/scripts/make-goldens.py), per family. */
const fixtures = fileURLToPath(new URL('../../../fixtures/', import.meta.url));

interface TokenRow {
  text_a: string;
  text_b: string | null;
  max_length: number;
  input_ids: number[];
  token_type_ids: number[] | null;
  tokens: string[];
}

const families = [
  { family: 'bert', kind: WordPieceTokenizer },
  { family: 'distilbert', kind: WordPieceTokenizer },
  { family: 'electra', kind: WordPieceTokenizer },
  { family: 'roberta', kind: ByteLevelBpeTokenizer },
] as const;

for (const { family, kind } of families) {
  describe(`${family} tokenizer.json against HF transformers`, () => {
    const golden = JSON.parse(readFileSync(`${fixtures}goldens/${family}.json`, 'utf8')) as {
      tokens: TokenRow[];
    };

    it('loads the kind the file holds (no vocab.txt needed)', async () => {
      const tokenizer = await loadTokenizer(`${fixtures}models/${family}`);
      expect(tokenizer).toBeInstanceOf(kind);
    });

    for (const row of golden.tokens) {
      it(`ids of ${JSON.stringify(row.text_a.slice(0, 40))}${row.text_b === null ? '' : ' + pair'} (max ${row.max_length})`, async () => {
        const tokenizer = await loadTokenizer(`${fixtures}models/${family}`);
        const encoded = tokenizer.encode(row.text_a, row.text_b, { maxLength: row.max_length });
        expect(encoded.inputIds).toEqual(row.input_ids);
        expect(tokenizer.idsToTokens(encoded.inputIds)).toEqual(row.tokens);
        // Families without token types (HF returns none) ignore ours.
        if (row.token_type_ids) expect(encoded.tokenTypeIds).toEqual(row.token_type_ids);
      });
    }
  });
}

describe('loadTokenizer', () => {
  it('refuses a tokenizer of the wrong kind for the backbone, naming both', async () => {
    await expect(loadTokenizer(`${fixtures}models/roberta`, { expected: 'word-piece' })).rejects.toThrow(
      /word-piece.*byte-level-bpe|byte-level-bpe/,
    );
  });
  it('names the missing files when a directory has neither tokenizer.json nor vocab.txt', async () => {
    await expect(loadTokenizer(`${fixtures}scripts`)).rejects.toThrow(/tokenizer\.json/);
  });
});
