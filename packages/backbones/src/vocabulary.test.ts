import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FormatError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBackbone } from './registry.js';

const fixtures = fileURLToPath(new URL('../../../fixtures/models/', import.meta.url));
let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'vocabulary-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

/**
 * A copy of a family's fixture whose tokenizer.json gets `extra` more tokens (ids past the last), or
 * loses its last −`extra` tokens (and the merges that make them).
 */
async function withExtraTokens(family: string, extra: number): Promise<string> {
  const directory = join(root, `${family}-${extra}`);
  await mkdir(directory);
  for (const file of await readdir(join(fixtures, family)))
    await copyFile(join(fixtures, family, file), join(directory, file));
  const json = JSON.parse(await readFile(join(directory, 'tokenizer.json'), 'utf8'));
  const vocab = json.model.vocab as Record<string, number>;
  let next = Math.max(...Object.values(vocab)) + 1;
  for (let i = 0; i < extra; i++) vocab[`zzextra${i}`] = next++;
  for (let i = 0; i < -extra; i++) {
    const [last] = Object.entries(vocab).find(([, id]) => id === next - 1)!;
    delete vocab[last];
    next--;
    if (json.model.merges)
      json.model.merges = json.model.merges.filter(
        (m: string | string[]) => (Array.isArray(m) ? m.join('') : m.replace(' ', '')) !== last,
      );
  }
  await writeFile(join(directory, 'tokenizer.json'), JSON.stringify(json));
  return directory;
}

// One shared check (checkVocabularyFits in @diffprune/tokenizers) for every family of the registry.
describe.each(['bert', 'distilbert', 'roberta', 'electra'])(
  '%s: a tokenizer larger than the embeddings (issue #15)',
  (family) => {
    it('more tokens than config.json vocab_size is a FormatError at load, naming both sizes', async () => {
      const { vocab_size: vocabSize } = JSON.parse(
        await readFile(join(fixtures, family, 'config.json'), 'utf8'),
      );
      const before = tf.memory().numTensors;
      const error = await loadBackbone(await withExtraTokens(family, 3), {
        head: { numLabels: 3 },
        offline: true,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(FormatError);
      expect((error as Error).message).toMatch(`vocab_size ${vocabSize} tokens`);
      expect((error as Error).message).toMatch(`found ${vocabSize + 3} tokens`);
      expect(tf.memory().numTensors).toBe(before);
    });

    it('as many tokens as vocab_size, or fewer (padded embeddings, as HF allows), loads', async () => {
      for (const extra of [0, -2]) {
        const loaded = await loadBackbone(await withExtraTokens(family, extra), {
          head: { numLabels: 3 },
          offline: true,
        });
        tf.dispose(Object.values(loaded.params));
      }
    });
  },
);
