import { copyFile, readdir, readFile, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import {
  InvalidArgumentError,
  MissingResourceError,
  type SafetensorsTensor,
  serializeSafetensors,
  toFloat32,
  writeDirectoryAtomic,
  writeFileAtomic,
} from '@diffprune/core';
import {
  applyDiff,
  type BaseFilesHashes,
  checkBaseFiles,
  composeDiffs,
  createDiff,
  type DiffStats,
  diffStats,
  escapeControlCharacters,
  fingerprintBaseFiles,
  fingerprintTensors,
  type IndexEncoding,
  indexEncodings,
  parseValueDtype,
  readCheckpointTensors,
  readDiff,
  reencodeDiff,
  revertDiff,
  type SparseDiff,
  type TensorArrays,
  verifyDiff,
  writeDiff,
} from '@diffprune/sparse-diff';
import { baseConfig, classifierConfig, diffDataFields, diffLabels, headSizeOf } from '@diffprune/training';
import type { Command } from 'commander';
import { fastScatterAdd } from '../backend.js';
import { action, printJson } from '../cli-support.js';

const floatDtypes = new Set(['F32', 'F16', 'BF16', 'F64']);

const exists = (path: string) =>
  stat(path).then(
    () => true,
    () => false,
  );

/** An HF-layout checkpoint: float tensors as float32 arrays, other tensors (e.g. int ids) raw. */
interface Checkpoint {
  directory: string;
  tensors: SafetensorsTensor[];
  floats: TensorArrays;
  fingerprint: string;
  /** The config and tokenizer hashes (a base directory with config.json only). */
  files?: BaseFilesHashes;
}

async function loadCheckpoint(directory: string, role: string, requireConfig = true): Promise<Checkpoint> {
  if (!(await exists(directory)))
    throw new MissingResourceError({ resource: `${role} directory ${directory}` });
  if (requireConfig && !(await exists(join(directory, 'config.json'))))
    throw new MissingResourceError({
      resource: `${join(directory, 'config.json')}`,
      hint: `--${role} must be an HF-layout checkpoint (config.json + model.safetensors)`,
    });
  const tensors = await readCheckpointTensors(directory);
  const floats: TensorArrays = {};
  for (const t of tensors)
    if (floatDtypes.has(t.dtype)) floats[t.name] = { shape: t.shape, values: toFloat32(t) };
  const fingerprint = fingerprintTensors(tensors);
  if (!requireConfig) return { directory, tensors, floats, fingerprint };
  return { directory, tensors, floats, fingerprint, files: await fingerprintBaseFiles(directory) };
}

// Files of an HF checkpoint that are not weights and that a tuned model needs beside its weights.
const companionFile =
  /^(config\.json|vocab\.(txt|json)|merges\.txt|tokenizer.*|special_tokens_map\.json|added_tokens\.json|spiece\.model|sentencepiece.*\.model)$/;

const percent = (x: number) => `${(100 * x).toPrecision(3)} %`;
const fixed = (x: number | null, digits = 2) => (x === null ? '-' : x.toFixed(digits));

function summaryLines(stats: DiffStats): string[] {
  return [
    `density: ${percent(stats.density)} of ${stats.entries} entries (${stats.nnz} stored, dense tensors counted whole); sparse tensors only: ${percent(stats.sparseDensity)} (${stats.sparseNnz} of ${stats.sparseEntries})`,
    `bytes per nonzero (sparse): ${fixed(stats.bytesPerNonzero)} (index ${fixed(stats.bitsPerIndex)} bits, entropy bound ${fixed(stats.entropyBoundBitsPerIndex)} bits; naive int32+f32 = 8 bytes)`,
    `data: ${stats.indexBytes} index bytes, ${stats.valueBytes} value bytes, ${stats.denseBytes} dense bytes; untouched tensors: ${stats.untouchedTensors.length} of ${stats.tensors.length}`,
  ];
}

function printInspection(path: string, fileBytes: number, diff: SparseDiff, stats: DiffStats) {
  const p = diff.provenance;
  const out: string[] = [
    `${path} (${fileBytes} bytes, format version ${diff.formatVersion})`,
    `base: ${p.baseModel.id} @ ${p.baseModel.revision}, fingerprint ${p.baseFingerprint}`,
    `task: ${p.task}; method: ${p.method}; created ${p.createdAt} by ${p.library} ${p.libraryVersion}`,
    `settings: ${JSON.stringify(p.settings)}`,
    ...summaryLines(stats),
    '',
  ];
  const rows = [['tensor', 'kind', 'shape', 'nnz', 'density', 'index', 'values', 'bytes']];
  for (const t of stats.tensors) {
    rows.push([
      t.name,
      t.kind,
      `[${t.shape.join(', ')}]`,
      String(t.nnz),
      percent(t.density),
      t.indexEncoding ?? '-',
      t.valueDtype,
      String(t.indexBytes + t.valueBytes),
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows)
    out.push(r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '));
  // Names and provenance come from the file: escape control characters (issue #15).
  process.stdout.write(`${out.map(escapeControlCharacters).join('\n')}\n`);
}

interface CreateOptions {
  base: string;
  tuned: string;
  out: string;
  indexEncoding: string;
  valueDtype: string;
  dense?: string[];
  task: string;
  method: string;
  baseId?: string;
  baseRevision: string;
  json?: boolean;
}

async function create(options: CreateOptions) {
  if (!(indexEncodings as readonly string[]).includes(options.indexEncoding))
    throw new InvalidArgumentError({
      argument: '--index-encoding',
      expected: `one of ${indexEncodings.join(', ')}`,
      found: options.indexEncoding,
    });
  const valueDtype = parseValueDtype(options.valueDtype, '--value-dtype');
  const base = await loadCheckpoint(options.base, 'base');
  const tuned = await loadCheckpoint(options.tuned, 'tuned', false);
  const diff = createDiff({
    base: base.floats,
    tuned: tuned.floats,
    dense: options.dense ?? [],
    indexEncoding: options.indexEncoding as IndexEncoding,
    valueDtype,
    provenance: {
      baseModel: { id: options.baseId ?? options.base, revision: options.baseRevision },
      baseFingerprint: base.fingerprint,
      ...(base.files ? { baseFiles: base.files } : {}),
      method: options.method,
      settings: { source: 'diffprune diff create', tuned: basename(options.tuned) },
      task: options.task,
    },
  });
  await writeDiff(options.out, diff);
  const stats = diffStats(diff);
  const fileBytes = (await stat(options.out)).size;
  if (options.json) printJson({ path: options.out, fileBytes, provenance: diff.provenance, stats });
  else process.stdout.write(`wrote ${options.out} (${fileBytes} bytes)\n${summaryLines(stats).join('\n')}\n`);
}

async function inspect(file: string, options: { json?: boolean }) {
  const diff = await readDiff(file);
  const stats = diffStats(diff);
  const fileBytes = (await stat(file)).size;
  if (options.json)
    printJson({
      path: file,
      fileBytes,
      formatVersion: diff.formatVersion,
      provenance: diff.provenance,
      stats,
    });
  else printInspection(file, fileBytes, diff, stats);
}

async function apply(options: { base: string; diff: string; out: string; force?: boolean; json?: boolean }) {
  const diff = await readDiff(options.diff);
  const base = await loadCheckpoint(options.base, 'base');
  await checkOut(options.out, options.force, [
    { option: '--base', directory: options.base },
    { option: '--diff', directory: dirname(options.diff) },
  ]);
  // A finetuned base's head of another label count was re-created in training (the diff adds it):
  // the diff's head takes its place, as in loadWithDiff.
  const reCreated = new Set(
    diff.tensors
      .filter((t) => {
        const b = base.floats[t.name];
        return t.kind === 'add' && b !== undefined && b.shape.join() !== t.shape.join();
      })
      .map((t) => t.name),
  );
  const floats = Object.fromEntries(Object.entries(base.floats).filter(([name]) => !reCreated.has(name)));
  const result = applyDiff(floats, diff, {
    baseFingerprint: base.fingerprint,
    ...(base.files ? { baseFiles: base.files } : {}),
    scatterAdd: await fastScatterAdd(),
  });
  // Same tensor order as the base, then added tensors; non-float tensors pass through unchanged.
  const tensors: SafetensorsTensor[] = [];
  const seen = new Set<string>();
  for (const t of base.tensors) {
    seen.add(t.name);
    if (!floatDtypes.has(t.dtype)) {
      tensors.push(t);
      continue;
    }
    const r = result[t.name];
    if (r) tensors.push(f32Tensor(t.name, r));
  }
  for (const [name, r] of Object.entries(result)) if (!seen.has(name)) tensors.push(f32Tensor(name, r));
  const metadata = {
    format: 'pt',
    diffprune_base_model_id: diff.provenance.baseModel.id,
    diffprune_base_fingerprint: diff.provenance.baseFingerprint,
    diffprune_task: diff.provenance.task,
    diffprune_method: diff.provenance.method,
  };
  // A task diff's merged model is a sequence classifier: its config says so (architectures,
  // num_labels, id2label/label2id from the diff's label names, problem_type), as transformers reads it.
  const numLabels = headSizeOf(diff);
  const labels = numLabels === undefined ? undefined : diffLabels(diff, numLabels);
  // The text fields of a user's dataset go along, so that predict reads the same fields by default.
  const { textFields } = diffDataFields(diff);
  const copied = await writeCheckpointDirectory(options.base, options.out, tensors, metadata, (config) =>
    numLabels === undefined
      ? config
      : {
          ...classifierConfig(config, { numLabels, ...(labels ? { labels } : {}) }),
          ...(textFields ? { diffprune_text_fields: textFields } : {}),
        },
  );
  if (options.json)
    printJson({ out: options.out, tensors: tensors.length, copied, task: diff.provenance.task });
  else
    process.stdout.write(
      `wrote ${options.out}: model.safetensors (${tensors.length} tensors, F32) and ${copied.join(', ')}\n`,
    );
}

/**
 * Writes an HF-layout directory atomically: model.safetensors, the companion files of `source`
 * (config.json passed through `config`), F32 tensors in the given order.
 */
async function writeCheckpointDirectory(
  source: string,
  out: string,
  tensors: SafetensorsTensor[],
  metadata: Record<string, string>,
  config: (config: Record<string, unknown>) => Record<string, unknown>,
): Promise<string[]> {
  const copied: string[] = [];
  await writeDirectoryAtomic(out, async (directory) => {
    for (const entry of await readdir(source, { withFileTypes: true })) {
      if (!entry.isFile() || !companionFile.test(entry.name)) continue;
      if (entry.name === 'config.json') {
        const parsed = JSON.parse(await readFile(join(source, entry.name), 'utf8')) as Record<
          string,
          unknown
        >;
        await writeFileAtomic(join(directory, entry.name), `${JSON.stringify(config(parsed), null, 2)}\n`);
      } else await copyFile(join(source, entry.name), join(directory, entry.name));
      copied.push(entry.name);
    }
    await writeFileAtomic(join(directory, 'model.safetensors'), serializeSafetensors(tensors, metadata));
  });
  return copied;
}

const f32Tensor = (name: string, r: { shape: number[]; values: Float32Array }): SafetensorsTensor => ({
  name,
  dtype: 'F32',
  shape: r.shape,
  data: new Uint8Array(r.values.buffer, r.values.byteOffset, r.values.byteLength),
});

/** A path with symlinks resolved as far as it exists (a missing tail is kept as written). */
async function physical(path: string): Promise<string> {
  const absolute = resolve(path);
  try {
    return await realpath(absolute);
  } catch {
    const parent = dirname(absolute);
    return parent === absolute ? absolute : join(await physical(parent), basename(absolute));
  }
}

/**
 * Checks `--out` before writing a checkpoint directory: it is new or empty (or `--force`), and it is
 * never a directory the command reads from, nor one holding it (`--force` replaces `--out` whole, so
 * `--out <base> --force` would delete the base: issue #15).
 */
async function checkOut(
  out: string,
  force: boolean | undefined,
  inputs: readonly { option: string; directory: string }[],
) {
  const target = await physical(out);
  for (const input of inputs) {
    const source = await physical(input.directory);
    if (source === target || source.startsWith(`${target}${sep}`))
      throw new InvalidArgumentError({
        argument: '--out',
        expected: `a directory that neither is nor holds the ${input.option} it reads (${input.directory}); choose another --out`,
        found: out,
      });
  }
  if (!force && (await exists(out)) && (await readdir(out)).length > 0)
    throw new InvalidArgumentError({
      argument: '--out',
      expected: 'a new or empty directory (or --force to replace it)',
      found: out,
    });
}

const checkIndexEncodingOption = (value: string | undefined): IndexEncoding | undefined => {
  if (value === undefined) return undefined;
  if (!(indexEncodings as readonly string[]).includes(value))
    throw new InvalidArgumentError({
      argument: '--index-encoding',
      expected: `one of ${indexEncodings.join(', ')}`,
      found: value,
    });
  return value as IndexEncoding;
};

async function encode(
  file: string,
  options: { out: string; valueDtype?: string; indexEncoding?: string; json?: boolean },
) {
  const diff = await readDiff(file);
  const valueDtype = options.valueDtype ? parseValueDtype(options.valueDtype, '--value-dtype') : undefined;
  const indexEncoding = checkIndexEncodingOption(options.indexEncoding);
  const encoded = reencodeDiff(diff, {
    ...(valueDtype ? { valueDtype } : {}),
    ...(indexEncoding ? { indexEncoding } : {}),
  });
  await writeDiff(options.out, encoded);
  const stats = diffStats(encoded);
  const fileBytes = (await stat(options.out)).size;
  if (options.json) printJson({ path: options.out, fileBytes, provenance: encoded.provenance, stats });
  else process.stdout.write(`wrote ${options.out} (${fileBytes} bytes)\n${summaryLines(stats).join('\n')}\n`);
}

/** Task heads: tensors of the classifier (each task diff carries its own). */
const headNames = (diffs: readonly SparseDiff[]) => [
  ...new Set(diffs.flatMap((d) => d.tensors.map((t) => t.name).filter((n) => /^classifier\./.test(n)))),
];

async function compose(
  files: string[],
  options: { out: string; keepHead?: string; valueDtype?: string; indexEncoding?: string; json?: boolean },
) {
  if (files.length < 2)
    throw new InvalidArgumentError({
      argument: '<diffs...>',
      expected: 'at least two diff files',
      found: files,
    });
  const diffs = await Promise.all(files.map((file) => readDiff(file)));
  let keep: number | undefined;
  if (options.keepHead !== undefined) {
    keep = files.indexOf(options.keepHead);
    if (keep < 0) keep = diffs.findIndex((d) => d.provenance.task === options.keepHead);
    if (keep < 0)
      throw new InvalidArgumentError({
        argument: '--keep-head',
        expected: `a diff file or task among ${diffs.map((d, i) => `${files[i]} (${d.provenance.task})`).join(', ')}`,
        found: options.keepHead,
      });
  }
  const valueDtype = options.valueDtype ? parseValueDtype(options.valueDtype, '--value-dtype') : undefined;
  const indexEncoding = checkIndexEncodingOption(options.indexEncoding);
  const kept = keep === undefined ? undefined : diffs[keep]!;
  const { diff, overlaps } = composeDiffs(diffs, {
    heads: { names: headNames(diffs), ...(keep !== undefined ? { keep } : {}) },
    ...(valueDtype ? { valueDtype } : {}),
    ...(indexEncoding ? { indexEncoding } : {}),
  });
  // The kept head's label names and data fields go with it (predict and export read them).
  const labels = kept ? diffLabels(kept) : undefined;
  if (labels) diff.provenance.settings.labels = labels;
  if (kept?.provenance.settings.data) diff.provenance.settings.data = kept.provenance.settings.data;
  await writeDiff(options.out, diff);
  const fileBytes = (await stat(options.out)).size;
  const head = kept
    ? `the head of ${kept.provenance.task}`
    : 'no head (heads stay in their own diffs; --keep-head picks one)';
  if (options.json)
    printJson({
      path: options.out,
      fileBytes,
      task: diff.provenance.task,
      head: kept?.provenance.task ?? null,
      overlaps,
    });
  else
    process.stdout.write(
      `wrote ${options.out} (${fileBytes} bytes): ${diff.provenance.task}, ${head}; ${overlaps.length} tensors where diffs overlap\n`,
    );
}

async function revert(options: {
  model: string;
  diff: string;
  out: string;
  force?: boolean;
  json?: boolean;
}) {
  const diff = await readDiff(options.diff);
  const tuned = await loadCheckpoint(options.model, 'model');
  // The tuned model keeps its base's config and tokenizer: a different one means another base.
  checkBaseFiles(diff, tuned.files, `diff revert (--model ${options.model})`);
  await checkOut(options.out, options.force, [
    { option: '--model', directory: options.model },
    { option: '--diff', directory: dirname(options.diff) },
  ]);
  const result = revertDiff(tuned.floats, diff, { scatterAdd: await fastScatterAdd() });
  const tensors: SafetensorsTensor[] = [];
  for (const t of tuned.tensors) {
    if (!floatDtypes.has(t.dtype)) tensors.push(t);
    else if (result[t.name]) tensors.push(f32Tensor(t.name, result[t.name]!));
  }
  const copied = await writeCheckpointDirectory(
    options.model,
    options.out,
    tensors,
    { format: 'pt' },
    baseConfig,
  );
  const base = await readCheckpointTensors(options.out);
  const matches = fingerprintTensors(base) === diff.provenance.baseFingerprint;
  if (options.json)
    printJson({ out: options.out, tensors: tensors.length, copied, baseFingerprintMatches: matches });
  else
    process.stdout.write(
      `wrote ${options.out}: the base (${tensors.length} tensors) and ${copied.join(', ')}; fingerprint ${matches ? "matches the diff's base" : "differs from the diff's base (float32 rounding or a different base)"}\n`,
    );
}

async function verify(options: { base: string; diff: string; json?: boolean }) {
  const diff = await readDiff(options.diff);
  const base = await loadCheckpoint(options.base, 'base');
  const result = verifyDiff(diff, {
    baseFingerprint: base.fingerprint,
    base: base.floats,
    ...(base.files ? { baseFiles: base.files } : {}),
  });
  if (options.json) printJson({ diff: options.diff, base: options.base, ...result });
  else if (result.ok)
    process.stdout.write(
      `ok: ${options.diff} belongs to ${options.base} (fingerprint ${result.foundFingerprint})\n`,
    );
  else
    process.stderr.write(
      `${options.diff} does not belong to ${options.base}:\n  ${result.problems.join('\n  ')}\n`,
    );
  if (!result.ok) process.exitCode = 1;
}

/** Registers `diffprune diff create|inspect|apply|encode|compose|revert|verify`. */
export function registerDiffCommand(program: Command): void {
  const diff = program
    .command('diff')
    .description(
      'Task diff files: create from two checkpoints, inspect, apply to a base, verify against a base',
    );

  diff
    .command('create')
    .description('Store every changed entry of TUNED relative to BASE in a diff file')
    .requiredOption('--base <dir>', 'the base checkpoint (HF layout: config.json + model.safetensors)')
    .requiredOption('--tuned <dir>', 'the finetuned checkpoint (model.safetensors)')
    .requiredOption('--out <file>', 'the diff file to write, e.g. sst2.diff.safetensors')
    .option('--index-encoding <encoding>', `index encoding: ${indexEncodings.join(' | ')}`, 'varint-delta')
    .option(
      '--value-dtype <dtype>',
      'value dtype: f32 | f16 | bf16 | i8 (f16/bf16 store the rounded δ; i8 is q × a per-tensor scale)',
      'f32',
    )
    .option('--dense <names...>', 'tensors stored whole, replacing the base (e.g. classifier.weight)')
    .option('--task <name>', 'the task, recorded in the diff', 'unknown')
    .option('--method <name>', 'how the tuned model was trained, recorded in the diff', 'full-finetuning')
    .option('--base-id <id>', 'the base model id (default: the --base path)')
    .option('--base-revision <revision>', 'the base model revision', 'local')
    .option('--json', 'print a JSON summary')
    .action(action(create));

  diff
    .command('inspect')
    .description('Provenance, per-tensor table, density and bytes per nonzero of a diff file')
    .argument('<file>', 'a diff file')
    .option('--json', 'print JSON')
    .action(action(inspect));

  diff
    .command('apply')
    .alias('export')
    .description(
      'Write BASE + DIFF as a full HF-layout checkpoint; for a task diff a sequence classifier that diffprune predict/eval and HF transformers load (config: architectures, num_labels, id2label/label2id, problem_type)',
    )
    .requiredOption('--base <dir>', 'the base checkpoint the diff was made for')
    .requiredOption('--diff <file>', 'the diff file')
    .requiredOption(
      '--out <dir>',
      'the checkpoint directory to write (config.json, model.safetensors, vocab)',
    )
    .option('--force', 'replace --out if it exists and is not empty')
    .option('--json', 'print a JSON summary')
    .action(action(apply));

  diff
    .command('encode')
    .description(
      'Store a diff with another value dtype and/or index encoding, keeping its positions, provenance and settings',
    )
    .argument('<file>', 'a diff file')
    .requiredOption('--out <file>', 'the diff file to write')
    .option('--value-dtype <dtype>', 'f32 | f16 | bf16 | i8 (default: keep each tensor\u2019s)')
    .option('--index-encoding <encoding>', `${indexEncodings.join(' | ')} (default: keep each tensor\u2019s)`)
    .option('--json', 'print a JSON summary')
    .action(action(encode));

  diff
    .command('compose')
    .description(
      'Sum task diffs of one base into one diff: bodies summed, heads kept apart (none in the result unless --keep-head names one)',
    )
    .argument('<diffs...>', 'two or more diff files of the same base')
    .requiredOption('--out <file>', 'the composed diff file to write')
    .option('--keep-head <file|task>', 'keep the classifier head (and its label names) of this diff')
    .option('--value-dtype <dtype>', 'f32 | f16 | bf16 | i8 (default f32: sums are exact, then stored)')
    .option('--index-encoding <encoding>', `${indexEncodings.join(' | ')} (default: the first diff\u2019s)`)
    .option('--json', 'print a JSON summary')
    .action(action(compose));

  diff
    .command('revert')
    .description('Write MODEL − DIFF (a merged task model back to its base) as an HF-layout checkpoint')
    .requiredOption('--model <dir>', 'the merged checkpoint (e.g. written by diff apply)')
    .requiredOption('--diff <file>', 'the diff that was applied')
    .requiredOption('--out <dir>', 'the checkpoint directory to write')
    .option('--force', 'replace --out if it exists and is not empty')
    .option('--json', 'print a JSON summary')
    .action(action(revert));

  diff
    .command('verify')
    .description('Exit 0 only if the diff belongs to the base (fingerprint, names and shapes)')
    .requiredOption('--base <dir>', 'the base checkpoint')
    .requiredOption('--diff <file>', 'the diff file')
    .option('--json', 'print JSON')
    .action(action(verify));
}
