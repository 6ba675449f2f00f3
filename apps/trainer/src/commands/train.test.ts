import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../../', import.meta.url));
const shared = join(root, '../shared');
const model = join(shared, 'models/bert-tiny-mlm-offline');
const glue = join(shared, 'data/glue');
const present = existsSync(join(model, 'model.safetensors')) && existsSync(join(glue, 'RTE/train.tsv'));
if (!present) console.warn(`skipping the CLI interrupt test: ${model} or ${glue} is absent`);

const cli = (args: string[]) =>
  spawn(process.execPath, ['--import', 'tsx', join(root, 'apps/trainer/src/cli.ts'), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });

const exitOf = (child: ReturnType<typeof cli>) =>
  new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));

describe.skipIf(!present)('diffprune train (the real CLI)', () => {
  it('Ctrl-C saves a checkpoint and exits 130; --resume then finishes the run', async () => {
    const out = await mkdtemp(join(tmpdir(), 'dp-sigint-'));
    const args = [
      'train',
      ...['--model', model, '--task', 'rte', '--data', glue, '--method', 'full', '--out', out],
      ...['--max-train-examples', '64', '--max-eval-examples', '16', '--max-length', '32', '--epochs', '50'],
      ...['--max-steps', '40', '--batch-size', '4', '--quiet'],
    ];
    const first = cli(args);
    let firstErr = '';
    first.stderr.on('data', (chunk) => {
      firstErr += chunk;
    });
    const events = join(out, 'events.jsonl');
    // Interrupt once training has taken a few steps (as `pnpm diffprune` runs it: one process).
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (!existsSync(events)) return;
        const steps = readFileSync(events, 'utf8')
          .split('\n')
          .filter((l) => l.includes('"step-end"')).length;
        if (steps >= 3) {
          clearInterval(timer);
          first.kill('SIGINT');
          resolve();
        }
      }, 100);
      first.on('exit', () => {
        clearInterval(timer);
        reject(new Error('the run ended before it was interrupted'));
      });
    });
    const code = await exitOf(first);
    expect(code, firstErr).toBe(130);
    expect(
      existsSync(join(out, 'checkpoint/state.json')),
      `${firstErr}\n${readdirSync(out).join(', ')}`,
    ).toBe(true);
    const saved = JSON.parse(readFileSync(join(out, 'checkpoint/state.json'), 'utf8')) as { step: number };
    expect(saved.step).toBeGreaterThanOrEqual(3);
    expect(saved.step).toBeLessThan(40);
    expect(readFileSync(events, 'utf8')).toContain('"run-interrupt"');
    // One line saying where the checkpoint is and how this command resumes (no stack).
    expect(firstErr).toMatch(
      /diffprune: interrupted at step \d+; its checkpoint is saved in .*checkpoint; resume with the same command and --resume\n/,
    );
    expect(firstErr).not.toMatch(/\n\s+at /);

    const second = cli([...args, '--resume', '--json']);
    let stdout = '';
    second.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    expect(await exitOf(second)).toBe(0);
    const summary = JSON.parse(stdout) as { steps: number; task: string };
    expect(summary.task).toBe('rte');
    expect(summary.steps).toBe(40);
    expect(existsSync(join(out, 'rte.diff.safetensors'))).toBe(true);
  });
});
