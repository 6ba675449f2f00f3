import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadBert, toEncodedBatch } from '@diffprune/bert';
import { disposeParameters, type ParameterMap } from '@diffprune/core';
import { createDiff, fingerprintCheckpoint, type TensorArrays, writeDiff } from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { type Prediction, predict, registerPredictCommand } from './predict.js';

const shared = fileURLToPath(new URL('../../../../../shared/', import.meta.url));
const forwardModel = `${shared}fixtures/forward-model`;
const forwardFixture = `${shared}fixtures/forward.json`;
const tinyModel = `${shared}models/bert-tiny-mlm-offline`;
const missing = ![forwardModel, forwardFixture, tinyModel].every(existsSync);
if (missing) process.stderr.write(`skipping predict tests: ${shared} fixtures or models are absent\n`);

/** Runs `diffprune predict …` in-process, capturing stderr and the exit code. */
async function run(...args: string[]) {
  const program = new Command('diffprune').exitOverride();
  registerPredictCommand(program);
  let stderr = '';
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  process.exitCode = undefined;
  let code = 0;
  try {
    await program.parseAsync(['node', 'diffprune', 'predict', ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (error) {
    code = (error as { exitCode?: number }).exitCode ?? 99;
  } finally {
    err.mockRestore();
    process.exitCode = undefined;
  }
  return { code, stderr };
}

const readJsonl = async (path: string) =>
  (await readFile(path, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Prediction);

const toArrays = async (params: ParameterMap, skip: ReadonlySet<string>) => {
  const out: TensorArrays = {};
  for (const [name, t] of Object.entries(params))
    if (!skip.has(name))
      out[name] = { shape: [...t.shape], values: (await t.data()).slice() as Float32Array };
  return out;
};

describe.skipIf(missing)('diffprune predict', () => {
  let work: string;
  const texts: [string, string | null][] = [
    ['a man is playing a guitar .', 'someone plays an instrument .'],
    ['the quick brown fox jumps over the lazy dog .', null],
    ['short', null],
    ['it was great , really great , not bad at all , we loved every minute of it .', 'fine'],
  ];

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'diffprune-predict-'));
    await writeFile(
      join(work, 'pairs.jsonl'),
      `${texts.map(([a, b], i) => JSON.stringify(b === null && i % 2 ? { text_a: a } : { text_a: a, text_b: b })).join('\n')}\n\n`,
    );
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('reproduces the reference logits of a finetuned model, in input order', async () => {
    const fixture = JSON.parse(readFileSync(forwardFixture, 'utf8')) as {
      cases: { text_a: string; text_b: string | null }[];
      logits: number[][];
    };
    const input = join(work, 'forward.jsonl');
    await writeFile(
      input,
      fixture.cases.map((c) => JSON.stringify({ text_a: c.text_a, text_b: c.text_b })).join('\n'),
    );
    const output = join(work, 'forward-out.jsonl');
    const { code, stderr } = await run(
      '--model',
      forwardModel,
      '--input',
      input,
      '--output',
      output,
      '--max-length',
      '32',
      '--batch-size',
      '3',
    );
    expect(stderr).toContain(`wrote ${fixture.cases.length} predictions (3 labels)`);
    expect(code).toBe(0);
    const predictions = await readJsonl(output);
    expect(predictions.length).toBe(fixture.cases.length);
    predictions.forEach((p, i) => {
      for (let j = 0; j < 3; j++) expect(Math.abs(p.logits[j]! - fixture.logits[i]![j]!)).toBeLessThan(1e-4);
      expect(p.probabilities!.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 6);
      const expectedProbability = Math.exp(p.logits[0]!) / p.logits.reduce((s, x) => s + Math.exp(x), 0);
      expect(p.probabilities![0]).toBeCloseTo(expectedProbability, 6);
      expect(p.label).toBe(p.logits.indexOf(Math.max(...p.logits)));
    });
  });

  for (const numLabels of [2, 1]) {
    it(`applies a task diff to a base model without a head (${numLabels === 1 ? 'regression: score' : 'classification'})`, async () => {
      const base = await loadBert(tinyModel, { head: { numLabels }, seed: 5 });
      const created = new Set(base.created);
      expect([...created].sort()).toEqual(['classifier.bias', 'classifier.weight']);
      const baseArrays = await toArrays(base.params, created);
      const tuned = await toArrays(base.params, new Set());
      // A sparse change in a few encoder tensors, and a new head.
      for (const name of [
        'bert.encoder.layer.0.attention.self.query.weight',
        'bert.embeddings.LayerNorm.bias',
      ]) {
        const values = tuned[name]!.values;
        for (let i = 0; i < values.length; i += 7) values[i] = values[i]! + 0.25;
      }
      tuned['classifier.bias']!.values.set(numLabels === 1 ? [0.5] : [0.3, -0.2]);
      const diff = createDiff({
        base: baseArrays,
        tuned,
        provenance: {
          baseModel: { id: tinyModel, revision: 'local' },
          baseFingerprint: await fingerprintCheckpoint(tinyModel),
          method: 'test',
          settings: {},
          task: numLabels === 1 ? 'sts-b' : 'sst-2',
        },
      });
      const diffPath = join(work, `task-${numLabels}.diff.safetensors`);
      await writeDiff(diffPath, diff);

      const output = join(work, `diff-out-${numLabels}.jsonl`);
      const result = await predict({
        model: tinyModel,
        diff: diffPath,
        input: join(work, 'pairs.jsonl'),
        output,
        batchSize: 2,
      });
      expect(result).toEqual({ examples: texts.length, numLabels });
      const predictions = await readJsonl(output);

      // Reference: classify each example alone with the tuned parameters.
      const params: ParameterMap = Object.fromEntries(
        Object.entries(tuned).map(([name, t]) => [name, tf.tensor(t.values, t.shape, 'float32')]),
      );
      for (const [i, [a, b]] of texts.entries()) {
        const e = base.backbone.encoder.encode(a, b, { maxLength: 128 });
        const batch = toEncodedBatch({
          inputIds: [e.inputIds],
          tokenTypeIds: [e.tokenTypeIds],
          attentionMask: [e.inputIds.map(() => 1)],
        });
        const logits = base.backbone.classify(params, batch, { training: false });
        const expected = Array.from(await logits.data());
        tf.dispose([logits, batch.inputIds, batch.tokenTypeIds, batch.attentionMask]);
        for (let j = 0; j < numLabels; j++) expect(predictions[i]!.logits[j]).toBeCloseTo(expected[j]!, 4);
        if (numLabels === 1) {
          expect(predictions[i]!.score).toBe(predictions[i]!.logits[0]);
          expect(predictions[i]!.probabilities).toBeUndefined();
        } else expect(predictions[i]!.probabilities!.length).toBe(2);
      }
      disposeParameters(params);
      disposeParameters(base.params);
    });
  }

  it('refuses a model without a classifier, a diff for another base, and bad input, with one clear line', async () => {
    const output = join(work, 'never.jsonl');
    const noHead = await run('--model', tinyModel, '--input', join(work, 'pairs.jsonl'), '--output', output);
    expect(noHead.code).toBe(1);
    expect(noHead.stderr).toMatch(/--model must be a finetuned model with a classifier/);

    const wrongBase = await run(
      '--model',
      forwardModel,
      '--diff',
      join(work, 'task-2.diff.safetensors'),
      '--input',
      join(work, 'pairs.jsonl'),
      '--output',
      output,
    );
    expect(wrongBase.code).toBe(1);
    // The base's 3-label head gives way to the diff's (as for a finetuned base); the fingerprint
    // then says the diff belongs to another base.
    expect(wrongBase.stderr).toMatch(
      /^diffprune: applyDiff: the diff belongs to the base with fingerprint \w+; found a base with fingerprint \w+$/m,
    );

    const bad = join(work, 'bad.jsonl');
    await writeFile(bad, '{"text_a": "fine"}\n{"text_b": "no text_a"}\n');
    const badInput = await run('--model', forwardModel, '--input', bad, '--output', output);
    expect(badInput.code).toBe(1);
    expect(badInput.stderr).toContain('line 2: text_a must be a string');
    expect(existsSync(output)).toBe(false);
  });
});
