import type { DiffpruneEvent } from '@diffprune/core';
import {
  type DataInventory,
  downloadTask,
  getTask,
  glueDataDirectoryVariable,
  inspectDataDirectory,
  listTasks,
  resolveDataDirectory,
} from '@diffprune/glue';
import type { Command } from 'commander';
import { action, printJson } from '../cli-support.js';

interface DataOptions {
  data?: string;
  json?: boolean;
  download?: string[];
  baseUrl?: string;
  force?: boolean;
}

const megabytes = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

/** Renders download events on stderr: one line per file, a live percentage on a terminal. */
const renderDownloadEvent = (event: DiffpruneEvent) => {
  const tty = process.stderr.isTTY;
  if (event.type === 'download-start') {
    const size = event.totalBytes === undefined ? '' : ` (${megabytes(event.totalBytes)})`;
    const resumed = event.resumedFrom > 0 ? `, resuming at ${megabytes(event.resumedFrom)}` : '';
    process.stderr.write(`downloading ${event.url}${size}${resumed}\n`);
  } else if (event.type === 'download-progress' && tty && event.totalBytes) {
    const percent = ((100 * event.receivedBytes) / event.totalBytes).toFixed(0);
    process.stderr.write(`\r  ${percent}% of ${megabytes(event.totalBytes)}`);
  } else if (event.type === 'download-end') {
    process.stderr.write(`${tty ? '\r' : ''}  done: ${megabytes(event.bytes)}, sha256 ${event.sha256}\n`);
  } else if (event.type === 'warning-raise') {
    process.stderr.write(`warning: ${event.message}\n`);
  }
};

const printInventory = (inventory: DataInventory, source: string) => {
  const rows: string[][] = [['task', 'split', 'rows', 'official', 'skipped', 'status']];
  for (const task of inventory.tasks) {
    if (task.status === 'missing') continue;
    for (const split of task.splits) {
      const status = !split.present
        ? 'missing'
        : split.error
          ? `unreadable: ${split.error}`
          : split.complete
            ? 'ok'
            : 'size differs';
      rows.push([
        task.displayName,
        split.split,
        split.rows === null ? '-' : String(split.rows),
        String(split.expectedRows),
        split.skipped === null ? '-' : String(split.skipped),
        status,
      ]);
    }
  }
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => (row[column] as string).length)));
  const lines = rows.map((row) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] as number)))
      .join('  '),
  );
  process.stdout.write(`GLUE data in ${inventory.dataDirectory} (${source})\n\n`);
  if (rows.length > 1) process.stdout.write(`${lines.join('\n')}\n\n`);
  if (inventory.missing.length > 0) {
    const names = inventory.missing.map((name) => getTask(name).displayName).join(', ');
    process.stdout.write(
      `missing: ${names}\nfetch with: diffprune data --download ${inventory.missing.join(' ')}` +
        `${source.startsWith('--data') ? ` --data ${JSON.stringify(inventory.dataDirectory)}` : ''}\n`,
    );
  } else {
    process.stdout.write('no task is missing\n');
  }
  const incomplete = inventory.tasks.filter((task) => task.status === 'partial');
  if (incomplete.length > 0) {
    process.stdout.write(
      `incomplete: ${incomplete.map((task) => task.displayName).join(', ')} (--download fetches a task again unless all its splits are present)\n`,
    );
  }
};

/** Registers `diffprune data`: lists the GLUE data present, and downloads tasks. */
export function registerDataCommand(program: Command): void {
  program
    .command('data')
    .description(
      'List the GLUE tasks in the data directory (splits present, row counts against the official sizes, skipped malformed rows, missing tasks); --download fetches tasks from their public sources',
    )
    .option('--data <dir>', `GLUE data directory (default: $${glueDataDirectoryVariable}, else <cache>/glue)`)
    .option('--json', 'print the listing as JSON on stdout')
    .option(
      '--download <tasks...>',
      `fetch tasks (${listTasks()
        .map((task) => task.name)
        .join(', ')}, or all)`,
    )
    .option('--base-url <url>', 'fetch from this host instead of https://dl.fbaipublicfiles.com (a mirror)')
    .option('--force', 'fetch again even when a task is present')
    .addHelpText(
      'after',
      '\nExamples:\n  diffprune data\n  diffprune data --download sst2 mrpc\n  diffprune data --download all --data ./glue_data\n  diffprune data --json',
    )
    .action(
      action(async (options: DataOptions) => {
        const dataDirectory = resolveDataDirectory(options.data);
        const source = options.data
          ? '--data'
          : process.env[glueDataDirectoryVariable]
            ? `$${glueDataDirectoryVariable}`
            : 'default cache directory';
        if (options.download) {
          const names = options.download.flatMap((name) => name.split(',')).filter(Boolean);
          const tasks = names.some((name) => name.toLowerCase() === 'all')
            ? listTasks()
            : names.map((name) => getTask(name));
          for (const task of tasks) {
            const result = await downloadTask(task, {
              dataDirectory,
              ...(options.baseUrl ? { baseUrl: options.baseUrl } : {}),
              ...(options.force ? { force: true } : {}),
              onEvent: renderDownloadEvent,
            });
            const counts = result.splits.map((split) => `${split.split} ${split.rows}`).join(', ');
            process.stderr.write(
              `${task.displayName}: ${result.downloaded ? 'downloaded' : 'already present'} in ${result.directory} (${counts})\n`,
            );
          }
        }
        const inventory = await inspectDataDirectory(dataDirectory);
        if (options.json) printJson(inventory);
        else printInventory(inventory, source);
      }),
    );
}
