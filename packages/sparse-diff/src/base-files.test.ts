import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRng } from '@diffprune/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyDiff } from './apply.js';
import { fingerprintBaseFiles } from './base-files-node.js';
import { composeDiffs } from './compose.js';
import { createDiff } from './create.js';
import { BaseFilesMismatchError } from './errors.js';
import { encodeDiff } from './file.js';
import { readDiff } from './file-node.js';
import { perturb, randomTensors, testProvenance } from './test-helpers.js';
import type { BaseFilesHashes, SparseDiff } from './types.js';
import { verifyDiff } from './verify.js';

// A BERT with vocab.txt (../shared) and the RoBERTa fixture (tokenizer.json, fixtures/README.md).
const shared = fileURLToPath(new URL('../../../../shared/models/', import.meta.url));
const fixtures = fileURLToPath(new URL('../../../fixtures/models/', import.meta.url));
const sources: Record<string, string> = {
  bert: join(shared, 'bert-tiny-mlm-offline'),
  roberta: join(fixtures, 'roberta'),
};

let root: string;
const copyOf = async (family: string, name: string, files: string[]) => {
  const directory = join(root, name);
  await mkdir(directory, { recursive: true });
  for (const file of files) await copyFile(join(sources[family]!, file), join(directory, file));
  return directory;
};

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'base-files-'));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const rng = createRng(7);
const base = randomTensors(rng, { 'a.weight': [8, 4], 'a.bias': [4] });
const diffFor = (baseFiles?: BaseFilesHashes): SparseDiff =>
  createDiff({
    base,
    tuned: perturb(rng, base, 0.3).tuned,
    provenance: { ...testProvenance(), ...(baseFiles ? { baseFiles } : {}) },
  });

const haveShared = existsSync(sources.bert!);

describe('base config and tokenizer hashes (issue #15)', () => {
  it.skipIf(!haveShared)(
    'a copy hashes the same; an edited vocab.txt or a functional config field does not',
    async () => {
      const files = ['config.json', 'vocab.txt'];
      const original = await fingerprintBaseFiles(await copyOf('bert', 'bert-a', files));
      const copy = await copyOf('bert', 'bert-b', files);
      expect(await fingerprintBaseFiles(copy)).toEqual(original);

      // Only the fields that change the function count, in any key order and spacing.
      const config = JSON.parse(await readFile(join(copy, 'config.json'), 'utf8'));
      const reordered = Object.fromEntries(Object.entries(config).reverse());
      await writeFile(
        join(copy, 'config.json'),
        JSON.stringify({ ...reordered, id2label: { 0: 'x', 1: 'y' }, hidden_dropout_prob: 0.3 }, null, 4),
      );
      expect(await fingerprintBaseFiles(copy)).toEqual(original);
      await writeFile(join(copy, 'config.json'), JSON.stringify({ ...config, layer_norm_eps: 1e-5 }));
      const otherConfig = await fingerprintBaseFiles(copy);
      expect(otherConfig.config).not.toBe(original.config);
      expect(otherConfig.tokenizer).toBe(original.tokenizer);

      await copyFile(join(sources.bert!, 'config.json'), join(copy, 'config.json'));
      const vocab = await readFile(join(copy, 'vocab.txt'), 'utf8');
      await writeFile(join(copy, 'vocab.txt'), vocab.replace('\nhello\n', '\nhallo\n'));
      const otherVocab = await fingerprintBaseFiles(copy);
      expect(vocab).toContain('\nhello\n');
      expect(otherVocab.config).toBe(original.config);
      expect(otherVocab.tokenizer).not.toBe(original.tokenizer);

      // tokenizer_config.json's casing changes the ids a text gets.
      await writeFile(join(copy, 'vocab.txt'), vocab);
      await writeFile(join(copy, 'tokenizer_config.json'), '{"do_lower_case": false}');
      expect((await fingerprintBaseFiles(copy)).tokenizer).not.toBe(original.tokenizer);
    },
  );

  it('a byte-level BPE tokenizer.json is covered too', async () => {
    const files = ['config.json', 'tokenizer.json'];
    const original = await fingerprintBaseFiles(await copyOf('roberta', 'roberta-a', files));
    const copy = await copyOf('roberta', 'roberta-b', files);
    const json = JSON.parse(await readFile(join(copy, 'tokenizer.json'), 'utf8'));
    json.model.merges = json.model.merges.slice(1);
    await writeFile(join(copy, 'tokenizer.json'), JSON.stringify(json));
    expect((await fingerprintBaseFiles(copy)).tokenizer).not.toBe(original.tokenizer);
  });

  it('are stored in the diff and refuse another config or tokenizer, saying which', () => {
    const hashes = { config: 'c'.repeat(64), tokenizer: 'd'.repeat(64) };
    const diff = readDiff(Buffer.concat(encodeDiff(diffFor(hashes))));
    expect(diff.provenance.baseFiles).toEqual(hashes);
    expect(() => applyDiff(base, diff, { baseFiles: hashes })).not.toThrow();
    for (const which of ['config', 'tokenizer'] as const) {
      const found = { ...hashes, [which]: 'e'.repeat(64) };
      let error: unknown;
      try {
        applyDiff(base, diff, { baseFiles: found });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(BaseFilesMismatchError);
      expect((error as BaseFilesMismatchError).which).toBe(which);
      expect((error as Error).message).toMatch(
        new RegExp(`base's ${which}.*differs.*Use the base directory`),
      );
      const verified = verifyDiff(diff, { base, baseFiles: found });
      expect(verified.ok).toBe(false);
      expect(verified.problems.join('\n')).toMatch(`expected ${which} sha256`);
    }
  });

  it('an old diff without them still applies and verifies, with no event', () => {
    const events: unknown[] = [];
    const bytes = Buffer.concat(encodeDiff(diffFor()));
    const diff = readDiff(bytes, { onEvent: (e) => events.push(e) });
    expect(diff.provenance.baseFiles).toBeUndefined();
    const found = { config: 'c'.repeat(64), tokenizer: 'd'.repeat(64) };
    expect(() => applyDiff(base, diff, { baseFiles: found })).not.toThrow();
    expect(verifyDiff(diff, { baseFingerprint: diff.provenance.baseFingerprint, baseFiles: found }).ok).toBe(
      true,
    );
    expect(events).toEqual([]);
  });

  it('compose keeps them (parts without them are older diffs), and refuses parts that differ', () => {
    const hashes = { config: 'c'.repeat(64), tokenizer: 'd'.repeat(64) };
    const { diff } = composeDiffs([diffFor(), diffFor(hashes)]);
    expect(diff.provenance.baseFiles).toEqual(hashes);
    expect(() => composeDiffs([diffFor(hashes), diffFor({ ...hashes, tokenizer: 'f'.repeat(64) })])).toThrow(
      BaseFilesMismatchError,
    );
  });

  it('a malformed or half-present hash in a file is a FormatError', () => {
    const hashes = { config: 'c'.repeat(64), tokenizer: 'd'.repeat(64) };
    const text = Buffer.concat(encodeDiff(diffFor(hashes))).toString('latin1');
    const bad = Buffer.from(text.replace('c'.repeat(64), 'C'.repeat(64)), 'latin1');
    expect(() => readDiff(bad)).toThrow(/base_config_sha256: expected a sha256 hex digest/);
    const half = Buffer.from(text.replace('"base_tokenizer_sha256"', '"base_tokenizer_sha257"'), 'latin1');
    expect(() => readDiff(half)).toThrow(/base_config_sha256 and base_tokenizer_sha256 together/);
  });
});
