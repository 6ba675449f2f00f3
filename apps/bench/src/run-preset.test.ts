import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultSettings } from '@diffprune/training';
import { describe, expect, it } from 'vitest';
import { getPreset, planRuns, withModel } from './presets.js';
import {
  claimRun,
  isCurrentRecord,
  portablePath,
  type RunRecord,
  releaseRun,
  runPreset,
} from './run-preset.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const model = join(root, 'fixtures/models/roberta');
const smoke = getPreset('smoke');
const present = existsSync(join(smoke.dataDirectory ?? '', 'RTE/train.tsv'));
if (!present)
  console.warn(`skipping the bench --model run: ${smoke.dataDirectory} (../shared GLUE data) is absent`);

describe('diffprune-bench run --model', () => {
  it('withModel replaces the preset model and says so in the deviations', () => {
    const preset = withModel(smoke, model);
    expect(preset.model).toBe(model);
    expect(preset.deviations.filter((d) => d.startsWith('model:'))).toEqual([
      `model: ${model} (--model override of the preset's ${smoke.model})`,
    ]);
    expect(preset.tasks).toEqual(smoke.tasks);
  });

  it.skipIf(!present)(
    'the override reaches the runs: a RoBERTa fixture trains in the smoke preset and its run file records it',
    async () => {
      // One run of the smoke preset, cut to two steps per stage: the override, not the benchmark.
      const preset = withModel(
        { ...smoke, settings: { ...smoke.settings, maxSteps: 2, maxTrainExamples: 16, maxEvalExamples: 16 } },
        model,
      );
      const out = await mkdtemp(join(tmpdir(), 'dp-bench-model-'));
      const id = 'rte__diff-pruning__d0.005__s42';
      const { records } = await runPreset({ preset, outputDirectory: out, only: [id] });
      expect(records.map((r) => r.id)).toEqual([id]);
      const stored = JSON.parse(readFileSync(join(out, 'runs', `${id}.json`), 'utf8')) as RunRecord;
      expect(stored.presetModel).toBe('fixtures/models/roberta'); // relative to the checkout: no machine path
      expect(portablePath(model)).toBe('fixtures/models/roberta');
      expect(stored.modelChecksum).toMatch(/^[0-9a-f]{64}$/);
      expect(stored.model.id).toContain('fixtures/models/roberta');
      const planned = planRuns(preset, defaultSettings).find((r) => r.id === id)!;
      expect(isCurrentRecord(stored, planned, model)).toBe(true);
      // The same results directory run with another model is stale, not skipped.
      expect(isCurrentRecord(stored, planned, smoke.model)).toBe(false);
    },
    120_000,
  );
});

describe('parallel workers', () => {
  it('a run is held by one live process; a dead holder’s claim is taken over', async () => {
    const out = await mkdtemp(join(tmpdir(), 'dp-bench-claims-'));
    expect(await claimRun(out, 'a')).toBe(true);
    expect(await claimRun(out, 'a')).toBe(true); // this process again
    // Another (live) process holds it: the parent of this one.
    expect(await claimRun(out, 'b', process.ppid)).toBe(true);
    expect(await claimRun(out, 'b')).toBe(false);
    await releaseRun(out, 'b');
    expect(await claimRun(out, 'b')).toBe(true);
    // A holder that exited (a killed worker): taken over.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(join(out, 'claims', 'c.pid'), `${dead}\n`);
    expect(await claimRun(out, 'c')).toBe(true);
    expect(readFileSync(join(out, 'claims', 'c.pid'), 'utf8').trim()).toBe(String(process.pid));
  });

  it.skipIf(!present)(
    'run --jobs 2: two workers share the runs (each once), progress with an ETA, then one report',
    async () => {
      const out = await mkdtemp(join(tmpdir(), 'dp-bench-jobs-'));
      const ids = ['rte__bitfit__dense__s42', 'rte__last-layer__dense__s42'];
      const result = spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          join(root, 'apps/bench/src/cli.ts'),
          'run',
          '--preset',
          'smoke',
          '--only',
          ...ids,
          '--jobs',
          '2',
          '--threads',
          '1',
          '--out',
          out,
        ],
        { cwd: root, encoding: 'utf8' },
      );
      expect(result.status, result.stderr).toBe(0);
      expect(readdirSync(join(out, 'runs')).sort()).toEqual(ids.map((id) => `${id}.json`));
      expect(readdirSync(join(out, 'claims'))).toEqual([]);
      // Each run trained exactly once, by one of the two workers.
      for (const id of ids)
        expect(result.stderr.split('\n').filter((l) => l.endsWith(`] ${id}`)).length).toBe(1);
      expect(result.stderr).toMatch(/\[job 1\]/);
      expect(result.stderr).toMatch(/\[job 2\]/);
      expect(result.stderr).toMatch(/progress: 2\/2 runs done .*ETA/);
      // The parent prints progress; the workers do not (their ETA would count one job).
      expect(result.stderr).not.toMatch(/\[job \d\] progress:/);
      expect(existsSync(join(out, 'REPORT.md'))).toBe(true);
    },
    300_000,
  );
});
