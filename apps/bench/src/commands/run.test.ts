import { describe, expect, it } from 'vitest';
import { estimateRemainingMs } from './run.js';

const run = (
  task: string,
  method: string,
  seed: number,
  wallTimeMs = 0,
  finishedAt = `2026-12-0${seed - 40}`,
) => ({
  id: `${task}__${method}__s${seed}`,
  task,
  wallTimeMs,
  finishedAt,
});

describe('estimateRemainingMs', () => {
  const planned = [42, 43, 44].flatMap((seed) => [
    run('wnli', 'full__dense', seed),
    run('stsb', 'full__dense', seed),
    run('stsb', 'diff-pruning__d0.005', seed),
  ]);

  it('is unknown before any run has finished', () => {
    expect(estimateRemainingMs(planned, [], 2)).toBeUndefined();
  });

  it('expects each remaining run to take what the latest run of its kind took, shared by the jobs', () => {
    const finished = [
      run('wnli', 'full__dense', 42, 60_000),
      run('stsb', 'full__dense', 42, 600_000),
      run('stsb', 'diff-pruning__d0.005', 43, 200_000), // the latest (a faster build): 200 s
      run('stsb', 'diff-pruning__d0.005', 42, 1_800_000),
    ];
    // Left: wnli full ×2 (60 s each), stsb full ×2 (600 s), stsb DP ×1 (200 s).
    expect(estimateRemainingMs(planned, finished, 2)).toBe((2 * 60_000 + 2 * 600_000 + 200_000) / 2);
    expect(estimateRemainingMs(planned, finished, 1)).toBe(2 * 60_000 + 2 * 600_000 + 200_000);
  });

  it('falls back to the task’s mean, then to the mean of all finished runs', () => {
    const finished = [run('wnli', 'full__dense', 42, 60_000), run('wnli', 'full__dense', 43, 100_000)];
    const some = [...planned, run('wnli', 'bitfit__dense', 42), run('cola', 'bitfit__dense', 42)];
    // wnli full s44 (the latest wnli full, s43: 100 s), wnli bitfit (wnli's mean, 80 s),
    // stsb ×6 and cola ×1 (the mean of all, 80 s).
    expect(estimateRemainingMs(some, finished, 1)).toBe(100_000 + 8 * 80_000);
    const stsb = [run('stsb', 'full__dense', 42, 900_000)];
    // stsb full ×2 (900 s), stsb DP ×3 (stsb mean 900 s), wnli ×3 (overall mean 900 s).
    expect(estimateRemainingMs(planned, stsb, 1)).toBe(8 * 900_000);
  });
});
