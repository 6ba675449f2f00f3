import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InvalidArgumentError } from '@diffprune/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSubmission } from './submission.js';

const ids = (n: number) => Array.from({ length: n }, (_, i) => ({ id: String(i) }));

describe('writeSubmission', () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'glue-submission-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  it('MNLI: label names, one file per test split, the server file names', async () => {
    const predictions = Array.from({ length: 9796 }, (_, i) => i % 3);
    const result = await writeSubmission({
      task: 'mnli',
      split: 'test_matched',
      examples: ids(9796),
      predictions,
      directory,
    });
    expect(result).toEqual({ path: join(directory, 'MNLI-m.tsv'), rows: 9796 });
    const lines = (await readFile(result.path, 'utf8')).split('\n');
    expect(lines.slice(0, 4)).toEqual([
      'index\tprediction',
      '0\tcontradiction',
      '1\tentailment',
      '2\tneutral',
    ]);
    expect(lines).toHaveLength(9796 + 2);
    expect(lines.at(-1)).toBe('');
  });

  it('STS-B scores with three decimals; binary tasks as 0/1; RTE as entailment names', async () => {
    const stsb = await writeSubmission({
      task: 'STS-B',
      examples: ids(3),
      predictions: [4.12345, 0, 2.5],
      directory,
      allowIncomplete: true,
    });
    expect(await readFile(stsb.path, 'utf8')).toBe('index\tprediction\n0\t4.123\n1\t0.000\n2\t2.500\n');
    const sst = await writeSubmission({
      task: 'sst2',
      examples: ids(2),
      predictions: [1, 0],
      directory,
      allowIncomplete: true,
    });
    expect(await readFile(sst.path, 'utf8')).toBe('index\tprediction\n0\t1\n1\t0\n');
    const rte = await writeSubmission({
      task: 'rte',
      examples: ids(2),
      predictions: [1, 0],
      directory,
      allowIncomplete: true,
    });
    expect(await readFile(rte.path, 'utf8')).toBe('index\tprediction\n0\tnot_entailment\n1\tentailment\n');
    expect((await readdir(directory)).sort()).toEqual(['MNLI-m.tsv', 'RTE.tsv', 'SST-2.tsv', 'STS-B.tsv']);
  });

  it('rejects incomplete sets, length mismatches, bad classes and ambiguous MNLI splits', async () => {
    await expect(
      writeSubmission({ task: 'cola', examples: ids(2), predictions: [0, 1], directory }),
    ).rejects.toThrow(/full CoLA test set \(1063 examples/);
    await expect(
      writeSubmission({ task: 'cola', examples: ids(2), predictions: [0], directory, allowIncomplete: true }),
    ).rejects.toThrow(InvalidArgumentError);
    await expect(
      writeSubmission({ task: 'cola', examples: ids(1), predictions: [2], directory, allowIncomplete: true }),
    ).rejects.toThrow(/class index in \[0, 2\)/);
    await expect(
      writeSubmission({ task: 'mnli', examples: ids(1), predictions: [0], directory, allowIncomplete: true }),
    ).rejects.toThrow(/test_matched, test_mismatched/);
  });
});
