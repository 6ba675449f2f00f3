import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { registerTrainCommand } from './train.js';

/** Runs `diffprune train …` in-process, capturing stderr and the exit code. */
async function run(...args: string[]) {
  const program = new Command('diffprune').exitOverride();
  registerTrainCommand(program);
  let stderr = '';
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
    stderr += String(chunk);
    return true;
  });
  process.exitCode = undefined;
  try {
    await program.parseAsync(['node', 'diffprune', 'train', ...args]);
    return { code: Number(process.exitCode ?? 0), stderr };
  } finally {
    err.mockRestore();
    process.exitCode = undefined;
  }
}

describe('diffprune train into an --out holding a finished run', () => {
  let out: string;
  beforeEach(async () => {
    out = await mkdtemp(join(tmpdir(), 'dp-finished-'));
    await writeFile(join(out, 'metrics.json'), '{"task":"rte"}\n');
    await writeFile(join(out, 'events.jsonl'), '{"type":"run-end"}\n');
    await mkdir(join(out, 'checkpoint'));
    await writeFile(join(out, 'checkpoint/state.json'), '{"done":true}\n');
  });
  afterEach(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('refuses without --force, in one line, and touches nothing', async () => {
    const { code, stderr } = await run('--model', 'no-such-model', '--task', 'rte', '--out', out);
    expect(code).toBe(1);
    expect(stderr).toBe(
      `diffprune: --out must be a directory without a finished run (or --force to replace it, --resume to continue it); found "${out}, which holds one (metrics.json)"\n`,
    );
    expect(readFileSync(join(out, 'events.jsonl'), 'utf8')).toBe('{"type":"run-end"}\n');
    expect(existsSync(join(out, 'checkpoint/state.json'))).toBe(true);
  });

  it('with --force, removes the finished run before training (here the model is missing, so it stops there)', async () => {
    const { code } = await run(
      '--model',
      join(out, 'no-such-model'),
      '--task',
      'rte',
      '--out',
      out,
      '--force',
      '--offline',
      '--quiet',
    );
    expect(code).toBe(1);
    expect(existsSync(join(out, 'metrics.json'))).toBe(false);
    expect(existsSync(join(out, 'checkpoint'))).toBe(false);
  });
});

describe('diffprune train --help', () => {
  it('says what --max-train-examples and --max-eval-examples do: a seeded subset, not the first N (issue #15)', () => {
    const program = new Command('diffprune');
    registerTrainCommand(program);
    const help = program.commands
      .find((c) => c.name() === 'train')!
      .helpInformation()
      .replace(/\s+/g, ' ');
    expect(help).toMatch(/--max-train-examples <n> use a seeded random subset of N training examples/);
    expect(help).toMatch(/--max-eval-examples <n> use a seeded random subset of N dev examples/);
    expect(help).not.toMatch(/first N/);
  });
});
