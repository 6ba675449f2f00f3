import { type BenchMethod, benchMethods } from './presets.js';
import type { RunRecord } from './run-preset.js';

export interface SummaryCell {
  id: string;
  headline: number;
  headlineMetric: string;
  metrics: Record<string, number>;
  density: number;
  densityWithoutHead: number;
  diffBytes: number;
  bytesPerNonzero: number;
}

export interface BenchSummary {
  preset: string;
  generatedAt: string;
  model: RunRecord['model'] | undefined;
  backends: string[];
  machine: RunRecord['machine'] | undefined;
  tasks: string[];
  methods: BenchMethod[];
  /** Main runs (default target density), method → task → cell. */
  table: Partial<Record<BenchMethod, Record<string, SummaryCell>>>;
  /** Per method: mean headline over the tasks in the table (WNLI excluded), mean density. */
  averages: Partial<
    Record<BenchMethod, { headline: number; tasks: string[]; density: number; densityWithoutHead: number }>
  >;
  /** Storage for all tasks: in models (1 + Σ density; full finetuning: one model per task) and bytes of diffs. */
  storage: Partial<Record<BenchMethod, { tasks: number; models: number; diffBytes: number }>>;
  /** Structured diff pruning at every measured target density. */
  densitySweep: { task: string; targetDensity: number; density: number; headline: number; id: string }[];
  missingTasks: Record<string, string>;
}

/** Tasks the averages leave out, as the BERT and diff pruning papers do. */
export const averageExcludes = ['wnli'];

const mean = (xs: number[]) => (xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length);

export function isMainRun(record: RunRecord, defaultDensity = 0.005): boolean {
  return record.method === 'full' || record.method === 'bitfit' || record.targetDensity === defaultDensity;
}

/** Builds the summary from the run records alone (so the report can always be regenerated). */
export function summarise(
  preset: string,
  records: readonly RunRecord[],
  missingTasks: Record<string, string> = {},
  defaultDensity = 0.005,
): BenchSummary {
  const tasks = [...new Set(records.map((r) => r.task))];
  const methods = benchMethods.filter((m) => records.some((r) => r.method === m));
  const table: BenchSummary['table'] = {};
  for (const record of records) {
    if (!isMainRun(record, defaultDensity)) continue;
    table[record.method] ??= {};
    table[record.method]![record.task] = {
      id: record.id,
      headline: record.headline,
      headlineMetric: record.headlineMetric,
      metrics: record.metrics,
      density: record.density,
      densityWithoutHead: record.densityWithoutHead,
      diffBytes: record.diffBytes,
      bytesPerNonzero: record.bytesPerNonzero,
    };
  }
  const averages: BenchSummary['averages'] = {};
  const storage: BenchSummary['storage'] = {};
  for (const method of methods) {
    const cells = Object.entries(table[method] ?? {});
    const averaged = cells.filter(([task]) => !averageExcludes.includes(task));
    averages[method] = {
      headline: mean(averaged.map(([, c]) => c.headline)),
      tasks: averaged.map(([task]) => task),
      density: mean(cells.map(([, c]) => c.density)),
      densityWithoutHead: mean(cells.map(([, c]) => c.densityWithoutHead)),
    };
    storage[method] = {
      tasks: cells.length,
      models: method === 'full' ? cells.length : 1 + cells.reduce((s, [, c]) => s + c.density, 0),
      diffBytes: cells.reduce((s, [, c]) => s + c.diffBytes, 0),
    };
  }
  const densitySweep = records
    .filter((r) => r.method === 'diff-pruning-structured')
    .map((r) => ({
      task: r.task,
      targetDensity: r.targetDensity,
      density: r.density,
      headline: r.headline,
      id: r.id,
    }))
    .sort((a, b) => a.task.localeCompare(b.task) || a.targetDensity - b.targetDensity);
  const first = records[0];
  return {
    preset,
    generatedAt: new Date().toISOString(),
    model: first?.model,
    backends: [...new Set(records.map((r) => r.backend))],
    machine: first?.machine,
    tasks,
    methods,
    table,
    averages,
    storage,
    densitySweep,
    missingTasks,
  };
}
