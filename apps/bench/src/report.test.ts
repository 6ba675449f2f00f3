import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultSettings } from '@diffprune/training';
import { describe, expect, it } from 'vitest';
import { compareRecords } from './compare.js';
import type { ExternalRecord } from './external.js';
import { getPreset, planRuns } from './presets.js';
import { formatMetric, formatSpread, writeReport } from './report.js';
import { isCurrentRecord, type RunRecord } from './run-preset.js';
import { exceedsSpread, standardDeviation, summarise } from './summary.js';

const record = (
  task: string,
  method: RunRecord['method'],
  headline: number,
  density: number,
  targetDensity = 0.005,
  seed = 42,
): RunRecord => ({
  id: `${task}__${method}__d${targetDensity}__s${seed}`,
  preset: 'test',
  task,
  method,
  seed,
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
    expect(structured[header.indexOf('avg')]).toBe(
      formatMetric(summary.averages['diff-pruning-structured'].headline),
    );
    expect(report).toContain('QNLI not run: no training data');
    for (const plot of ['density', 'layers', 'untouched', 'structured']) {
      const svg = await readFile(join(out, 'plots', `${plot}.svg`), 'utf8');
      expect(svg.startsWith('<svg')).toBe(true);
      expect(report).toContain(`plots/${plot}.svg`);
    }
    const density = await readFile(join(out, 'plots', 'density.svg'), 'utf8');
    expect(density).toContain('sst2');
  });

  it('shows no average for a method that lacks some of the averaged tasks (a run still going)', async () => {
    const out = await mkdtemp(join(tmpdir(), 'dp-report-'));
    const partial = records.filter((r) => !(r.task === 'rte' && r.method === 'diff-pruning-structured'));
    await writeReport({
      preset: getPreset('smoke'),
      outputDirectory: out,
      records: partial,
      missingTasks: {},
    });
    const table = (await readFile(join(out, 'REPORT.md'), 'utf8'))
      .split('## Results (GLUE dev)')[1]!
      .split('\n')
      .filter((l) => l.startsWith('| '));
    const header = table[0]!.split('|').map((c) => c.trim());
    const row = (label: string) =>
      table
        .find((l) => l.startsWith(`| ${label} |`))!
        .split('|')
        .map((c) => c.trim());
    expect(row('Diff pruning (struct.)')[header.indexOf('avg')]).toBe('–');
    expect(row('Full finetuning')[header.indexOf('avg')]).toBe(formatMetric((0.8123 + 0.6012) / 2));
  });

  // Three seeds with known means and sample standard deviations (closed form: equally spaced values
  // m − d, m, m + d have sd d).
  const seeded = (task: string, method: RunRecord['method'], m: number, d: number) =>
    [m - d, m, m + d].map((v, i) => record(task, method, v, 0.005, 0.005, 42 + i));
  const threeSeeds: RunRecord[] = [
    ...seeded('sst2', 'full', 0.82, 0.02),
    ...seeded('sst2', 'diff-pruning', 0.71, 0.01),
    ...seeded('sst2', 'diff-pruning-structured', 0.72, 0.02),
    ...seeded('rte', 'full', 0.6, 0.03),
    ...seeded('rte', 'diff-pruning', 0.58, 0.01),
    ...seeded('rte', 'diff-pruning-structured', 0.55, 0.005),
  ];

  it('gives mean ± sample sd over seeds and marks differences larger than the spread', () => {
    expect(standardDeviation([1, 2, 3, 4])).toBeCloseTo(Math.sqrt(5 / 3), 12);
    expect(Number.isNaN(standardDeviation([1]))).toBe(true);
    const summary = summarise('test', threeSeeds);
    const full = summary.table.full!.sst2!;
    expect(full.n).toBe(3);
    expect(full.headline).toBeCloseTo(0.82, 12);
    expect(full.sd).toBeCloseTo(0.02, 12);
    expect(full.seeds).toEqual([42, 43, 44]);
    // sst2: 0.71 ± 0.01 vs 0.82 ± 0.02 → 0.11 > 0.03; rte: 0.58 ± 0.01 vs 0.60 ± 0.03 → 0.02 < 0.04.
    const find = (task: string, a: string, b: string) =>
      summary.comparisons.find((c) => c.task === task && c.a === a && c.b === b)!;
    expect(find('sst2', 'diff-pruning', 'full').exceeds).toBe(true);
    expect(find('sst2', 'diff-pruning', 'full').difference).toBeCloseTo(-0.11, 12);
    expect(find('rte', 'diff-pruning', 'full').exceeds).toBe(false);
    // Structured vs unstructured: sst2 0.01 < 0.03 (no); rte 0.03 > 0.015 (yes).
    expect(find('sst2', 'diff-pruning-structured', 'diff-pruning').exceeds).toBe(false);
    expect(find('rte', 'diff-pruning-structured', 'diff-pruning').exceeds).toBe(true);
    // The average's sd is over the per-seed averages: full (0.80+0.57)/2, (0.82+0.60)/2, (0.84+0.63)/2.
    const perSeed = [0, 1, 2].map((i) => (0.8 + 0.02 * i + 0.57 + 0.03 * i) / 2);
    expect(summary.averages.full?.sd).toBeCloseTo(standardDeviation(perSeed), 12);
    expect(summary.averages.full?.n).toBe(3);
    // One seed: no spread, never marked.
    expect(exceedsSpread({ headline: 0.9, sd: Number.NaN, n: 1 }, { headline: 0.1, sd: 0.01, n: 3 })).toBe(
      false,
    );
  });

  it('prints mean ± sd and the mark in the report, the reference comparison and the peers', async () => {
    const out = await mkdtemp(join(tmpdir(), 'dp-report-seeds-'));
    const external = (method: string, label: string, task: string, values: number[]): ExternalRecord[] =>
      values.map((headline, i) => ({
        id: `${task}__${method}__s${42 + i}`,
        method,
        label,
        task,
        seed: 42 + i,
        headlineMetric: 'accuracy',
        headline,
        metrics: { accuracy: headline },
        density: 0.005,
        steps: 10,
        wallTimeMs: 1000,
        implementation: 'test',
        finishedAt: '2026-01-01T00:00:00.000Z',
      }));
    // Reference full sst2 0.80 ± 0.01: ours 0.82 is outside; diff pruning 0.70 ± 0.02: ours 0.71 inside.
    const reference = [
      ...external('full', 'Full finetuning', 'sst2', [0.79, 0.8, 0.81]),
      ...external('diff-pruning', 'Diff pruning', 'sst2', [0.68, 0.7, 0.72]),
    ];
    const peers = [
      ...external('lora', 'PEFT LoRA', 'sst2', [0.6, 0.62, 0.64]),
      ...external('lora', 'PEFT LoRA', 'rte', [0.5, 0.52, 0.54]),
    ];
    await writeReport({
      preset: getPreset('smoke'),
      outputDirectory: out,
      records: threeSeeds,
      missingTasks: {},
      reference,
      peers,
    });
    const report = await readFile(join(out, 'REPORT.md'), 'utf8');
    const rows = report
      .split('## Results (GLUE dev)')[1]!
      .split('###')[0]!
      .split('\n')
      .filter((l) => l.startsWith('| '))
      .map((l) => l.split('|').map((c) => c.trim()));
    const header = rows[0]!;
    const row = (label: string) => rows.find((r) => r[1] === label)!;
    expect(row('Full finetuning')[header.indexOf('SST-2')]).toBe('82.0 ± 2.0');
    expect(row('Diff pruning')[header.indexOf('SST-2')]).toBe('71.0 ± 1.0 †');
    expect(row('Diff pruning')[header.indexOf('RTE')]).toBe('58.0 ± 1.0');
    expect(row('PEFT LoRA')[header.indexOf('SST-2')]).toBe('62.0 ± 2.0');
    expect(row('PEFT LoRA')[header.indexOf('avg')]).toBe(formatMetric((0.62 + 0.52) / 2));
    expect(report).toContain('| RTE | Diff pruning (struct.) − Diff pruning | -3.0 | yes |');
    // Welch p from scipy.stats.ttest_ind(equal_var=False) on the same values: 0.2209, 0.4961.
    expect(report).toContain(
      '| SST-2 | Full finetuning | 82.0 ± 2.0 (3) | 80.0 ± 1.0 (3) | 2.0 | **yes** | 0.22 |',
    );
    expect(report).toContain('| SST-2 | Diff pruning | 71.0 ± 1.0 (3) | 70.0 ± 2.0 (3) | 1.0 | no | 0.50 |');
    // 1 of 2 outside; one distribution would put 2 × 34.5 % = 0.7 there; no p < 0.05 (0.1 expected).
    expect(report).toContain('outside the reference’s mean ± sd in 1 of 2 cells');
    expect(report).toContain('0.7 would be');
    expect(report).toContain('0 of 2 cells with p < 0.05; 0.1 expected by chance');
    expect(formatSpread({ headline: 0.5, sd: Number.NaN, n: 1 })).toBe('50.0');
  });

  it('plans the offline preset: every method incl. last layer, three seeds, SST-2 capped, the sweep', () => {
    const preset = getPreset('offline');
    const runs = planRuns(preset, defaultSettings);
    expect(preset.methods).toContain('last-layer');
    expect(preset.seeds.length).toBeGreaterThanOrEqual(3);
    const perSeed = preset.tasks.length * preset.methods.length + preset.densitySweep.tasks.length * 3;
    expect(runs.length).toBe(preset.seeds.length * perSeed);
    expect(new Set(runs.map((r) => r.id)).size).toBe(runs.length);
    for (const run of runs) {
      expect(run.settings.epochs).toBe(3);
      expect(run.settings.maxSteps).toBeUndefined();
      expect(run.settings.fixedMaskEpochs).toBeUndefined(); // the trainer's 3, or 5 for MRPC, STS-B, RTE
      expect(run.settings.maxTrainExamples).toBe(
        run.task === 'sst2' ? preset.perTask.sst2?.maxTrainExamples : undefined,
      );
    }
    expect(runs.find((r) => r.method === 'last-layer')?.id).toBe('cola__last-layer__dense__s42');
    // The old preset keeps its five methods, so its committed runs stay its runs.
    expect(getPreset('offline-tiny').methods).not.toContain('last-layer');
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
