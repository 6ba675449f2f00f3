import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defaultSettings } from '@diffprune/training';
import { describe, expect, it } from 'vitest';
import { getPreset, planRuns, withModel } from './presets.js';
import { isCurrentRecord, type RunRecord, runPreset } from './run-preset.js';

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
      expect(stored.presetModel).toBe(model);
      expect(stored.model.id).toContain('fixtures/models/roberta');
      const planned = planRuns(preset, defaultSettings).find((r) => r.id === id)!;
      expect(isCurrentRecord(stored, planned, model)).toBe(true);
      // The same results directory run with another model is stale, not skipped.
      expect(isCurrentRecord(stored, planned, smoke.model)).toBe(false);
    },
    120_000,
  );
});
