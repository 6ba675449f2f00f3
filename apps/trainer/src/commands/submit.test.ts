import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getTask } from '@diffprune/glue';
import { loadClassifier, predictTexts } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerSubmitCommand } from './submit.js';

const shared = fileURLToPath(new URL('../../../../../shared/', import.meta.url));
const model = `${shared}fixtures/forward-model`; // a finetuned 3-label classifier (AX is scored with MNLI's labels)
const missing = !existsSync(model);
if (missing) process.stderr.write(`skipping submit tests: ${model} is absent\n`);

async function run(...args: string[]) {
  const program = new Command('diffprune').exitOverride();
  registerSubmitCommand(program);
  let stderr = '';
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  process.exitCode = undefined;
  try {
    await program.parseAsync(['node', 'diffprune', 'submit', ...args]);
    return { code: Number(process.exitCode ?? 0), stderr };
  } finally {
    err.mockRestore();
    out.mockRestore();
    process.exitCode = undefined;
  }
}

const rows = [
  ['0', 'The cat sat on the mat.', 'A cat is sitting.'],
  ['1', 'Nobody came to the party.', 'The party was crowded.'],
  ['2', 'It may rain tomorrow.', 'Tomorrow it will rain.'],
  ['3', 'She bought apples.', 'She bought fruit.'],
];

describe.skipIf(missing)('diffprune submit', () => {
  let data: string;
  beforeAll(async () => {
    data = await mkdtemp(join(tmpdir(), 'dp-submit-'));
    const task = getTask('ax');
    await mkdir(join(data, task.directory), { recursive: true });
    const file = task.splits.test!.file;
    await writeFile(
      join(data, task.directory, file),
      `index\tsentence1\tsentence2\n${rows.map((r) => r.join('\t')).join('\n')}\n`,
    );
  });
  afterAll(async () => {
    if (data) await rm(data, { recursive: true, force: true });
  });

  it('refuses a test split with fewer rows than the official count, naming both', async () => {
    const { code, stderr } = await run(
      '--model',
      model,
      '--task',
      'ax',
      '--data',
      data,
      '--out',
      join(data, 'out'),
    );
    expect(code).toBe(1);
    expect(stderr).toMatch(/full AX test set \(1104 examples.*found "4 examples"/);
    expect(existsSync(join(data, 'out/AX.tsv'))).toBe(false);
  });

  it("writes the server's file: index and label name per row, the model's argmax", async () => {
    const { code, stderr } = await run(
      ...['--model', model, '--task', 'ax', '--data', data, '--out', join(data, 'out'), '--allow-incomplete'],
    );
    expect(code, stderr).toBe(0);
    const lines = (await readFile(join(data, 'out/AX.tsv'), 'utf8')).trim().split('\n');
    expect(lines[0]).toBe('index\tprediction');
    const loaded = await loadClassifier(model);
    const predictions = await predictTexts(
      loaded,
      rows.map(([, a, b]) => ({ textA: a!, textB: b! })),
    );
    tf.dispose(Object.values(loaded.params));
    const labels = getTask('ax').labels;
    expect(lines.slice(1)).toEqual(
      predictions.map((p, i) => `${rows[i]![0]}\t${labels[p.logits.indexOf(Math.max(...p.logits))]}`),
    );
  });
});
