import { type BenchMethod, benchMethods, denseMethods } from './presets.js';
import type { RunRecord } from './run-preset.js';

export interface SummaryCell {
  /** The runs (one per seed) this cell averages. */
  id: string;
  ids: string[];
  /** Mean headline metric over the seeds; `sd` the sample standard deviation (NaN for one seed). */
  headline: number;
  sd: number;
  n: number;
  /** Headline per seed, in seed order. */
  values: number[];
  seeds: number[];
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
  /**
   * Per method: mean headline over the tasks in the table (WNLI excluded), mean density; `sd` over
   * seeds of the per-seed average (seeds that ran every averaged task).
   */
  averages: Partial<
    Record<
      BenchMethod,
      {
        headline: number;
        sd: number;
        n: number;
        tasks: string[];
        density: number;
        densityWithoutHead: number;
      }
    >
  >;
  /** Pairs of methods per task (each vs full finetuning, structured vs unstructured, diff pruning vs non-adaptive). */
  comparisons: Comparison[];
  /** Storage for all tasks: in models (1 + Σ density; full finetuning: one model per task) and bytes of diffs. */
  storage: Partial<Record<BenchMethod, { tasks: number; models: number; diffBytes: number }>>;
  /** Structured diff pruning at every measured target density. */
  densitySweep: {
    task: string;
    targetDensity: number;
    density: number;
    headline: number;
    sd: number;
    n: number;
    id: string;
  }[];
  missingTasks: Record<string, string>;
}

/** Tasks the averages leave out, as the BERT and diff pruning papers do. */
export const averageExcludes = ['wnli'];

export const mean = (xs: readonly number[]) =>
  xs.length === 0 ? Number.NaN : xs.reduce((a, b) => a + b, 0) / xs.length;
/** Sample standard deviation (n − 1); NaN below two values. */
export const standardDeviation = (xs: readonly number[]) => {
  if (xs.length < 2) return Number.NaN;
  const m = mean(xs);
  return Math.sqrt(xs.reduce((a, x) => a + (x - m) ** 2, 0) / (xs.length - 1));
};

/** Mean and spread over seeds. */
export interface Spread {
  headline: number;
  sd: number;
  n: number;
}

/**
 * The criterion the report marks: a difference between two methods "exceeds the seed spread" when
 * both have at least two seeds and their mean ± sd intervals do not overlap, i.e.
 * |mean_a − mean_b| > sd_a + sd_b. (Stricter than a two-sample t-test's 5 % level for equal n ≥ 3
 * when the spreads are similar; no multiple-comparison correction.)
 */
export function exceedsSpread(a: Spread, b: Spread): boolean {
  if (a.n < 2 || b.n < 2 || !Number.isFinite(a.sd) || !Number.isFinite(b.sd)) return false;
  return Math.abs(a.headline - b.headline) > a.sd + b.sd;
}

export interface Comparison {
  task: string;
  a: BenchMethod;
  b: BenchMethod;
  /** mean_a − mean_b */
  difference: number;
  exceeds: boolean;
}

/** The pairs the report compares: each method vs full finetuning; structured vs unstructured; adaptive vs not. */
export const comparedPairs: [BenchMethod, BenchMethod][] = [
  ...benchMethods.filter((m) => m !== 'full').map((m): [BenchMethod, BenchMethod] => [m, 'full']),
  ['diff-pruning-structured', 'diff-pruning'],
  ['diff-pruning', 'non-adaptive'],
  ['diff-pruning-structured', 'non-adaptive'],
];

export function isMainRun(record: RunRecord, defaultDensity = 0.005): boolean {
  return denseMethods.includes(record.method) || record.targetDensity === defaultDensity;
}

/** Groups records by a key, seeds in ascending order. */
function groupBy<T extends { seed: number }>(
  items: readonly T[],
  key: (item: T) => string,
): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  for (const group of groups.values()) group.sort((a, b) => a.seed - b.seed);
  return groups;
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
  const main = records.filter((r) => isMainRun(r, defaultDensity));
  for (const group of groupBy(main, (r) => `${r.method}\u0000${r.task}`).values()) {
    const first = group[0]!;
    const values = group.map((r) => r.headline);
    table[first.method] ??= {};
    table[first.method]![first.task] = {
      id: first.id,
      ids: group.map((r) => r.id),
      headline: mean(values),
      sd: standardDeviation(values),
      n: group.length,
      values,
      seeds: group.map((r) => r.seed),
      headlineMetric: first.headlineMetric,
      metrics: Object.fromEntries(
        Object.keys(first.metrics).map((k) => [k, mean(group.map((r) => r.metrics[k] ?? Number.NaN))]),
      ),
      density: mean(group.map((r) => r.density)),
      densityWithoutHead: mean(group.map((r) => r.densityWithoutHead)),
      diffBytes: Math.round(mean(group.map((r) => r.diffBytes))),
      bytesPerNonzero: mean(group.map((r) => r.bytesPerNonzero)),
    };
  }
  const averages: BenchSummary['averages'] = {};
  const storage: BenchSummary['storage'] = {};
  for (const method of methods) {
    const cells = Object.entries(table[method] ?? {});
    const averaged = cells.filter(([task]) => !averageExcludes.includes(task));
    // Per seed: the average over the tasks, where the seed ran all of them.
    const seeds = [...new Set(averaged.flatMap(([, c]) => c.seeds))];
    const perSeed = seeds
      .filter((seed) => averaged.every(([, c]) => c.seeds.includes(seed)))
      .map((seed) => mean(averaged.map(([, c]) => c.values[c.seeds.indexOf(seed)]!)));
    averages[method] = {
      headline: mean(averaged.map(([, c]) => c.headline)),
      sd: standardDeviation(perSeed),
      n: perSeed.length,
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
  const comparisons: Comparison[] = [];
  for (const task of tasks) {
    for (const [a, b] of comparedPairs) {
      const ca = table[a]?.[task];
      const cb = table[b]?.[task];
      if (ca && cb)
        comparisons.push({
          task,
          a,
          b,
          difference: ca.headline - cb.headline,
          exceeds: exceedsSpread(ca, cb),
        });
    }
  }
  const sweep = records.filter((r) => r.method === 'diff-pruning-structured');
  const densitySweep = [...groupBy(sweep, (r) => `${r.task}\u0000${r.targetDensity}`).values()]
    .map((group) => ({
      task: group[0]!.task,
      targetDensity: group[0]!.targetDensity,
      density: mean(group.map((r) => r.density)),
      headline: mean(group.map((r) => r.headline)),
      sd: standardDeviation(group.map((r) => r.headline)),
      n: group.length,
      id: group[0]!.id,
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
    comparisons,
    storage,
    densitySweep,
    missingTasks,
  };
}
