import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveDataDirectory } from './data-directory.js';
import { inspectDataDirectory } from './inventory.js';

const glue = fileURLToPath(new URL('../../../../shared/data/glue/', import.meta.url));

describe('inspectDataDirectory', () => {
  const directories: string[] = [];
  afterAll(async () => {
    for (const directory of directories) await rm(directory, { recursive: true, force: true });
  });

  it('reports present, partial and missing tasks, skipped rows and unreadable files', async () => {
    const directory = await mkdtemp(join(tmpdir(), 'glue-inventory-'));
    directories.push(directory);
    await mkdir(join(directory, 'WNLI'));
    await writeFile(
      join(directory, 'WNLI/dev.tsv'),
      'index\tsentence1\tsentence2\tlabel\n0\tA.\tB.\t1\n1\tbroken\n',
    );
    await writeFile(join(directory, 'WNLI/train.tsv'), 'index\tpremise\thypothesis\tlabel\n');
    const inventory = await inspectDataDirectory(directory, { tasks: ['wnli', 'SST-2'] });
    expect(inventory.missing).toEqual(['sst2']);
    const wnli = inventory.tasks[0]!;
    expect(wnli.status).toBe('partial');
    expect(
      wnli.splits.map(({ split, present, rows, skipped, complete }) => ({
        split,
        present,
        rows,
        skipped,
        complete,
      })),
    ).toEqual([
      { split: 'train', present: true, rows: null, skipped: null, complete: false },
      { split: 'dev', present: true, rows: 1, skipped: 1, complete: false },
      { split: 'test', present: false, rows: null, skipped: null, complete: false },
    ]);
    expect(wnli.splits[0]?.error).toMatch(/a column named "sentence1"/);
  });

  it.skipIf(!existsSync(glue))(
    'on ../shared/data/glue: train/dev present at the official sizes',
    async () => {
      const inventory = await inspectDataDirectory(glue, { tasks: ['rte', 'qnli'] });
      const summary = inventory.tasks.map((task) => [
        task.task,
        task.status,
        task.splits.map((split) => `${split.split}:${split.rows ?? '-'}`).join(' '),
      ]);
      expect(summary).toEqual([
        ['rte', 'partial', 'train:2490 dev:277 test:-'],
        ['qnli', 'partial', 'train:- dev:5463 test:-'],
      ]);
    },
  );
});

describe('resolveDataDirectory', () => {
  it('option, then $DIFFPRUNE_GLUE_DIR, then <cache>/glue', () => {
    const saved = { glue: process.env.DIFFPRUNE_GLUE_DIR, cache: process.env.DIFFPRUNE_CACHE };
    try {
      process.env.DIFFPRUNE_GLUE_DIR = '/from/env';
      process.env.DIFFPRUNE_CACHE = '/cache';
      expect(resolveDataDirectory('/from/option')).toBe('/from/option');
      expect(resolveDataDirectory()).toBe('/from/env');
      delete process.env.DIFFPRUNE_GLUE_DIR;
      expect(resolveDataDirectory()).toBe('/cache/glue');
      expect(resolveDataDirectory('relative')).toBe(join(process.cwd(), 'relative'));
    } finally {
      for (const [key, value] of [
        ['DIFFPRUNE_GLUE_DIR', saved.glue],
        ['DIFFPRUNE_CACHE', saved.cache],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
