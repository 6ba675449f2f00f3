import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@diffprune/core';
import { paperColumns, paperDensityTable, paperTable } from './paper.js';
import { densitySpec, layerSpec, renderSvg, structuredSpec, untouchedSpec } from './plots.js';
import { type BenchMethod, type BenchPreset, methodLabels } from './presets.js';
import type { RunRecord } from './run-preset.js';
import { averageExcludes, type BenchSummary, summarise } from './summary.js';

const taskLabels: Record<string, string> = {
  qnli: 'QNLI',
  sst2: 'SST-2',
  'mnli-m': 'MNLI-m',
  'mnli-mm': 'MNLI-mm',
  cola: 'CoLA',
  mrpc: 'MRPC',
  stsb: 'STS-B',
  rte: 'RTE',
  qqp: 'QQP',
  wnli: 'WNLI',
  mnli: 'MNLI-m',
};

/** A metric as the paper prints it: ×100, one decimal. The report shows every number this way. */
export const formatMetric = (value: number | undefined) =>
  value === undefined || !Number.isFinite(value) ? '–' : (value * 100).toFixed(1);
export const formatPercent = (value: number, digits = 3) => `${(value * 100).toFixed(digits)} %`;

/** Column order: the paper's, then any other task we ran. */
function columnsFor(summary: BenchSummary): string[] {
  const ours = summary.tasks;
  const ordered: string[] = paperColumns
    .map((c) => (c === 'mnli-m' ? 'mnli' : c))
    .filter((c) => ours.includes(c));
  return [...new Set([...ordered, ...ours.filter((t) => !ordered.includes(t))])];
}

export function resultsTable(summary: BenchSummary): string {
  const columns = columnsFor(summary);
  const header = `| method | new params/task | ${columns.map((c) => taskLabels[c] ?? c).join(' | ')} | avg |`;
  const rule = `|---|---|${columns.map(() => '---').join('|')}|---|`;
  const rows = summary.methods.map((method: BenchMethod) => {
    const cells = summary.table[method] ?? {};
    const average = summary.averages[method];
    return `| ${methodLabels[method]} | ${average ? formatPercent(average.density) : '–'} | ${columns
      .map((c) => formatMetric(cells[c]?.headline))
      .join(' | ')} | ${formatMetric(average?.headline)} |`;
  });
  return [header, rule, ...rows].join('\n');
}

/** Writes summary.json, REPORT.md and the SVG plots for a results directory. */
export async function writeReport(options: {
  preset: BenchPreset;
  outputDirectory: string;
  records: readonly RunRecord[];
  missingTasks: Record<string, string>;
}): Promise<BenchSummary> {
  const { preset, outputDirectory, records } = options;
  const summary = summarise(preset.name, records, options.missingTasks);
  await writeFileAtomic(join(outputDirectory, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);

  const plots = join(outputDirectory, 'plots');
  await mkdir(plots, { recursive: true });
  const figures: [string, string, Promise<string>][] = [
    ['density.svg', 'Dev metric against target density', renderSvg(densitySpec(summary))],
    [
      'layers.svg',
      'Modified parameters per block (Figure 2)',
      renderSvg(layerSpec(records, 'diff-pruning-structured')),
    ],
    ['untouched.svg', 'Tensors left untouched', renderSvg(untouchedSpec(records))],
    ['structured.svg', 'Structured vs. unstructured', renderSvg(structuredSpec(summary))],
  ];
  for (const [file, , svg] of figures) await writeFile(join(plots, file), await svg);

  const backends = summary.backends.join(', ');
  const machine = summary.machine;
  const lines: string[] = [];
  lines.push(`# diffprune benchmark: \`${preset.name}\``, '');
  lines.push(`${preset.description}.`, '');
  lines.push(
    `Model: \`${summary.model?.id ?? preset.model}\` (revision ${summary.model?.revision ?? '–'}). Backend: ${backends || '–'}. ` +
      (machine
        ? `Machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}.`
        : ''),
    '',
  );
  lines.push(
    `Generated from ${records.length} run files in \`runs/\` by \`diffprune-bench report\`; every number below is read from them. ` +
      `Code: ${commitsOf(records)}.`,
    '',
  );
  lines.push('## What this preset changes from the paper', '');
  for (const deviation of preset.deviations) lines.push(`- ${deviation}`);
  for (const [task, reason] of Object.entries(options.missingTasks))
    lines.push(`- ${taskLabels[task] ?? task} not run: ${reason}`);
  lines.push('');
  lines.push('## Results (GLUE dev)', '');
  lines.push(
    'Headline metric per task, ×100: CoLA Matthews correlation, MRPC F1, STS-B Spearman, accuracy elsewhere. ' +
      `"New params/task" is the mean share of modified parameters with the classifier head counted fully (the paper's count); ` +
      `the average leaves out ${averageExcludes.map((t) => taskLabels[t]).join(', ')}, as the BERT and diff pruning papers do.`,
    '',
  );
  lines.push(resultsTable(summary), '');
  lines.push('### Density without the head, and diff size', '');
  lines.push(
    '| method | task | density (paper count) | density without head | diff bytes | bytes per nonzero | all metrics |',
  );
  lines.push('|---|---|---|---|---|---|---|');
  for (const method of summary.methods) {
    for (const [task, cell] of Object.entries(summary.table[method] ?? {})) {
      const metrics = Object.entries(cell.metrics)
        .map(([k, v]) => `${k} ${formatMetric(v)}`)
        .join(', ');
      lines.push(
        `| ${methodLabels[method]} | ${taskLabels[task] ?? task} | ${formatPercent(cell.density)} | ${formatPercent(cell.densityWithoutHead)} | ${cell.diffBytes} | ${cell.bytesPerNonzero.toFixed(2)} | ${metrics} |`,
      );
    }
  }
  lines.push('');
  lines.push('### Storage for all tasks', '');
  lines.push('| method | tasks | total storage (models) | diff files (bytes) |');
  lines.push('|---|---|---|---|');
  for (const method of summary.methods) {
    const s = summary.storage[method];
    if (s) lines.push(`| ${methodLabels[method]} | ${s.tasks} | ${s.models.toFixed(3)}× | ${s.diffBytes} |`);
  }
  lines.push('');
  lines.push('## The paper (BERT-large, GLUE test server, Table 1)', '');
  lines.push(
    `| method | new params/task | ${paperColumns.map((c) => taskLabels[c]).join(' | ')} | avg |`,
    `|---|---|${paperColumns.map(() => '---').join('|')}|---|`,
  );
  for (const row of paperTable) {
    lines.push(
      `| ${row.method} | ${row.newParameters} | ${row.values.map((v) => v.toFixed(1)).join(' | ')} | ${row.average.toFixed(1)} |`,
    );
  }
  lines.push('', 'Paper, GLUE dev, structured diff pruning by target density (Table 2): ');
  lines.push(
    paperDensityTable.map((p) => `${(p.density * 100).toFixed(2)} %: ${p.average.toFixed(1)}`).join('; '),
    '',
  );
  lines.push('## Metric against density', '');
  lines.push('| task | target density | measured density | metric |', '|---|---|---|---|');
  for (const point of summary.densitySweep) {
    lines.push(
      `| ${taskLabels[point.task] ?? point.task} | ${formatPercent(point.targetDensity, 2)} | ${formatPercent(point.density)} | ${formatMetric(point.headline)} |`,
    );
  }
  lines.push('');
  for (const [file, title] of figures) lines.push(`### ${title}`, '', `![${title}](plots/${file})`, '');
  lines.push('## Untouched tensors at 0.5 %', '');
  lines.push('| method | task | untouched encoder tensors |', '|---|---|---|');
  for (const record of records) {
    if (
      (record.method === 'diff-pruning' || record.method === 'diff-pruning-structured') &&
      record.targetDensity === 0.005
    ) {
      lines.push(
        `| ${methodLabels[record.method]} | ${taskLabels[record.task] ?? record.task} | ${record.structure.untouchedTensors.length} of ${record.structure.encoderTensors} |`,
      );
    }
  }
  lines.push(
    '',
    '## Runs',
    '',
    '| run | steps | wall time (s) | examples/s | backend |',
    '|---|---|---|---|---|',
  );
  for (const record of records) {
    lines.push(
      `| ${record.id} | ${record.steps} | ${(record.wallTimeMs / 1000).toFixed(0)} | ${record.examplesPerSecond.toFixed(1)} | ${record.backend} |`,
    );
  }
  lines.push('');
  await writeFileAtomic(join(outputDirectory, 'REPORT.md'), lines.join('\n'));
  return summary;
}

/** The commits the runs were made with, in first-seen order (e.g. "diffprune f4ca6e0 (all 39 runs)"). */
function commitsOf(records: readonly { commit?: string | undefined }[]): string {
  const counts = new Map<string, number>();
  for (const r of records) {
    const key = r.commit ? r.commit.slice(0, 7) : 'unknown';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .map(([commit, n]) => `diffprune ${commit} (${n === records.length ? `all ${n} runs` : `${n} runs`})`)
    .join(', ');
}
