import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readSafetensors, type SafetensorsTensor, toFloat32, writeSafetensors } from '@diffprune/core';
import { fingerprintCheckpoint, readDiff } from '@diffprune/sparse-diff';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { registerDiffCommand } from './diff.js';

const repositoryRoot = fileURLToPath(new URL('../../../../', import.meta.url));

/** Runs `diffprune diff …` in-process, capturing stdout, stderr and the exit code. */
async function run(...args: string[]) {
  const program = new Command('diffprune').exitOverride();
  registerDiffCommand(program);
  let stdout = '';
  let stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => {
    stdout += String(chunk);
    return true;
  });
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  process.exitCode = undefined;
  let code = 0;
  try {
    await program.parseAsync(['node', 'diffprune', 'diff', ...args]);
    code = Number(process.exitCode ?? 0);
  } catch (error) {
    code = (error as { exitCode?: number }).exitCode ?? 99;
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
  return { code, stdout, stderr };
}

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);

let root: string;
let base: string;
let tuned: string;
let other: string;

async function checkpoint(directory: string, tensors: SafetensorsTensor[]) {
  await mkdir(directory, { recursive: true });
  await writeFile(join(directory, 'config.json'), '{"model_type":"bert"}');
  await writeFile(join(directory, 'vocab.txt'), '[PAD]\n[UNK]\nhello\n');
  await writeSafetensors(join(directory, 'model.safetensors'), tensors, { format: 'pt' });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'diff-cli-'));
  base = join(root, 'base');
  tuned = join(root, 'tuned');
  other = join(root, 'other');
  const w = Array.from({ length: 60 }, (_, i) => Math.sin(i) / 10);
  const ids = new Uint8Array(new BigInt64Array([0n, 1n, 2n]).buffer);
  await checkpoint(base, [
    { name: 'enc.weight', dtype: 'F32', shape: [6, 10], data: f32(w) },
    { name: 'enc.bias', dtype: 'F32', shape: [4], data: f32([1, 2, 3, 4]) },
    { name: 'position_ids', dtype: 'I64', shape: [3], data: ids },
  ]);
  const changed = w.slice();
  changed[0]! += 0.5;
  changed[59]! -= 0.25;
  changed[17]! += 0.125;
  await checkpoint(tuned, [
    { name: 'enc.weight', dtype: 'F32', shape: [6, 10], data: f32(changed) },
    { name: 'enc.bias', dtype: 'F32', shape: [4], data: f32([1, 2, 3, 4]) },
    { name: 'classifier.weight', dtype: 'F32', shape: [2, 4], data: f32([1, 2, 3, 4, 5, 6, 7, 8]) },
  ]);
  await checkpoint(other, [
    { name: 'enc.weight', dtype: 'F32', shape: [6, 10], data: f32(w.map((x) => x + 1)) },
    { name: 'enc.bias', dtype: 'F32', shape: [4], data: f32([1, 2, 3, 4]) },
  ]);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('diffprune diff', () => {
  for (const [encoding, dtype] of [
    ['varint-delta', 'f32'],
    ['elias-fano', 'bf16'],
  ] as const) {
    it(`create (${encoding}, ${dtype}) → inspect → verify → apply gives the tuned checkpoint`, async () => {
      const file = join(root, `sst2-${encoding}.diff.safetensors`);
      const created = await run(
        'create',
        '--base',
        base,
        '--tuned',
        tuned,
        '--out',
        file,
        '--index-encoding',
        encoding,
        '--value-dtype',
        dtype,
        '--task',
        'sst2',
      );
      expect(created.stderr).toBe('');
      expect(created.code).toBe(0);
      const diff = await readDiff(file);
      expect(diff.provenance.baseFingerprint).toBe(await fingerprintCheckpoint(base));
      const weight = diff.tensors.find((t) => t.name === 'enc.weight')!;
      expect(weight.kind === 'sparse' && Array.from(weight.indices)).toEqual([0, 17, 59]);
      expect(diff.tensors.find((t) => t.name === 'classifier.weight')?.kind).toBe('add');

      const inspected = await run('inspect', file, '--json');
      expect(inspected.code).toBe(0);
      const report = JSON.parse(inspected.stdout);
      expect(report.provenance.task).toBe('sst2');
      expect(report.stats.nnz).toBe(3 + 8);
      expect(report.stats.untouchedTensors).toEqual(['enc.bias']);
      const text = await run('inspect', file);
      expect(text.stdout).toMatch(/bytes per nonzero/);
      expect(text.stdout).toMatch(/enc\.weight\s+sparse\s+\[6, 10\]\s+3/);

      expect((await run('verify', '--base', base, '--diff', file)).code).toBe(0);
      const wrong = await run('verify', '--base', other, '--diff', file);
      expect(wrong.code).toBe(1);
      expect(wrong.stderr).toMatch(/expected [0-9a-f]{64}; found [0-9a-f]{64}/);

      const out = join(root, `applied-${encoding}`);
      const applied = await run('apply', '--base', base, '--diff', file, '--out', out);
      expect(applied.stderr).toBe('');
      expect(applied.code).toBe(0);
      expect((await readdir(out)).sort()).toEqual(['config.json', 'model.safetensors', 'vocab.txt']);
      expect(await readFile(join(out, 'vocab.txt'), 'utf8')).toBe(
        await readFile(join(base, 'vocab.txt'), 'utf8'),
      );
      const result = await readSafetensors(join(out, 'model.safetensors'));
      const expected = await readSafetensors(join(tuned, 'model.safetensors'));
      for (const name of ['enc.weight', 'enc.bias', 'classifier.weight']) {
        const a = toFloat32(result.get(name)!);
        const b = toFloat32(expected.get(name)!);
        // bf16 rounds δ: within δ's bf16 rounding (δ ≤ 0.5 → error ≤ 2^-9); f32 within 1 ulp.
        const tolerance = dtype === 'bf16' ? 2 ** -9 : 2 ** -20;
        for (let i = 0; i < a.length; i++) expect(Math.abs(a[i]! - b[i]!)).toBeLessThanOrEqual(tolerance);
      }
      // Non-float tensors of the base pass through.
      expect(Array.from(result.get('position_ids')!.data)).toEqual(
        Array.from((await readSafetensors(join(base, 'model.safetensors'))).get('position_ids')!.data),
      );
    });
  }

  it('create --dense stores a tensor whole (replacing the base); --value-dtype i8 quantises δ', async () => {
    const file = join(root, 'dense.diff.safetensors');
    const created = await run(
      'create',
      '--base',
      base,
      '--tuned',
      tuned,
      '--out',
      file,
      '--dense',
      'enc.bias',
      '--value-dtype',
      'i8',
      '--json',
    );
    expect(created.code).toBe(0);
    expect(JSON.parse(created.stdout).stats.nnz).toBe(3 + 4 + 8);
    const diff = await readDiff(file);
    const kinds = Object.fromEntries(diff.tensors.map((t) => [t.name, [t.kind, t.valueDtype]]));
    expect(kinds).toEqual({
      'classifier.weight': ['add', 'F32'],
      'enc.bias': ['replace', 'F32'],
      'enc.weight': ['sparse', 'I8'],
    });
    const weight = diff.tensors.find((t) => t.name === 'enc.weight')!;
    // δ = 0.5, 0.125, −0.25 → scale 0.5 / 127; every δ within half a step.
    expect(weight.scale).toBeCloseTo(0.5 / 127, 9);
    const expected = [0.5, 0.125, -0.25];
    weight.values.forEach((v, i) => {
      expect(Math.abs(v - expected[i]!)).toBeLessThanOrEqual(weight.scale! / 2 + 1e-7);
    });
  });

  it('failures exit non-zero and leave no partial output', async () => {
    const file = join(root, 'bad.diff.safetensors');
    const badEncoding = await run(
      'create',
      '--base',
      base,
      '--tuned',
      tuned,
      '--out',
      file,
      '--index-encoding',
      'golomb',
    );
    expect(badEncoding.code).toBe(1);
    expect(badEncoding.stderr).toMatch(
      /--index-encoding must be one of varint-delta, elias-fano; found "golomb"/,
    );
    const badDtype = await run(
      'create',
      '--base',
      base,
      '--tuned',
      tuned,
      '--out',
      file,
      '--value-dtype',
      'f8',
    );
    expect(badDtype.code).toBe(1);
    const missing = await run('create', '--base', join(root, 'nope'), '--tuned', tuned, '--out', file);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/is missing/);
    expect((await readdir(root)).filter((name) => name.includes('bad'))).toEqual([]);

    // A diff of another base: apply refuses, and writes nothing.
    const good = join(root, 'good.diff.safetensors');
    expect((await run('create', '--base', base, '--tuned', tuned, '--out', good)).code).toBe(0);
    const wrongBase = await run('apply', '--base', other, '--diff', good, '--out', join(root, 'out-wrong'));
    expect(wrongBase.code).toBe(1);
    expect(wrongBase.stderr).toMatch(/another base|fingerprint/);
    // A truncated diff: a typed error naming the file.
    const bytes = await readFile(good);
    const truncated = join(root, 'truncated.diff.safetensors');
    await writeFile(truncated, bytes.subarray(0, bytes.length - 3));
    const broken = await run('apply', '--base', base, '--diff', truncated, '--out', join(root, 'out-broken'));
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/truncated\.diff\.safetensors: .*expected .*; found /);
    expect(
      (await readdir(root)).filter((name) => name.startsWith('out-') || name.startsWith('.out-')),
    ).toEqual([]);
    // An existing non-empty --out is kept unless --force.
    const existing = join(root, 'existing');
    await mkdir(existing);
    await writeFile(join(existing, 'keep.txt'), 'mine');
    expect((await run('apply', '--base', base, '--diff', good, '--out', existing)).code).toBe(1);
    expect(await readdir(existing)).toEqual(['keep.txt']);
    expect((await run('apply', '--base', base, '--diff', good, '--out', existing, '--force')).code).toBe(0);
    expect((await readdir(existing)).sort()).toEqual(['config.json', 'model.safetensors', 'vocab.txt']);
  });

  it('the real CLI exits non-zero when verify fails', async () => {
    const file = join(root, 'cli.diff.safetensors');
    expect((await run('create', '--base', base, '--tuned', tuned, '--out', file)).code).toBe(0);
    const tsx = join(repositoryRoot, 'node_modules/.bin/tsx');
    const cli = join(repositoryRoot, 'apps/trainer/src/cli.ts');
    const ok = await promisify(execFile)(tsx, [cli, 'diff', 'verify', '--base', base, '--diff', file]);
    expect(ok.stdout).toMatch(/^ok: /);
    const failed = await promisify(execFile)(tsx, [
      cli,
      'diff',
      'verify',
      '--base',
      other,
      '--diff',
      file,
    ]).then(
      () => null,
      (error: { code: number; stderr: string }) => error,
    );
    expect(failed?.code).toBe(1);
    expect(failed?.stderr).toMatch(/does not belong/);
  });

  it('apply|export|revert --out never replaces the directory it reads from, even with --force (issue #15)', async () => {
    // A copy, so the shared base stays intact if the refusal regresses.
    const own = join(root, 'own-base');
    await checkpoint(own, (await readSafetensors(join(base, 'model.safetensors'))).tensors);
    const diffDirectory = join(root, 'diffs');
    await mkdir(diffDirectory);
    const file = join(diffDirectory, 'own.diff.safetensors');
    expect((await run('create', '--base', own, '--tuned', tuned, '--out', file)).code).toBe(0);
    const before = (await readdir(own)).sort();
    for (const [command, out] of [
      ['apply', own],
      ['export', `${own}/`],
      ['apply', join(own, '..', 'own-base')],
      ['apply', root],
      ['export', diffDirectory],
    ] as const) {
      const { code, stderr } = await run(command, '--base', own, '--diff', file, '--out', out, '--force');
      expect(code, `${command} --out ${out}`).toBe(1);
      expect(stderr).toMatch(/^diffprune: --out must be .*; found .*\n$/);
    }
    const revert = await run('revert', '--model', own, '--diff', file, '--out', own, '--force');
    expect(revert.code).toBe(1);
    expect((await readdir(own)).sort()).toEqual(before);
    expect((await readdir(diffDirectory)).sort()).toEqual(['own.diff.safetensors']);
    // A directory beside them is fine.
    const fine = await run('apply', '--base', own, '--diff', file, '--out', join(root, 'own-out'), '--force');
    expect(fine.code, fine.stderr).toBe(0);
  });

  it("apply|verify|revert refuse a base whose vocab.txt or config.json differs from the diff's (issue #15)", async () => {
    const file = join(root, 'provenance.diff.safetensors');
    expect((await run('create', '--base', base, '--tuned', tuned, '--out', file)).code).toBe(0);
    const weights = (await readSafetensors(join(base, 'model.safetensors'))).tensors;
    // Same weights (same fingerprint), another vocabulary: the weights' check alone lets it through.
    const otherVocab = join(root, 'other-vocab');
    await checkpoint(otherVocab, weights);
    await writeFile(join(otherVocab, 'vocab.txt'), '[PAD]\n[UNK]\nhallo\n');
    const otherConfig = join(root, 'other-config');
    await checkpoint(otherConfig, weights);
    await writeFile(join(otherConfig, 'config.json'), '{"model_type":"bert","hidden_act":"relu"}');
    for (const [directory, which] of [
      [otherVocab, 'tokenizer'],
      [otherConfig, 'config'],
    ] as const) {
      const applied = await run(
        'apply',
        '--base',
        directory,
        '--diff',
        file,
        '--out',
        join(root, `out-${which}`),
      );
      expect(applied.code).toBe(1);
      expect(applied.stderr).toMatch(
        new RegExp(
          `^diffprune: applyDiff: the base's ${which}.*differs from the one the diff was made with: expected ${which} sha256 [0-9a-f]{64}; found [0-9a-f]{64}\\. Use the base directory .*\\n$`,
        ),
      );
      const verified = await run('verify', '--base', directory, '--diff', file);
      expect(verified.code).toBe(1);
      expect(verified.stderr).toMatch(`expected ${which} sha256`);
      // A "tuned" model with another config or vocabulary was not made from this diff's base.
      const reverted = await run(
        'revert',
        '--model',
        directory,
        '--diff',
        file,
        '--out',
        join(root, `rev-${which}`),
      );
      expect(reverted.code).toBe(1);
      expect(reverted.stderr).toMatch(
        new RegExp(`^diffprune: diff revert .*the base's ${which}.*expected ${which} sha256`),
      );
    }
    // Spacing and non-functional fields (labels, dropout) do not count.
    const relabelled = join(root, 'relabelled');
    await checkpoint(relabelled, weights);
    await writeFile(join(relabelled, 'config.json'), '{ "id2label": {"0": "a"}, "model_type": "bert" }');
    expect((await run('verify', '--base', relabelled, '--diff', file)).code).toBe(0);
  });
});
