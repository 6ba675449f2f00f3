import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDiff } from '@diffprune/sparse-diff';
import { describe, expect, it } from 'vitest';
import { transformersLogits, transformersMissing } from '../test/hf-transformers.js';

// `diffprune train --method diff-pruning`, then `eval` and `predict` with the diff, for every
// backbone family, on the tiny HF-saved fixtures (3-label heads, 64 positions) and a GLUE slice.
const root = fileURLToPath(new URL('../../../../', import.meta.url));
const glue = join(root, '../shared/data/glue');
const present = existsSync(join(glue, 'RTE/train.tsv'));
if (!present) console.warn(`skipping the backbone-family CLI test: ${glue} (../shared GLUE data) is absent`);

const run = (args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(root, 'apps/trainer/src/cli.ts'), ...args],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });

const families = [
  { family: 'bert', head: 'classifier.bias', architecture: 'BertForSequenceClassification' },
  { family: 'distilbert', head: 'classifier.bias', architecture: 'DistilBertForSequenceClassification' },
  { family: 'roberta', head: 'classifier.out_proj.bias', architecture: 'RobertaForSequenceClassification' },
  { family: 'electra', head: 'classifier.out_proj.bias', architecture: 'ElectraForSequenceClassification' },
];

describe.skipIf(!present)('the CLI on every backbone family', () => {
  it.for(families)(
    '$family: train diff-pruning on an RTE slice, then eval, predict and export (HF transformers loads it) with the diff',
    { timeout: 240_000 },
    async ({ family, head, architecture }, context) => {
      const model = join(root, 'fixtures/models', family);
      const config = JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')) as {
        max_position_embeddings: number;
      };
      const out = await mkdtemp(join(tmpdir(), `dp-family-${family}-`));
      // No --max-length: the default 128 must fit the fixture's 64 positions.
      const train = await run([
        'train',
        ...['--model', model, '--task', 'rte', '--data', glue, '--method', 'diff-pruning', '--out', out],
        ...[
          '--max-steps',
          '4',
          '--max-train-examples',
          '64',
          '--max-eval-examples',
          '32',
          '--batch-size',
          '4',
        ],
        ...['--quiet', '--json'],
      ]);
      expect(train.code, train.stderr).toBe(0);
      const summary = JSON.parse(train.stdout) as { task: string; method: string };
      expect(summary).toMatchObject({ task: 'rte', method: 'diff-pruning' });
      const diffPath = join(out, 'rte.diff.safetensors');
      const diff = await readDiff(diffPath);
      // The fixture's 3-label head was re-created for RTE's 2 labels and stored dense.
      const output = diff.tensors.find((t) => t.name === head);
      expect(output?.shape).toEqual([2]);
      expect(output?.kind).not.toBe('sparse');
      expect(diff.provenance.settings.maxLength).toBeLessThanOrEqual(config.max_position_embeddings);

      const evaluated = await run([
        'eval',
        '--model',
        model,
        '--diff',
        diffPath,
        '--task',
        'rte',
        '--data',
        glue,
        '--json',
      ]);
      expect(evaluated.code, evaluated.stderr).toBe(0);
      const accuracy = (JSON.parse(evaluated.stdout) as { metrics: { dev: { accuracy: number } } }).metrics
        .dev.accuracy;
      // RTE dev has 277 examples: an accuracy is a multiple of 1/277.
      expect(Math.abs(accuracy * 277 - Math.round(accuracy * 277))).toBeLessThan(1e-9);

      const input = join(out, 'input.jsonl');
      await writeFile(
        input,
        `${JSON.stringify({ text_a: 'the cat sat on the mat', text_b: 'a cat sat' })}\n${JSON.stringify({ text_a: 'hello world', text_b: null })}\n`,
      );
      const predictions = join(out, 'predictions.jsonl');
      const predicted = await run([
        'predict',
        '--model',
        model,
        '--diff',
        diffPath,
        '--input',
        input,
        '--output',
        predictions,
        '--quiet',
      ]);
      expect(predicted.code, predicted.stderr).toBe(0);
      const rows = readFileSync(predictions, 'utf8')
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line) as { logits: number[]; probabilities: number[]; label: string });
      expect(rows).toHaveLength(2);
      for (const row of rows) {
        expect(row.logits).toHaveLength(2);
        const max = Math.max(...row.logits);
        const exp = row.logits.map((l) => Math.exp(l - max));
        const sum = exp.reduce((a, b) => a + b, 0);
        for (const [i, p] of row.probabilities.entries()) expect(p).toBeCloseTo(exp[i]! / sum, 6);
        expect(row.label).toBe(['entailment', 'not_entailment'][row.logits.indexOf(max)]);
      }

      // Export: a merged HF directory declaring the family's sequence-classification class.
      const merged = join(out, 'merged');
      const exported = await run(['diff', 'export', '--base', model, '--diff', diffPath, '--out', merged]);
      expect(exported.code, exported.stderr).toBe(0);
      const mergedConfig = JSON.parse(readFileSync(join(merged, 'config.json'), 'utf8')) as Record<
        string,
        unknown
      >;
      expect(mergedConfig).toMatchObject({ architectures: [architecture], num_labels: 2 });
      const missing = await transformersMissing();
      if (missing) {
        context.skip(missing);
        return;
      }
      // HF transformers loads it as that class and gives the logits of predict with the diff.
      const hf = await transformersLogits(merged, input, ['text_a', 'text_b']);
      expect(hf.className).toBe(architecture);
      for (const [i, row] of rows.entries())
        for (const [j, x] of row.logits.entries()) expect(Math.abs(x - hf.logits[i]![j]!)).toBeLessThan(1e-4);
    },
  );
});
