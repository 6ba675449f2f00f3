import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from '@diffprune/core';
import { type ExternalRecord, outsideReference, readExternalRecords, summariseExternal } from './external.js';
import { paperColumns, paperDensityTable, paperTable } from './paper.js';
import { densitySpec, layerSpec, renderSvg, structuredSpec, untouchedSpec } from './plots.js';
import { type BenchMethod, type BenchPreset, methodLabels } from './presets.js';
import { portablePath, type RunRecord } from './run-preset.js';
import { chanceOutsideSpread, welchTest } from './stats.js';
import {
  averageExcludes,
  type BenchSummary,
  exceedsSpread,
  mean,
  type Spread,
  summarise,
} from './summary.js';

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
/** Mean ± sd over seeds, ×100 (just the value for one seed). */
export const formatSpread = (cell: Spread | undefined) =>
  !cell || !Number.isFinite(cell.headline)
    ? '–'
    : cell.n >= 2 && Number.isFinite(cell.sd)
      ? `${formatMetric(cell.headline)} ± ${formatMetric(cell.sd)}`
      : formatMetric(cell.headline);
/** The mark of a difference from full finetuning larger than the seed spread. */
export const beyondSpreadMark = '†';
export const formatPercent = (value: number, digits = 3) => `${(value * 100).toFixed(digits)} %`;

/** Column order: the paper's, then any other task we ran. */
function columnsFor(summary: BenchSummary): string[] {
  const ours = summary.tasks;
  const ordered: string[] = paperColumns
    .map((c) => (c === 'mnli-m' ? 'mnli' : c))
    .filter((c) => ours.includes(c));
  return [...new Set([...ordered, ...ours.filter((t) => !ordered.includes(t))])];
}

export function resultsTable(
  summary: BenchSummary,
  peers: Record<string, Record<string, Spread & { label: string; density: number }>> = {},
): string {
  const columns = columnsFor(summary);
  const header = `| method | new params/task | ${columns.map((c) => taskLabels[c] ?? c).join(' | ')} | avg |`;
  const rule = `|---|---|${columns.map(() => '---').join('|')}|---|`;
  const full = summary.table.full ?? {};
  const averaged = columns.filter((c) => !averageExcludes.includes(c));
  const rows = summary.methods.map((method: BenchMethod) => {
    const cells = summary.table[method] ?? {};
    // An average over fewer tasks than the table's is not comparable with the others: shown as –.
    const stored = summary.averages[method];
    const average = stored && averaged.every((c) => stored.tasks.includes(c)) ? stored : undefined;
    const mark = (spread: Spread | undefined, reference: Spread | undefined) =>
      method !== 'full' && spread && reference && exceedsSpread(spread, reference)
        ? ` ${beyondSpreadMark}`
        : '';
    const fullAverage = summary.averages.full;
    return `| ${methodLabels[method]} | ${stored ? formatPercent(stored.density) : '–'} | ${columns
      .map((c) => `${formatSpread(cells[c])}${mark(cells[c], full[c])}`)
      .join(' | ')} | ${formatSpread(average)}${mark(average, fullAverage)} |`;
  });
  const peerRows = Object.values(peers).map((cells) => {
    const first = Object.values(cells)[0]!;
    const complete = averaged.every((c) => cells[c]);
    const average = complete ? mean(averaged.map((c) => cells[c]!.headline)) : Number.NaN;
    return `| ${first.label} | ${formatPercent(mean(Object.values(cells).map((c) => c.density)))} | ${columns
      .map((c) => formatSpread(cells[c]))
      .join(' | ')} | ${formatMetric(average)} |`;
  });
  return [header, rule, ...rows, ...peerRows].join('\n');
}

/** Every compared pair per task: the difference and whether it exceeds the seed spread. */
export function comparisonsTable(summary: BenchSummary): string {
  const lines = ['| task | methods | difference | beyond the seed spread |', '|---|---|---|---|'];
  for (const c of summary.comparisons) {
    lines.push(
      `| ${taskLabels[c.task] ?? c.task} | ${methodLabels[c.a]} − ${methodLabels[c.b]} | ${c.difference >= 0 ? '+' : ''}${formatMetric(c.difference)} | ${c.exceeds ? 'yes' : 'no'} |`,
    );
  }
  return lines.join('\n');
}

/**
 * Ours against the PyTorch reference per task and method: both spreads, whether our mean is outside
 * the reference's mean ± sd, Welch's p, and below the table how many "outside" cells and p < 0.05
 * cells one distribution would give by chance (at three seeds, about a third are "outside").
 */
export function referenceTable(summary: BenchSummary, reference: readonly ExternalRecord[]): string {
  const cells = summariseExternal(reference);
  const lines = [
    '| task | method | ours (mean ± sd, n) | reference (mean ± sd, n) | ours − reference | ours outside the reference spread | Welch p |',
    '|---|---|---|---|---|---|---|',
  ];
  let compared = 0;
  let outside = 0;
  let expectedOutside = 0;
  const tested: { p: number; label: string }[] = [];
  for (const method of summary.methods) {
    for (const [task, theirs] of Object.entries(cells[method] ?? {})) {
      const ours = summary.table[method]?.[task];
      const label = `${taskLabels[task] ?? task} ${methodLabels[method]}`;
      const welch = ours ? welchTest(ours, theirs) : undefined;
      const isOutside = ours ? outsideReference(ours, theirs) : false;
      if (ours && theirs.n >= 2) {
        compared++;
        if (isOutside) outside++;
        expectedOutside += chanceOutsideSpread(ours.n, theirs.n);
      }
      if (welch) tested.push({ p: welch.p, label });
      lines.push(
        `| ${taskLabels[task] ?? task} | ${methodLabels[method]} | ${ours ? `${formatSpread(ours)} (${ours.n})` : '–'} | ${formatSpread(theirs)} (${theirs.n}) | ${ours ? formatMetric(ours.headline - theirs.headline) : '–'} | ${ours ? (isOutside ? '**yes**' : 'no') : '–'} | ${welch ? welch.p.toFixed(2) : '–'} |`,
      );
    }
  }
  if (compared > 0) {
    const significant = tested.filter((c) => c.p < 0.05);
    lines.push(
      '',
      `Our mean is outside the reference’s mean ± sd in ${outside} of ${compared} cells. If both implementations drew from one distribution, ` +
        `${expectedOutside.toFixed(1)} would be (Student’s t on the reference’s sample sd; ${(chanceOutsideSpread(3, 3) * 100).toFixed(1)} % per cell at three seeds each). ` +
        `Welch’s t-test: ${significant.length} of ${tested.length} cells with p < 0.05${significant.length > 0 ? ` (${significant.map((c) => c.label).join('; ')})` : ''}; ${(tested.length * 0.05).toFixed(1)} expected by chance.`,
    );
  }
  return lines.join('\n');
}

/** Writes summary.json, REPORT.md and the SVG plots for a results directory. */
export async function writeReport(options: {
  preset: BenchPreset;
  outputDirectory: string;
  records: readonly RunRecord[];
  missingTasks: Record<string, string>;
  /** The PyTorch reference's runs (`reference/`) and PEFT peers' (`peers/`), where there are any. */
  reference?: readonly ExternalRecord[];
  peers?: readonly ExternalRecord[];
}): Promise<BenchSummary> {
  const { preset, outputDirectory, records } = options;
  const reference = options.reference ?? (await readExternalRecords(outputDirectory, 'reference'));
  const peers = options.peers ?? (await readExternalRecords(outputDirectory, 'peers'));
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
    `Model: \`${summary.model?.id ?? portablePath(preset.model)}\` (revision ${summary.model?.revision ?? '–'}${checksumOf(records)}). Backend: ${backends || '–'}. ` +
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
      `the average leaves out ${averageExcludes.map((t) => taskLabels[t]).join(', ')}, as the BERT and diff pruning papers do. ` +
      `Cells are mean ± sample standard deviation over the seeds (${seedsOf(records)}); the average's sd is over the per-seed averages. ` +
      `${beyondSpreadMark}: differs from full finetuning by more than the seed spread, i.e. the two mean ± sd intervals do not overlap (|mean_a − mean_b| > sd_a + sd_b, at least two seeds each).` +
      (peers.length > 0
        ? ' PEFT rows: scripts/peft_peers.py on the same base, encoded examples, schedule and seeds (PyTorch); their parameter share is the trainable share.'
        : ''),
    '',
  );
  lines.push(resultsTable(summary, summariseExternal(peers)), '');
  lines.push('### Differences between methods against the seed spread', '');
  lines.push(comparisonsTable(summary), '');
  if (reference.length > 0) {
    lines.push('## Ours against the PyTorch reference', '');
    lines.push(
      '`scripts/torch_diffprune.py`: the authors’ three stages (run_glue_diffpruning, run_glue_mag, run_glue_fixmask_finetune) and the baselines in plain PyTorch, ' +
        'fed the same encoded examples, settings and seeds (its own random streams). "Outside": our mean lies outside the reference mean ± sd. Welch p: the two-sided p-value of Welch’s t-test of the two means.',
      '',
    );
    lines.push(referenceTable(summary, reference), '');
  }
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
  lines.push('| task | target density | measured density | metric (mean ± sd) |', '|---|---|---|---|');
  for (const point of summary.densitySweep) {
    lines.push(
      `| ${taskLabels[point.task] ?? point.task} | ${formatPercent(point.targetDensity, 2)} | ${formatPercent(point.density)} | ${formatSpread(point)} |`,
    );
  }
  lines.push('');
  for (const [file, title] of figures) lines.push(`### ${title}`, '', `![${title}](plots/${file})`, '');
  lines.push('## Untouched tensors at 0.5 %', '');
  lines.push(
    'Share of encoder tensors (weight matrices and bias vectors, head excluded) with no modified entry; the paper: ≈ 6.5 % unstructured, ≈ 12.7 % structured.',
    '',
  );
  lines.push(untouchedTable(records), '');
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

/** Mean share of untouched encoder tensors per method and task at the 0.5 % target, over seeds. */
export function untouchedTable(records: readonly RunRecord[]): string {
  const lines = ['| method | task | runs | untouched encoder tensors (mean share) |', '|---|---|---|---|'];
  const share = (r: RunRecord) => r.structure.untouchedTensors.length / r.structure.encoderTensors;
  for (const method of ['diff-pruning', 'diff-pruning-structured', 'non-adaptive'] as const) {
    const runs = records.filter((r) => r.method === method && r.targetDensity === 0.005);
    const tasks = [...new Set(runs.map((r) => r.task))];
    for (const task of tasks) {
      const group = runs.filter((r) => r.task === task);
      lines.push(
        `| ${methodLabels[method]} | ${taskLabels[task] ?? task} | ${group.length} | ${formatPercent(mean(group.map(share)), 1)} |`,
      );
    }
    if (tasks.length > 1)
      lines.push(
        `| ${methodLabels[method]} | all | ${runs.length} | ${formatPercent(mean(runs.map(share)), 1)} |`,
      );
  }
  return lines.join('\n');
}

/** ", model.safetensors sha256 …" when the runs agree on one checksum; every distinct one otherwise. */
const checksumOf = (records: readonly RunRecord[]) => {
  const sums = [...new Set(records.map((r) => r.modelChecksum).filter((c): c is string => !!c))];
  return sums.length === 0 ? '' : `, model.safetensors sha256 ${sums.join(' / ')}`;
};

const seedsOf = (records: readonly RunRecord[]) => {
  const seeds = [...new Set(records.map((r) => r.seed))].sort((a, b) => a - b);
  return `seed${seeds.length === 1 ? '' : 's'} ${seeds.join(', ')}`;
};

/** The commits the runs were made with, in first-seen order (e.g. "diffprune f4ca6e0 (all 39 runs)"). */
function commitsOf(records: readonly { commit?: string | undefined }[]): string {
  const counts = new Map<string, number>();
  for (const r of records) {
    const key = r.commit ? r.commit.slice(0, 7) : 'unknown';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts]
    .map(
      ([commit, n]) =>
        `diffprune ${commit} (${n === records.length ? `all ${n} runs` : `${n} run${n === 1 ? '' : 's'}`})`,
    )
    .join(', ');
}
