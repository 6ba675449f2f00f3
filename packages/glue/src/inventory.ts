import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DiffpruneError } from '@diffprune/core';
import { parseSplitFile } from './read.js';
import { type GlueTask, type GlueTaskName, getTask, listTasks } from './tasks.js';

export interface SplitInventory {
  split: string;
  path: string;
  present: boolean;
  /** Examples read, or null when the file is absent or unreadable. */
  rows: number | null;
  /** Malformed rows skipped, or null when the file is absent or unreadable. */
  skipped: number | null;
  expectedRows: number;
  /** Present, readable and exactly the official size. */
  complete: boolean;
  /** Why the file could not be read (a malformed header, …). */
  error?: string;
}

export interface TaskInventory {
  task: GlueTaskName;
  displayName: string;
  directory: string;
  /** `complete`: every split present at its official size; `missing`: no split file; else `partial`. */
  status: 'complete' | 'partial' | 'missing';
  splits: SplitInventory[];
}

export interface DataInventory {
  dataDirectory: string;
  tasks: TaskInventory[];
  /** Tasks with no split file at all. */
  missing: GlueTaskName[];
}

/**
 * What a GLUE data directory holds: per task and split, whether the file is there, how many
 * examples it has against the official size, and how many malformed rows were skipped. Reads every
 * present file (seconds for QQP and MNLI).
 */
export async function inspectDataDirectory(
  dataDirectory: string,
  options: { tasks?: ReadonlyArray<GlueTask | string> } = {},
): Promise<DataInventory> {
  const tasks = options.tasks
    ? options.tasks.map((task) => (typeof task === 'string' ? getTask(task) : task))
    : listTasks();
  const inventories: TaskInventory[] = [];
  for (const task of tasks) {
    const splits: SplitInventory[] = [];
    for (const spec of Object.values(task.splits)) {
      const path = join(dataDirectory, task.directory, spec.file);
      const entry: SplitInventory = {
        split: spec.name,
        path,
        present: existsSync(path),
        rows: null,
        skipped: null,
        expectedRows: spec.expectedRows,
        complete: false,
      };
      if (entry.present) {
        try {
          const result = await parseSplitFile(task, spec, path);
          entry.rows = result.examples.length;
          entry.skipped = result.skipped;
          entry.complete = result.examples.length === spec.expectedRows;
        } catch (error) {
          if (!DiffpruneError.isInstance(error)) throw error;
          entry.error = error.message;
        }
      }
      splits.push(entry);
    }
    const status = splits.every((split) => split.complete)
      ? 'complete'
      : splits.some((split) => split.present)
        ? 'partial'
        : 'missing';
    inventories.push({
      task: task.name,
      displayName: task.displayName,
      directory: join(dataDirectory, task.directory),
      status,
      splits,
    });
  }
  return {
    dataDirectory,
    tasks: inventories,
    missing: inventories.filter((task) => task.status === 'missing').map((task) => task.task),
  };
}
