import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataRowError, DiffpruneError } from '@diffprune/core';
import { parquetWriteBuffer } from 'hyparquet-writer';
import { afterAll, describe, expect, it } from 'vitest';
import { loadTrainingData, readDataset, readTable } from './index.js';

const directory = mkdtempSync(join(tmpdir(), 'diffprune-datasets-'));
afterAll(() => rmSync(directory, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const path = join(directory, name);
  writeFileSync(path, text);
  return path;
};

// One made-up pair task, written in every format: premise/hypothesis with string labels.
const rows = [
  { premise: 'A cat sleeps.', hypothesis: 'An animal rests.', label: 'entailment' },
  { premise: 'He said "hi", then left.', hypothesis: 'Nobody spoke.', label: 'contradiction' },
  { premise: 'Rain, then sun.', hypothesis: 'It was\nwet.', label: 'neutral' },
  { premise: 'Two dogs run.', hypothesis: 'Dogs move.', label: 'entailment' },
];
const csvCell = (text: string) => (/[",\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text);

describe('readTable / readDataset', () => {
  const jsonl = file('pairs.jsonl', `${rows.map((r) => JSON.stringify(r)).join('\n')}\n\n`);
  const csv = file(
    'pairs.csv',
    `premise,hypothesis,label\n${rows.map((r) => [r.premise, r.hypothesis, r.label].map(csvCell).join(',')).join('\n')}\n`,
  );
  const tsv = file(
    'pairs.tsv',
    `premise\thypothesis\tlabel\n${rows.map((r) => [r.premise, r.hypothesis, r.label].map(csvCell).join('\t')).join('\n')}\n`,
  );
  const parquet = join(directory, 'pairs.parquet');
  writeFileSync(
    parquet,
    new Uint8Array(
      parquetWriteBuffer({
        columnData: (['premise', 'hypothesis', 'label'] as const).map((name) => ({
          name,
          data: rows.map((r) => r[name]),
          type: 'STRING' as const,
        })),
      }),
    ),
  );

  it('reads the same examples from JSONL, CSV, TSV and Parquet', async () => {
    const options = { textFields: ['premise', 'hypothesis'] };
    const expected = rows.map((r) => ({
      textA: r.premise,
      textB: r.hypothesis,
      label: ['contradiction', 'entailment', 'neutral'].indexOf(r.label),
    }));
    for (const path of [jsonl, csv, tsv, parquet]) {
      const dataset = await readDataset(path, options);
      expect(dataset.labels, path).toEqual(['contradiction', 'entailment', 'neutral']);
      expect(dataset.problemType).toBe('single_label_classification');
      expect(
        dataset.examples.map(({ textA, textB, label }) => ({ textA, textB, label })),
        path,
      ).toEqual(expected);
    }
  });

  it('numbers lines as in the file (a quoted newline spans two lines)', async () => {
    const table = await readTable(csv);
    expect(table.rows.map((r) => r.line)).toEqual([2, 3, 5, 6]);
    expect((await readTable(jsonl)).rows.map((r) => r.line)).toEqual([1, 2, 3, 4]);
  });

  it('defaults the fields as run_glue: text, else sentence1/sentence2; label', async () => {
    const single = file('single.jsonl', '{"text":"good","label":1}\n{"text":"bad","label":0}\n');
    const d = await readDataset(single);
    expect(d.fields).toEqual({ textFields: ['text'], labelField: 'label' });
    expect(d.labels).toEqual(['0', '1']);
    expect(d.examples.map((e) => e.label)).toEqual([1, 0]);
    const pair = file('pair.csv', 'sentence1,sentence2,label\na,b,x\nc,d,y\n');
    expect((await readDataset(pair)).fields.textFields).toEqual(['sentence1', 'sentence2']);
    await expect(readDataset(jsonl)).rejects.toThrow(/--text-fields.*premise, hypothesis, label/);
  });

  it('infers regression from non-integer numeric targets (numeric text too)', async () => {
    const path = file('scores.csv', 'text,label\na,0.5\nb,3\nc,4.25\n');
    const d = await readDataset(path);
    expect(d.problemType).toBe('regression');
    expect(d.labels).toBeNull();
    expect(d.examples.map((e) => e.label)).toEqual([0.5, 3, 4.25]);
  });

  it('names file, line and field of a bad row, or skips it with a count', async () => {
    const path = file(
      'bad.jsonl',
      [
        '{"text":"fine","label":"pos"}',
        '{"text":"","label":"neg"}',
        '{"label":"neg"}',
        '{"text":"no label"}',
        '{"text":"ok","label":"neg"}',
      ].join('\n'),
    );
    const error = await readDataset(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DataRowError);
    expect(DiffpruneError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ path, line: 2, field: 'text' });
    expect((error as Error).message).toMatch(/bad\.jsonl line 2, field "text".*--skip-bad-rows/);
    const skipped = await readDataset(path, { skipBadRows: true });
    expect(skipped.examples.map((e) => e.line)).toEqual([1, 5]);
    expect(skipped.skipped.map((s) => [s.line, s.field])).toEqual([
      [2, 'text'],
      [3, 'text'],
      [4, 'label'],
    ]);
  });

  it('refuses a label outside a fixed label set', async () => {
    const path = file('unknown.jsonl', '{"text":"a","label":"pos"}\n{"text":"b","label":"meh"}\n');
    await expect(readDataset(path, { labels: ['neg', 'pos'] })).rejects.toMatchObject({
      line: 2,
      field: 'label',
    });
  });

  it('refuses an unknown extension and a malformed JSONL line, naming the file', async () => {
    await expect(readDataset(file('data.txt', 'x'))).rejects.toThrow(/data\.txt.*\.jsonl/);
    await expect(readDataset(file('broken.jsonl', '{"text":"a"}\n{oops\n'))).rejects.toThrow(
      /broken\.jsonl: line 2/,
    );
  });
});

describe('loadTrainingData', () => {
  const lines = Array.from({ length: 50 }, (_, i) =>
    JSON.stringify({ text: `example ${i}`, label: i % 3 === 0 ? 'b' : 'a' }),
  );
  const train = file('train.jsonl', lines.join('\n'));

  it('holds out a seeded split of the train file when no validation file is given', async () => {
    const a = await loadTrainingData({ trainFile: train, seed: 7, validationFraction: 0.2 });
    const b = await loadTrainingData({ trainFile: train, seed: 7, validationFraction: 0.2 });
    const c = await loadTrainingData({ trainFile: train, seed: 8, validationFraction: 0.2 });
    expect(a.validationSource).toBe('split');
    expect(a.validation).toHaveLength(10);
    expect(a.train).toHaveLength(40);
    expect(a.validation.map((e) => e.line)).toEqual(b.validation.map((e) => e.line));
    expect(a.validation.map((e) => e.line)).not.toEqual(c.validation.map((e) => e.line));
    const all = [...a.train, ...a.validation].map((e) => e.line).sort((x, y) => x - y);
    expect(all).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
  });

  it("reads a validation file with the train file's fields and label set", async () => {
    const validation = file('dev.jsonl', '{"text":"x","label":"b"}\n{"text":"y","label":"c"}\n');
    await expect(loadTrainingData({ trainFile: train, validationFile: validation })).rejects.toThrow(
      /dev\.jsonl line 2, field "label": expected a label in the label set \(a, b\)/,
    );
    const data = await loadTrainingData({ trainFile: train, validationFile: validation, skipBadRows: true });
    expect(data.labels).toEqual(['a', 'b']);
    expect(data.validation.map((e) => e.label)).toEqual([1]);
    expect(data.skipped).toHaveLength(1);
  });
});
