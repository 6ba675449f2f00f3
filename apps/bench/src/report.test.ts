import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSettings } from '@diffprune/training';
import { describe, expect, it } from 'vitest';
import { compareRecords } from './compare.js';
import { getPreset, planRuns } from './presets.js';
import { formatMetric, writeReport } from './report.js';
import { isCurrentRecord, type RunRecord } from './run-preset.js';
import { summarise } from './summary.js';

const record = (
  task: string,
  method: RunRecord['method'],
  headline: number,
  density: number,
  targetDensity = 0.005,
): RunRecord => ({
  id: `${task}__${method}__d${targetDensity}__s42`,
  preset: 'test',
  task,
  method,
  seed: 42,
  targetDensity,
  settings: defaultSettings(method === 'diff-pruning-structured' ? 'diff-pruning' : method),
  metrics: { accuracy: headline },
  headlineMetric: 'accuracy',
  headline,
  density,
  densityWithoutHead: density * 0.9,
  diffBytes: Math.round(density * 1e6),
  bytesPerNonzero: 5,
  structure: {
    blockShare: { embeddings: density, 'layer.0': density * 2, 'layer.1': density * 3, pooler: 0, head: 1 },
    untouchedTensors: method === 'diff-pruning-structured' ? ['bert.pooler.dense.bias'] : [],
    encoderTensors: 37,
  },
  steps: 10,
  wallTimeMs: 1000,
  examplesPerSecond: 80,
  backend: 'cpu',
  machine: { cpu: 'test', cores: 2, memoryGiB: 24, node: 'v20', platform: 'linux', arch: 'x64' },
  model: { id: 'm', revision: 'local' },
  commit: undefined,
  finishedAt: '2026-01-01T00:00:00.000Z',
});

const records: RunRecord[] = [
  record('sst2', 'full', 0.8123, 1),
  record('rte', 'full', 0.6012, 1),
  record('wnli', 'full', 0.3, 1),
  record('sst2', 'diff-pruning-structured', 0.8011, 0.005),
  record('rte', 'diff-pruning-structured', 0.5841, 0.006),
  record('sst2', 'diff-pruning-structured', 0.7901, 0.01, 0.01),
];

describe('summary and report', () => {
  it('averages over the table tasks without WNLI and counts storage as 1 + Σ density', () => {
    const summary = summarise('test', records);
    expect(summary.averages.full?.headline).toBeCloseTo((0.8123 + 0.6012) / 2, 12);
    expect(summary.averages.full?.tasks).toEqual(['sst2', 'rte']);
    expect(summary.storage.full?.models).toBe(3);
    expect(summary.storage['diff-pruning-structured']?.models).toBeCloseTo(1 + 0.005 + 0.006, 12);
    expect(summary.table['diff-pruning-structured']?.sst2?.headline).toBe(0.8011); // not the 1 % sweep run
    expect(summary.densitySweep.map((p) => p.targetDensity)).toEqual([0.005, 0.005, 0.01]);
  });

  it('writes a report whose results table shows exactly the numbers of the run files', async () => {
    const out = await mkdtemp(join(tmpdir(), 'dp-report-'));
    const preset = getPreset('smoke');
    await writeReport({ preset, outputDirectory: out, records, missingTasks: { qnli: 'no training data' } });
    const report = await readFile(join(out, 'REPORT.md'), 'utf8');
    const summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8'));
    const table = report
      .split('## Results (GLUE dev)')[1]!
      .split('\n')
      .filter((l) => l.startsWith('| '));
    const header = table[0]!.split('|').map((c) => c.trim());
    const rows = table.slice(1).map((l) => l.split('|').map((c) => c.trim()));
    const full = rows.find((r) => r[1] === 'Full finetuning')!;
    expect(full[header.indexOf('SST-2')]).toBe(formatMetric(0.8123));
    expect(full[header.indexOf('RTE')]).toBe(formatMetric(0.6012));
    expect(full[header.indexOf('avg')]).toBe(formatMetric(summary.averages.full.headline));
    const structured = rows.find((r) => r[1] === 'Diff pruning (struct.)')!;
    expect(structured[header.indexOf('SST-2')]).toBe(formatMetric(0.8011));
    expect(report).toContain('QNLI not run: no training data');
    for (const plot of ['density', 'layers', 'untouched', 'structured']) {
      const svg = await readFile(join(out, 'plots', `${plot}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(report).toContain(`plots/${plot}.svg`);
    }
    const density = await readFile(join(out, 'plots', 'density.svg'), 'utf8');
    expect(density).toContain('sst2');
  });

  it('plans every task × method plus the density sweep, with unique ids', () => {
    const preset = getPreset('offline-tiny');
    const runs = planRuns(preset, defaultSettings);
    expect(runs.length).toBe(preset.tasks.length * preset.methods.length + 3 * 3);
    expect(new Set(runs.map((r) => r.id)).size).toBe(runs.length);
    const sweep = runs.filter((r) => r.targetDensity === 0.001);
    expect(sweep.every((r) => r.method === 'diff-pruning-structured' && r.settings.structured)).toBe(true);
    expect(runs.find((r) => r.method === 'diff-pruning')?.settings.structured).toBe(false);
  });

  it('counts a finished run as done only when its settings are the planned ones', () => {
    const [planned] = planRuns(getPreset('smoke'), defaultSettings);
    const done = { ...record(planned!.task, planned!.method, 0.5, 1), settings: { ...planned!.settings } };
    expect(isCurrentRecord(done, planned!)).toBe(true);
    expect(isCurrentRecord({ ...done, settings: { ...planned!.settings, maxSteps: 999 } }, planned!)).toBe(
      false,
    );
  });

  it('compares two result sets run by run', () => {
    const other = records.map((r) => ({ ...r, headline: r.headline + 0.01 }));
    const table = compareRecords(records, other, ['a', 'b']);
    expect(table).toContain(
      `| sst2__full__d0.005__s42 | Full finetuning | ${formatMetric(0.8123)} | ${formatMetric(0.8223)} | +1.0 |`,
    );
  });
});
