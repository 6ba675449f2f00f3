import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BaseFilesMismatchError, fingerprintBaseFiles, fingerprintCheckpoint } from '@diffprune/sparse-diff';
import { loadBackbone, loadWithDiff, parameterArrays } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, describe, expect, it } from 'vitest';
import { MultiTaskModel } from './multi-task.js';
import { writeRandomDiff } from './test/index.js';

// Issue #15: a diff records its base's config and tokenizer hashes; serving (MultiTaskModel) and
// loadWithDiff (eval, predict, export) refuse a base with the same weights and another tokenizer.
const fixture = fileURLToPath(new URL('../../../fixtures/models/roberta', import.meta.url));
let root: string | undefined;
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

describe('a diff refuses a base whose tokenizer differs from the one it was made with', () => {
  it('MultiTaskModel.register and loadWithDiff: BaseFilesMismatchError naming the tokenizer', async () => {
    root = await mkdtemp(join(tmpdir(), 'dp-serving-base-files-'));
    const copy = join(root, 'roberta');
    await mkdir(copy);
    for (const file of await readdir(fixture)) await copyFile(join(fixture, file), join(copy, file));
    const loaded = await loadBackbone(fixture, { head: { numLabels: 2 }, replaceMismatchedHead: true });
    const created = new Set(loaded.created);
    const base = await parameterArrays(
      Object.fromEntries(Object.entries(loaded.params).filter(([name]) => !created.has(name))),
    );
    tf.dispose(Object.values(loaded.params));
    const path = join(root, 'task.diff.safetensors');
    await writeRandomDiff(path, {
      base,
      fingerprint: await fingerprintCheckpoint(fixture),
      baseFiles: await fingerprintBaseFiles(fixture),
      seed: 1,
      numLabels: 2,
      hidden: base['classifier.dense.bias']!.shape[0]!,
      head: { weight: 'classifier.out_proj.weight', bias: 'classifier.out_proj.bias' },
    });

    // The base it was made with: accepted.
    const good = await MultiTaskModel.load(fixture);
    await good.register('task', path);
    good.dispose();

    // Same weights, one merge rule fewer: refused, by both paths.
    const json = JSON.parse(await readFile(join(copy, 'tokenizer.json'), 'utf8'));
    json.model.merges = json.model.merges.slice(1);
    await writeFile(join(copy, 'tokenizer.json'), JSON.stringify(json));
    const model = await MultiTaskModel.load(copy);
    const error = await model.register('task', path).catch((e: unknown) => e);
    model.dispose();
    expect(error).toBeInstanceOf(BaseFilesMismatchError);
    expect((error as BaseFilesMismatchError).which).toBe('tokenizer');
    const before = tf.memory().numTensors;
    const viaLoad = await loadWithDiff(copy, path).catch((e: unknown) => e);
    expect(viaLoad).toBeInstanceOf(BaseFilesMismatchError);
    // The base loaded before the refusal is disposed.
    expect(tf.memory().numTensors).toBe(before);
  });
});
