import * as vega from 'vega';
import * as vl from 'vega-lite';
import { methodLabels } from './presets.js';
import type { RunRecord } from './run-preset.js';
import type { BenchSummary } from './summary.js';

/** Renders a Vega-Lite spec to an SVG string, headless (no canvas, no browser). */
export async function renderSvg(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}

const base = {
  $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
  width: 420,
  height: 260,
  config: { legend: { labelLimit: 320 } },
} as const;

/** Headline metric against target density (structured diff pruning), one line per task. */
export function densitySpec(summary: BenchSummary): vl.TopLevelSpec {
  return {
    ...base,
    title: 'Structured diff pruning: dev metric vs. target density',
    data: {
      values: summary.densitySweep
        .filter((p) => Number.isFinite(p.headline))
        .map((p) => ({ task: p.task, density: p.targetDensity * 100, metric: p.headline * 100 })),
    },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'density', type: 'quantitative', title: 'target density (%)', scale: { type: 'log' } },
      y: { field: 'metric', type: 'quantitative', title: 'dev metric (×100)', scale: { zero: false } },
      color: { field: 'task', type: 'nominal' },
    },
  };
}

/** Share of modified parameters per block (the paper's Figure 2), structured diff pruning. */
export function layerSpec(
  records: readonly RunRecord[],
  method: 'diff-pruning' | 'diff-pruning-structured',
): vl.TopLevelSpec {
  const values = records
    .filter((r) => r.method === method && r.targetDensity === 0.005)
    .flatMap((r) =>
      Object.entries(r.structure.blockShare)
        .filter(([block]) => block !== 'head')
        .map(([block, share]) => ({ task: r.task, block, share: share * 100 })),
    );
  const order = [...new Set(values.map((v) => v.block))].sort((a, b) => blockRank(a) - blockRank(b));
  return {
    ...base,
    title: `${methodLabels[method]}: modified parameters per block`,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'block', type: 'ordinal', sort: order, title: 'block' },
      y: { field: 'share', type: 'quantitative', title: 'modified (%)' },
      color: { field: 'task', type: 'nominal' },
    },
  };
}

const blockRank = (block: string) =>
  block === 'embeddings' ? -1 : block === 'pooler' ? 1e6 : Number(block.replace('layer.', '')) || 0;

/** Encoder tensors left entirely untouched at 0.5 %, structured vs unstructured, per task. */
export function untouchedSpec(records: readonly RunRecord[]): vl.TopLevelSpec {
  const values = records
    .filter(
      (r) =>
        (r.method === 'diff-pruning' || r.method === 'diff-pruning-structured') && r.targetDensity === 0.005,
    )
    .map((r) => ({
      task: r.task,
      method: methodLabels[r.method],
      untouched: (100 * r.structure.untouchedTensors.length) / Math.max(1, r.structure.encoderTensors),
    }));
  return {
    ...base,
    title: 'Encoder tensors left untouched (0.5 %)',
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'task', type: 'nominal' },
      xOffset: { field: 'method' },
      y: { field: 'untouched', type: 'quantitative', title: 'untouched tensors (%)' },
      color: { field: 'method', type: 'nominal' },
    },
  };
}

/** Structured against unstructured diff pruning: headline metric per task. */
export function structuredSpec(summary: BenchSummary): vl.TopLevelSpec {
  const values: { task: string; method: string; metric: number }[] = [];
  for (const method of ['diff-pruning', 'diff-pruning-structured'] as const) {
    for (const [task, cell] of Object.entries(summary.table[method] ?? {})) {
      if (Number.isFinite(cell.headline))
        values.push({ task, method: methodLabels[method], metric: cell.headline * 100 });
    }
  }
  return {
    ...base,
    title: 'Structured vs. unstructured diff pruning (0.5 %)',
    data: { values },
    mark: 'bar',
    encoding: {
      x: { field: 'task', type: 'nominal' },
      xOffset: { field: 'method' },
      y: { field: 'metric', type: 'quantitative', title: 'dev metric (×100)' },
      color: { field: 'method', type: 'nominal' },
    },
  };
}
