import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type EventListener, FormatError, MissingResourceError } from '@diffprune/core';
import { type GlueSplitSpec, type GlueTask, getSplit, getTask } from './tasks.js';

/** One GLUE example. */
export interface GlueExample {
  /** The file's index/id column, or the 0-based data-row ordinal when the file has none. */
  id: string;
  textA: string;
  /** null for single-sentence tasks (CoLA, SST-2). */
  textB: string | null;
  /** Class index into `task.labels`, the float score (STS-B), or null (test splits). */
  label: number | null;
}

/** A row that was not turned into an example, and why. */
export interface SkippedRow {
  /** 1-based line number in the file. */
  line: number;
  reason: string;
}

export interface ReadSplitOptions {
  dataDirectory: string;
  /** Throw a `FormatError` when the number of examples differs from the official size. */
  strict?: boolean;
  /** Receives a `warning-raise` event when rows were skipped or the count differs from the official size. */
  onEvent?: EventListener;
}

export interface ReadSplitResult {
  examples: GlueExample[];
  /** Malformed rows skipped (wrong number of columns, unknown label, unparsable score). */
  skipped: number;
  /** The first skipped rows with reasons (at most 20). */
  skippedRows: SkippedRow[];
  /** The file read. */
  path: string;
  /** The official number of examples for this split. */
  expectedRows: number;
}

const maxReportedRows = 20;

/** The path of a split's file inside a data directory. */
export function splitPath(task: GlueTask | string, split: string, dataDirectory: string): string {
  const resolved = typeof task === 'string' ? getTask(task) : task;
  return join(dataDirectory, resolved.directory, getSplit(resolved, split).file);
}

/** The CLI command that fetches a task into a data directory. */
export function downloadCommand(task: GlueTask, dataDirectory: string): string {
  return `diffprune data --download ${task.name} --data ${JSON.stringify(dataDirectory)}`;
}

/**
 * Reads one split of a task from the standard glue_data TSV layout. Splits on tabs only (QNLI and
 * MNLI contain raw quote characters); strips a leading byte-order mark (MRPC); skips and counts
 * malformed rows (QQP). A missing file is a `MissingResourceError` naming the file and the command
 * that fetches it.
 */
export async function readSplit(
  task: GlueTask | string,
  split: string,
  options: ReadSplitOptions,
): Promise<ReadSplitResult> {
  const resolved = typeof task === 'string' ? getTask(task) : task;
  const spec = getSplit(resolved, split);
  const path = splitPath(resolved, split, options.dataDirectory);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MissingResourceError({
        resource: `GLUE ${resolved.displayName} ${split} split (${path})`,
        hint: `Fetch it with: ${downloadCommand(resolved, options.dataDirectory)}`,
        cause: error,
      });
    }
    throw error;
  }
  const result = parseSplit(resolved, spec, text, path);
  const problems: string[] = [];
  if (result.skipped > 0) {
    const first = result.skippedRows[0];
    problems.push(
      `skipped ${result.skipped} malformed row(s)${first ? ` (first: line ${first.line}, ${first.reason})` : ''}`,
    );
  }
  if (result.examples.length !== spec.expectedRows) {
    if (options.strict) {
      throw new FormatError({
        path,
        what: `${resolved.displayName} ${split}`,
        expected: `${spec.expectedRows} examples (the official size)`,
        found: `${result.examples.length} (${result.skipped} malformed row(s) skipped)`,
      });
    }
    problems.push(`${result.examples.length} examples, the official size is ${spec.expectedRows}`);
  }
  if (problems.length > 0) {
    options.onEvent?.({
      type: 'warning-raise',
      message: `${path}: ${problems.join('; ')}`,
    });
  }
  return result;
}

/**
 * Parses the text of one split's file. Exposed for tests and for callers that hold the text
 * already; `readSplit` is the usual entry point.
 */
export function parseSplit(
  task: GlueTask,
  spec: GlueSplitSpec,
  text: string,
  path = `${task.directory}/${spec.file}`,
): ReadSplitResult {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const lines = text.split('\n');
  // A final newline leaves one empty string; a file without a final newline (CoLA dev) does not.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();

  let first = 0;
  let resolveColumn: (column: string | number) => number;
  if (spec.header) {
    const headerLine = lines[0];
    if (headerLine === undefined) {
      throw new FormatError({ path, expected: 'a header line', found: 'an empty file' });
    }
    const header = stripCarriageReturn(headerLine).split('\t');
    first = 1;
    resolveColumn = (column) => {
      if (typeof column === 'number') return column;
      const index = header.indexOf(column);
      if (index < 0) {
        throw new FormatError({
          path,
          what: 'header',
          expected: `a column named ${JSON.stringify(column)}`,
          found: JSON.stringify(header),
        });
      }
      return index;
    };
  } else {
    resolveColumn = (column) => {
      if (typeof column !== 'number') throw new Error(`headerless split needs column indices: ${column}`);
      return column;
    };
  }
  const { columns } = spec;
  const idColumn = columns.id === null ? null : resolveColumn(columns.id);
  const textAColumn = resolveColumn(columns.textA);
  const textBColumn = columns.textB === null ? null : resolveColumn(columns.textB);
  const labelColumn = spec.labelled && columns.label !== null ? resolveColumn(columns.label) : null;
  const needed = Math.max(textAColumn, textBColumn ?? -1, labelColumn ?? -1, idColumn ?? -1) + 1;

  const labelIndex = new Map(task.labels.map((label, index) => [label, index]));
  const examples: GlueExample[] = [];
  const skippedRows: SkippedRow[] = [];
  let skipped = 0;
  const skip = (line: number, reason: string) => {
    skipped += 1;
    if (skippedRows.length < maxReportedRows) skippedRows.push({ line, reason });
  };

  for (let i = first; i < lines.length; i++) {
    const lineNumber = i + 1;
    const fields = stripCarriageReturn(lines[i] as string).split('\t');
    if (fields.length < needed) {
      skip(lineNumber, `expected at least ${needed} tab-separated fields, found ${fields.length}`);
      continue;
    }
    let label: number | null = null;
    if (labelColumn !== null) {
      const raw = (fields[labelColumn] as string).trim();
      if (task.kind === 'regression') {
        label = raw === '' ? Number.NaN : Number(raw);
        if (!Number.isFinite(label)) {
          skip(lineNumber, `expected a numeric score, found ${JSON.stringify(raw)}`);
          continue;
        }
      } else {
        const index = labelIndex.get(raw);
        if (index === undefined) {
          skip(
            lineNumber,
            `expected a label in ${JSON.stringify(task.labels)}, found ${JSON.stringify(raw)}`,
          );
          continue;
        }
        label = index;
      }
    }
    examples.push({
      id: idColumn === null ? String(i - first) : (fields[idColumn] as string),
      textA: fields[textAColumn] as string,
      textB: textBColumn === null ? null : (fields[textBColumn] as string),
      label,
    });
  }
  return { examples, skipped, skippedRows, path, expectedRows: spec.expectedRows };
}

const stripCarriageReturn = (line: string) => (line.endsWith('\r') ? line.slice(0, -1) : line);
