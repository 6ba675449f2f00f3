import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeSafetensors } from '@diffprune/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// Issue #15: bad input never ends in a stack trace. Each row runs the real CLI (`diffprune …` from
// source, as `pnpm --silent diffprune` does) on one bad input and expects one line on stderr, starting
// `diffprune: `, saying what was expected and what was found, with exit code 1 (never 130, Ctrl-C's).
//
// Run against the code before the CLI hardening (commit 971fec2, the parent of 9756876 "CLI: one line
// for every error"; this file with the CLI path pointed at a worktree of it), case by case:
//   not-JSON config.json          FAILED: SyntaxError stack from JSON.parse in predict.ts, exit 1
//   directory as a file (EISDIR)  PASSED already: one line "diff file must be a file …" (typed before
//                                 the hardening, by the hostile-files work)
//   train --batch-size abc        FAILED: InvalidArgumentError thrown from commander's parseArg, an
//                                 uncaught stack (24 lines), exit 1
//   eval --batch-size x           PASSED the one-line and exit checks, FAILED on the message: old eval
//                                 read the diff first ("diff file x is missing"), so this row does not
//                                 reach the old tfjs shape error the issue describes; the new code
//                                 refuses --batch-size at parse time
//   garbage state.json --resume   FAILED: SyntaxError stack from JSON.parse in training's checkpoint.ts
//   missing tensors file          PASSED already: one line MissingResourceError naming the file
//   numeric shard name            PASSED already: one line FormatError from the shared shard check
//   settings mismatch on --resume FAILED: one line, but exit 130 (InterruptedError, Ctrl-C's code)
//   DIFFPRUNE_DEBUG=1 adds stack  FAILED: old code had no DIFFPRUNE_DEBUG (a one-line message, no stack)
// Against a checkout of 8c0a8a9 (, older still) most rows fail for an unrelated reason: train/predict
// had other options then (--task, text_a input), so the rows do not reach the input they test.

const root = fileURLToPath(new URL('../../../', import.meta.url));
const model = join(root, '../shared/models/bert-tiny-mlm-offline');
const present = existsSync(join(model, 'model.safetensors'));
if (!present) console.warn(`skipping the CLI error tests that need a model: ${model} is absent`);

function diffprune(args: string[], env: NodeJS.ProcessEnv = {}) {
  return new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', join(root, 'apps/trainer/src/cli.ts'), ...args],
      { cwd: root, env: { ...process.env, DIFFPRUNE_DEBUG: '', ...env }, maxBuffer: 16 << 20 },
      // The backend line (one line saying which backend runs) is not an error.
      (error, _stdout, stderr) =>
        resolve({
          code: error ? Number(error.code ?? 1) : 0,
          stderr: stderr.replace(/^backend: [^\n]*\n/m, ''),
        }),
    );
  });
}

let dir: string;
const path = (...parts: string[]) => join(dir, ...parts);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dp-cli-errors-'));
  // A model whose config.json is not JSON.
  await mkdir(path('bad-config'));
  await writeFile(path('bad-config/config.json'), '{ this is not json');
  // A model whose shard index names a shard with a number.
  await mkdir(path('numeric-shard'));
  if (present) {
    const config = JSON.parse(await readFile(join(model, 'config.json'), 'utf8')) as object;
    await writeFile(path('numeric-shard/config.json'), JSON.stringify({ ...config, num_labels: 2 }));
  }
  await writeFile(
    path('numeric-shard/model.safetensors.index.json'),
    JSON.stringify({ metadata: {}, weight_map: { 'bert.embeddings.word_embeddings.weight': 7 } }),
  );
  const rows = Array.from({ length: 8 }, (_, i) => JSON.stringify({ sentence: `a cat ${i}`, label: i % 2 }));
  await writeFile(path('train.jsonl'), `${rows.join('\n')}\n`);
  // --resume runs whose checkpoint is garbage, lacks its tensors, or belongs to other settings.
  const checkpoint = async (name: string, state: string, tensors: boolean) => {
    await mkdir(path(name, 'checkpoint'), { recursive: true });
    await writeFile(path(name, 'checkpoint/state.json'), state);
    if (tensors)
      await writeSafetensors(path(name, 'checkpoint/tensors.safetensors'), [
        { name: 'trainables::w/x', dtype: 'F32', shape: [1], data: new Uint8Array(4) },
      ]);
  };
  const state = JSON.stringify({ version: 1, runKey: 'another run', stageIndex: 0, step: 1 });
  await checkpoint('garbage-state', 'garbage {', true);
  await checkpoint('no-tensors', state, false);
  await checkpoint('other-settings', state, true);
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const train = (out: string) => [
  'train',
  ...['--model', model, '--train-file', path('train.jsonl'), '--validation-file', path('train.jsonl')],
  ...['--task-name', 'cats', '--out', path(out), '--resume', '--offline', '--quiet', '--max-steps', '1'],
];

const predict = (modelDirectory: string) => [
  'predict',
  ...['--model', path(modelDirectory), '--input', path('train.jsonl'), '--output', path('out.jsonl')],
  ...['--offline', '--quiet'],
];

/** [case, arguments, what the line must say, needs the model] */
const cases: [string, () => string[], RegExp, boolean][] = [
  ['not-JSON config.json', () => predict('bad-config'), /config\.json.*expected/, false],
  ['a directory given as a file (EISDIR)', () => ['diff', 'inspect', dir], /directory/, false],
  [
    'train --batch-size abc',
    () => ['train', '--batch-size', 'abc'],
    /--batch-size must be an integer.*"abc"/,
    false,
  ],
  [
    'eval --batch-size x',
    () => ['eval', '--model', model, '--diff', 'x', '--task', 'rte', '--batch-size', 'x'],
    /--batch-size must be an integer.*"x"/,
    false,
  ],
  [
    'garbage checkpoint state.json with --resume',
    () => train('garbage-state'),
    /state\.json.*expected/,
    true,
  ],
  ['a missing checkpoint tensors file', () => train('no-tensors'), /tensors\.safetensors/, true],
  ['a numeric shard name', () => predict('numeric-shard'), /weight_map/, true],
  ['a settings mismatch on --resume (not 130)', () => train('other-settings'), /other settings/, true],
];

describe('the CLI prints one line for bad input, never a stack trace (issue #15)', () => {
  it.each(cases)('%s', async (_name, args, says, needsModel) => {
    if (needsModel && !present) return;
    const { code, stderr } = await diffprune(args());
    expect(stderr, stderr).toMatch(/^diffprune: [^\n]+\n$/);
    expect(stderr).toMatch(says);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(code, stderr).toBe(1);
  });

  it('DIFFPRUNE_DEBUG=1 adds the stack', async () => {
    const { code, stderr } = await diffprune(['diff', 'inspect', dir], { DIFFPRUNE_DEBUG: '1' });
    expect(code).toBe(1);
    expect(stderr).toMatch(/^diffprune: [^\n]+\n/);
    expect(stderr).toMatch(/\n\s+at /);
  });
});
