import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { FormatError, InvalidArgumentError, MissingResourceError } from '@diffprune/core';
import { parse } from 'csv-parse/sync';
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet';

/** The file formats a dataset can come in, chosen by extension. */
export const tableFormats = ['jsonl', 'csv', 'tsv', 'parquet'] as const;
export type TableFormat = (typeof tableFormats)[number];

/** One row of a table: its fields as read, and where it is (1-based line; Parquet: row number). */
export interface TableRow {
  line: number;
  fields: Record<string, unknown>;
}

export interface Table {
  path: string;
  format: TableFormat;
  /** Column names (JSONL: every key seen, in first-seen order). */
  columns: string[];
  rows: TableRow[];
}

const extensions: Record<string, TableFormat> = {
  '.jsonl': 'jsonl',
  '.json': 'jsonl',
  '.ndjson': 'jsonl',
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.parquet': 'parquet',
};

/** The format of a file by its extension (`.jsonl`/`.json`/`.ndjson`, `.csv`, `.tsv`, `.parquet`). */
export function tableFormat(path: string): TableFormat {
  const format = extensions[extname(path).toLowerCase()];
  if (!format)
    throw new InvalidArgumentError({
      argument: 'file extension',
      expected: `one of ${Object.keys(extensions).join(', ')}`,
      found: extname(path) || path,
      context: path,
    });
  return format;
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new MissingResourceError({ resource: path, hint: 'pass an existing data file', cause: error });
  }
}

function readJsonl(path: string, text: string): Table {
  const rows: TableRow[] = [];
  const columns = new Set<string>();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (error) {
      throw new FormatError({
        path,
        what: `line ${i + 1}`,
        expected: 'one JSON object per line',
        found: (error as Error).message,
      });
    }
    if (typeof record !== 'object' || record === null || Array.isArray(record))
      throw new FormatError({
        path,
        what: `line ${i + 1}`,
        expected: 'a JSON object',
        found: Array.isArray(record) ? 'an array' : String(record),
      });
    for (const key of Object.keys(record)) columns.add(key);
    rows.push({ line: i + 1, fields: record as Record<string, unknown> });
  }
  return { path, format: 'jsonl', columns: [...columns], rows };
}

/** CSV and TSV: a header line, quoted fields as RFC 4180 (csv-parse), line numbers as in the file. */
function readDelimited(path: string, text: string, format: 'csv' | 'tsv'): Table {
  let records: { record: string[]; info: { lines: number } }[];
  try {
    records = parse(text, {
      delimiter: format === 'tsv' ? '\t' : ',',
      bom: true,
      info: true,
      relax_quotes: true,
      skip_empty_lines: true,
      relax_column_count: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
  } catch (error) {
    throw new FormatError({
      path,
      expected: `a ${format.toUpperCase()} file`,
      found: (error as Error).message,
    });
  }
  if (records.length === 0) return { path, format, columns: [], rows: [] };
  const columns = records[0]!.record;
  const rows = records.slice(1).map(({ record, info }) => {
    const fields: Record<string, unknown> = {};
    // A short row leaves its last columns missing (reported as a missing field), not empty.
    columns.forEach((column, c) => {
      if (c < record.length) fields[column] = record[c];
    });
    return { line: info.lines, fields };
  });
  return { path, format, columns, rows };
}

async function readParquet(path: string): Promise<Table> {
  let file: Awaited<ReturnType<typeof asyncBufferFromFile>>;
  try {
    file = await asyncBufferFromFile(path);
  } catch (error) {
    throw new MissingResourceError({ resource: path, hint: 'pass an existing data file', cause: error });
  }
  let objects: Record<string, unknown>[];
  try {
    objects = (await parquetReadObjects({ file })) as Record<string, unknown>[];
  } catch (error) {
    throw new FormatError({ path, expected: 'a Parquet file', found: (error as Error).message });
  }
  const columns = objects.length > 0 ? Object.keys(objects[0]!) : [];
  const rows = objects.map((fields, i) => {
    const out: Record<string, unknown> = {};
    // Parquet integers can come back as bigint: labels and ids are small, so numbers are fine.
    for (const [key, value] of Object.entries(fields))
      out[key] = typeof value === 'bigint' ? Number(value) : value;
    return { line: i + 1, fields: out };
  });
  return { path, format: 'parquet', columns, rows };
}

/** Reads a JSONL, CSV, TSV or Parquet file (by extension) into rows of named fields. */
export async function readTable(path: string): Promise<Table> {
  const format = tableFormat(path);
  if (format === 'parquet') return readParquet(path);
  const text = await readText(path);
  return format === 'jsonl' ? readJsonl(path, text) : readDelimited(path, text, format);
}
