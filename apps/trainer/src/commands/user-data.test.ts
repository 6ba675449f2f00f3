import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readDiff, type SparseDiff } from '@diffprune/sparse-diff';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { transformersLogits, transformersMissing } from '../test/hf-transformers.js';

// The acceptance test: a user's JSONL dataset (made up here: string labels, a text pair)
// trains, evaluates, predicts with label names, re-encodes to F16 and I8, exports to a merged
// directory that HF transformers loads with equal logits, and composes with a second diff — all
// through the CLI, as the root README shows.

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const model = join(root, '../shared/models/bert-tiny-mlm-offline');
const present = existsSync(join(model, 'model.safetensors'));
if (!present) console.warn(`skipping the user-data CLI tests: ${model} is absent`);
const run = promisify(execFile);

/** `diffprune …` from source, as `pnpm --silent diffprune` runs it; returns stdout. */
async function diffprune(...args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', join(root, 'apps/trainer/src/cli.ts'), ...args],
    {
      cwd: root,
      maxBuffer: 64 << 20,
    },
  );
  return stdout;
}

const animals = ['cat', 'dog', 'bird', 'horse', 'fish', 'cow'];
/** Deterministic made-up pairs: same / different animal. */
function pairs(count: number, offset: number) {
  return Array.from({ length: count }, (_, i) => {
    const a = animals[(i + offset) % animals.length]!;
    const b = animals[((i + offset) * 7 + (i % 3 === 0 ? 0 : 1)) % animals.length]!;
    return {
      premise: `the ${a} is in the garden`,
      hypothesis: `a ${b} is outside`,
      label: a === b ? 'same' : 'different',
    };
  });
}
const jsonl = (rows: object[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;

type Line = { logits: number[]; probabilities?: number[]; label?: string | number; score?: number };
const readLines = (path: string): Line[] =>
  readFileSync(path, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);

/** The largest |a − b| over two equally shaped tables (Infinity when the shapes differ). */
function maxDifference(a: number[][], b: number[][]): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    if (a[i]!.length !== b[i]!.length) return Number.POSITIVE_INFINITY;
    for (let j = 0; j < a[i]!.length; j++) max = Math.max(max, Math.abs(a[i]![j]! - b[i]![j]!));
  }
  return max;
}

const quick = ['--max-steps', '4', '--batch-size', '8', '--max-length', '32', '--quiet', '--json'];

describe.skipIf(!present)('your own data in, deployable artifacts out (the CLI)', () => {
  let dir: string;
  let diff: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'dp-user-data-'));
    await writeFile(join(dir, 'train.jsonl'), jsonl(pairs(40, 0)));
    await writeFile(join(dir, 'dev.jsonl'), jsonl(pairs(12, 3)));
    await writeFile(join(dir, 'input.jsonl'), jsonl(pairs(6, 5).map(({ label: _, ...texts }) => texts)));
    const summary = JSON.parse(
      await diffprune(
        'train',
        ...[
          '--model',
          model,
          '--train-file',
          join(dir, 'train.jsonl'),
          '--validation-file',
          join(dir, 'dev.jsonl'),
        ],
        ...['--text-fields', 'premise,hypothesis', '--task-name', 'animals', '--value-dtype', 'f32'],
        ...['--out', join(dir, 'run'), ...quick],
      ),
    ) as { labels: string[]; metrics: { accuracy: number }; diffPath: string };
    expect(summary.labels).toEqual(['different', 'same']);
    diff = summary.diffPath;
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('records the label names and fields in the diff; eval reads the file with them', async () => {
    const read = await readDiff(diff);
    expect(read.provenance.task).toBe('animals');
    expect(read.provenance.settings).toMatchObject({
      labels: ['different', 'same'],
      data: { textFields: ['premise', 'hypothesis'], labelField: 'label', validation: 'file' },
    });
    const evaluated = JSON.parse(
      await diffprune(
        'eval',
        '--model',
        model,
        '--diff',
        diff,
        '--validation-file',
        join(dir, 'dev.jsonl'),
        '--json',
      ),
    ) as { examples: number; metrics: { accuracy: number } };
    const summary = JSON.parse(readFileSync(join(dir, 'run/metrics.json'), 'utf8')) as {
      metrics: { accuracy: number };
    };
    expect(evaluated.examples).toBe(12);
    // The dev accuracy of the run's selected checkpoint, measured again from the file on disk.
    expect(evaluated.metrics.accuracy).toBeCloseTo(summary.metrics.accuracy, 10);
  });

  it('predicts label names; F16 and I8 re-encodings keep provenance and nearly the logits', async () => {
    const out = join(dir, 'f32.jsonl');
    await diffprune(
      'predict',
      '--model',
      model,
      '--diff',
      diff,
      '--input',
      join(dir, 'input.jsonl'),
      '--output',
      out,
      '--quiet',
    );
    const f32 = readLines(out);
    expect(f32).toHaveLength(6);
    for (const p of f32) {
      const best = p.probabilities!.indexOf(Math.max(...p.probabilities!));
      expect(p.label).toBe(['different', 'same'][best]);
    }
    const original = await readDiff(diff);
    for (const [dtype, tolerance] of [
      ['f16', 1e-3],
      ['i8', 2e-2],
    ] as const) {
      const file = join(dir, `${dtype}.diff.safetensors`);
      await diffprune('diff', 'encode', diff, '--value-dtype', dtype, '--out', file);
      const encoded = await readDiff(file);
      expect(encoded.tensors.every((t) => t.valueDtype === dtype.toUpperCase())).toBe(true);
      const { settings: s1, ...p1 } = original.provenance;
      const { settings: s2, ...p2 } = encoded.provenance;
      expect(p2).toEqual(p1);
      expect({ ...s2, valueDtype: 'F32' }).toEqual(s1);
      const predicted = join(dir, `${dtype}.jsonl`);
      await diffprune(
        'predict',
        '--model',
        model,
        '--diff',
        file,
        '--input',
        join(dir, 'input.jsonl'),
        '--output',
        predicted,
        '--quiet',
      );
      const lines = readLines(predicted);
      expect(lines.every((p) => typeof p.label === 'string')).toBe(true);
      expect(
        maxDifference(
          lines.map((p) => p.logits),
          f32.map((p) => p.logits),
        ),
      ).toBeLessThan(tolerance);
    }
  });

  it('exports a merged directory that predict and HF transformers load with the same logits', async (context) => {
    const merged = join(dir, 'merged');
    await diffprune('diff', 'export', '--base', model, '--diff', diff, '--out', merged);
    const config = JSON.parse(await readFile(join(merged, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config).toMatchObject({
      architectures: ['BertForSequenceClassification'],
      num_labels: 2,
      id2label: { 0: 'different', 1: 'same' },
      label2id: { different: 0, same: 1 },
      problem_type: 'single_label_classification',
    });
    const fromMerged = join(dir, 'merged.jsonl');
    await diffprune(
      'predict',
      '--model',
      merged,
      '--input',
      join(dir, 'input.jsonl'),
      '--output',
      fromMerged,
      '--quiet',
    );
    const withDiff = readLines(join(dir, 'f32.jsonl'));
    expect(readLines(fromMerged)).toEqual(withDiff);

    const missing = await transformersMissing();
    if (missing) {
      context.skip(missing);
      return;
    }
    const hf = await transformersLogits(merged, join(dir, 'input.jsonl'), ['premise', 'hypothesis']);
    expect(hf.labels).toEqual(['different', 'same']);
    expect(hf.pooler).toBe(true);
    expect(
      maxDifference(
        hf.logits,
        withDiff.map((p) => p.logits),
      ),
    ).toBeLessThan(1e-4);
  });

  it('composes with a second diff: bodies summed, the named head kept', async () => {
    // A second task on other fields: one text, integer labels.
    const rows = pairs(40, 1).map((r, i) => ({ text: r.premise, label: i % 2 }));
    await writeFile(join(dir, 'second.jsonl'), jsonl(rows));
    const second = (
      JSON.parse(
        await diffprune(
          'train',
          ...['--model', model, '--train-file', join(dir, 'second.jsonl'), '--task-name', 'parity'],
          ...['--value-dtype', 'f32', '--out', join(dir, 'run2'), ...quick],
        ),
      ) as { diffPath: string }
    ).diffPath;
    const composed = join(dir, 'composed.diff.safetensors');
    await diffprune('diff', 'compose', diff, second, '--keep-head', 'animals', '--out', composed);
    const [a, b, c] = await Promise.all([readDiff(diff), readDiff(second), readDiff(composed)]);
    expect(c.provenance.task).toBe('animals+parity');
    expect(c.provenance.settings.labels).toEqual(['different', 'same']);
    // A second implementation of the sum: position → value maps.
    const entries = (d: SparseDiff, name: string) => {
      const t = d.tensors.find((x) => x.name === name);
      const map = new Map<number, number>();
      if (t?.kind === 'sparse')
        for (let i = 0; i < t.indices.length; i++) map.set(t.indices[i]!, t.values[i]!);
      return map;
    };
    let checked = 0;
    for (const t of c.tensors) {
      if (t.name.startsWith('classifier.')) {
        expect(t.values).toEqual(a.tensors.find((x) => x.name === t.name)!.values);
        continue;
      }
      if (t.kind !== 'sparse') continue;
      const expected = entries(a, t.name);
      for (const [p, v] of entries(b, t.name)) expected.set(p, Math.fround((expected.get(p) ?? 0) + v));
      expect(new Map([...entries(c, t.name)])).toEqual(expected);
      checked += expected.size;
    }
    expect(checked).toBeGreaterThan(0);
    const out = join(dir, 'composed.jsonl');
    await diffprune(
      'predict',
      '--model',
      model,
      '--diff',
      composed,
      '--input',
      join(dir, 'input.jsonl'),
      '--output',
      out,
      '--quiet',
    );
    expect(readLines(out).every((p) => p.label === 'different' || p.label === 'same')).toBe(true);
    // Without --keep-head the heads stay apart: the composed diff has none.
    const bodies = join(dir, 'bodies.diff.safetensors');
    await diffprune('diff', 'compose', diff, second, '--out', bodies);
    expect((await readDiff(bodies)).tensors.some((t) => t.name.startsWith('classifier.'))).toBe(false);
  });
});
