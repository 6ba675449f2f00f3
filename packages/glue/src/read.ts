import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { type EventListener, FormatError, MissingResourceError, typedFileError } from '@diffprune/core';
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
  let result: ReadSplitResult;
  try {
    result = await parseSplitFile(resolved, spec, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new MissingResourceError({
        resource: `GLUE ${resolved.displayName} ${split} split (${path})`,
        hint: `Fetch it with: ${downloadCommand(resolved, options.dataDirectory)}`,
        cause: error,
      });
    }
    throw typedFileError(error, path, `GLUE ${resolved.displayName} ${split} split`);
  }
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
 * already; `readSplit` (which streams the file) is the usual entry point.
 */
export function parseSplit(
  task: GlueTask,
  spec: GlueSplitSpec,
  text: string,
  path = `${task.directory}/${spec.file}`,
): ReadSplitResult {
  const parser = createSplitParser(task, spec, path);
  const lines = text.split('\n');
  // A final newline leaves one empty string; a file without a final newline (CoLA dev) does not.
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (const line of lines) parser.push(line);
  return parser.finish();
}

/**
 * Reads and parses a split file line by line (bounded memory: MNLI's train.tsv is ~300 MB with its
 * parse trees). Bytes that are not UTF-8 are a `FormatError` naming the file and line (never
 * replaced silently). Throws the file system's error when the file cannot be opened (`readSplit`
 * turns it into a typed error).
 */
export async function parseSplitFile(
  task: GlueTask,
  spec: GlueSplitSpec,
  path: string,
): Promise<ReadSplitResult> {
  const parser = createSplitParser(task, spec, path);
  for await (const line of readLines(path)) parser.push(line);
  return parser.finish();
}

/**
 * Lines of a UTF-8 file split on '\n' only (a final newline does not make an empty line). Bytes are
 * split before decoding ('\n' never occurs inside a UTF-8 sequence), and each line is decoded with a
 * fatal decoder, so invalid bytes are reported with their line number.
 */
async function* readLines(path: string): AsyncGenerator<string> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let lineNumber = 0;
  const decode = (bytes: Uint8Array) => {
    lineNumber += 1;
    try {
      return decoder.decode(bytes);
    } catch {
      const at = firstInvalidUtf8(bytes);
      throw new FormatError({
        path,
        what: `line ${lineNumber}`,
        expected: 'UTF-8 text (GLUE files are UTF-8)',
        found: `invalid byte 0x${bytes[at]?.toString(16).padStart(2, '0')} at byte ${at + 1} of the line; re-download the file or convert it to UTF-8`,
      });
    }
  };
  let rest: Buffer = Buffer.alloc(0);
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    const bytes = rest.length > 0 ? Buffer.concat([rest, chunk as Buffer]) : (chunk as Buffer);
    let start = 0;
    for (let end = bytes.indexOf(10, start); end >= 0; end = bytes.indexOf(10, start)) {
      yield decode(bytes.subarray(start, end));
      start = end + 1;
    }
    rest = bytes.subarray(start);
  }
  if (rest.length > 0) yield decode(rest);
}

/**
 * The offset where the first invalid UTF-8 sequence of `bytes` starts (a line is short: byte by
 * byte). The decoder fails on the byte that breaks a sequence; the sequence began at its lead byte.
 */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let failed = Math.max(0, bytes.length - 1); // a sequence cut short by the end of the line
  for (let i = 0; i < bytes.length; i++) {
    try {
      decoder.decode(bytes.subarray(i, i + 1), { stream: true });
    } catch {
      failed = i;
      break;
    }
  }
  for (let k = failed - 1; k >= Math.max(0, failed - 3); k--) {
    if (bytes[k]! >= 0xc0) return k;
    if (bytes[k]! < 0x80) break;
  }
  return failed;
}

/** Turns lines (without their '\n') into examples; the first line may carry a byte-order mark. */
function createSplitParser(task: GlueTask, spec: GlueSplitSpec, path: string) {
  const { columns } = spec;
  const labelIndex = new Map(task.labels.map((label, index) => [label, index]));
  const examples: GlueExample[] = [];
  const skippedRows: SkippedRow[] = [];
  let skipped = 0;
  let lineNumber = 0;
  let dataRows = 0;
  let layout: {
    id: number | null;
    textA: number;
    textB: number | null;
    label: number | null;
    needed: number;
  } | null = null;

  const skip = (line: number, reason: string) => {
    skipped += 1;
    if (skippedRows.length < maxReportedRows) skippedRows.push({ line, reason });
  };

  const resolveLayout = (header: string[] | null) => {
    const resolve = (column: string | number): number => {
      if (typeof column === 'number') return column;
      const index = header ? header.indexOf(column) : -1;
      if (index < 0) {
        throw new FormatError({
          path,
          what: 'header',
          expected: `a column named ${JSON.stringify(column)}`,
          found: header ? JSON.stringify(header) : 'a file without a header',
        });
      }
      return index;
    };
    const id = columns.id === null ? null : resolve(columns.id);
    const textA = resolve(columns.textA);
    const textB = columns.textB === null ? null : resolve(columns.textB);
    const label = spec.labelled && columns.label !== null ? resolve(columns.label) : null;
    return { id, textA, textB, label, needed: Math.max(textA, textB ?? -1, label ?? -1, id ?? -1) + 1 };
  };

  const push = (raw: string) => {
    lineNumber += 1;
    let line = stripCarriageReturn(raw);
    if (lineNumber === 1 && line.charCodeAt(0) === 0xfeff) line = line.slice(1);
    if (layout === null) {
      if (spec.header) {
        layout = resolveLayout(line.split('\t'));
        return;
      }
      layout = resolveLayout(null);
    }
    const ordinal = dataRows;
    dataRows += 1;
    const fields = line.split('\t');
    if (fields.length < layout.needed) {
      skip(lineNumber, `expected at least ${layout.needed} tab-separated fields, found ${fields.length}`);
      return;
    }
    let label: number | null = null;
    if (layout.label !== null) {
      const value = (fields[layout.label] as string).trim();
      if (task.kind === 'regression') {
        label = value === '' ? Number.NaN : Number(value);
        if (!Number.isFinite(label)) {
          skip(lineNumber, `expected a numeric score, found ${JSON.stringify(value)}`);
          return;
        }
        // A number, but not a score (1e30): the file is wrong, not one row (issue #15).
        const range = task.scoreRange;
        if (range && !(label >= range[0] && label <= range[1]))
          throw new FormatError({
            path,
            what: `line ${lineNumber}`,
            expected: `a ${task.displayName} score in [${range[0]}, ${range[1]}]`,
            found: `${JSON.stringify(value)}; fix or remove the line`,
          });
      } else {
        const index = labelIndex.get(value);
        if (index === undefined) {
          skip(
            lineNumber,
            `expected a label in ${JSON.stringify(task.labels)}, found ${JSON.stringify(value)}`,
          );
          return;
        }
        label = index;
      }
    }
    examples.push({
      id: layout.id === null ? String(ordinal) : (fields[layout.id] as string),
      textA: fields[layout.textA] as string,
      textB: layout.textB === null ? null : (fields[layout.textB] as string),
      label,
    });
  };

  const finish = (): ReadSplitResult => {
    if (layout === null && spec.header) {
      throw new FormatError({ path, expected: 'a header line', found: 'an empty file' });
    }
    return { examples, skipped, skippedRows, path, expectedRows: spec.expectedRows };
  };

  return { push, finish };
}

const stripCarriageReturn = (line: string) => (line.endsWith('\r') ? line.slice(0, -1) : line);
