import { constants, createWriteStream, existsSync } from 'node:fs';
import { access, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join, posix } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  type DownloadResult,
  downloadFile,
  type EventListener,
  FormatError,
  InvalidArgumentError,
  writeDirectoryAtomic,
} from '@diffprune/core';
import yauzl from 'yauzl';
import { parseSplitFile } from './read.js';
import { type GlueTask, type GlueTaskName, getTask } from './tasks.js';

/** Where the official download script (and HF datasets) fetch GLUE from. */
export const defaultGlueBaseUrl = 'https://dl.fbaipublicfiles.com';

/** One file on the GLUE host: its path under the base URL, and its size and sha256 when known. */
export interface GlueSourceFile {
  path: string;
  size: number;
  sha256: string;
}

/**
 * How a task is fetched. `zip`: an archive whose `<directory>/` folder is the task directory.
 * `file`: a single TSV saved as the split's file (AX). `mrpc`: the Microsoft sources plus GLUE's
 * dev ids, split into train/dev/test the way the official script does.
 */
export type GlueTaskSource =
  | { kind: 'zip'; archive: GlueSourceFile }
  | { kind: 'file'; file: GlueSourceFile }
  | { kind: 'mrpc'; train: GlueSourceFile; test: GlueSourceFile; devIds: GlueSourceFile };

// URLs as in the official download_glue_data.py (W4ngatang's gist, dl.fbaipublicfiles.com version);
// sizes and sha256 as recorded by HF datasets' glue/dataset_infos.json for the same URLs.
const sources: Record<GlueTaskName, GlueTaskSource> = {
  cola: {
    kind: 'zip',
    archive: {
      path: 'glue/data/CoLA.zip',
      size: 376971,
      sha256: 'f212fcd832b8f7b435fb991f101abf89f96b933ab400603bf198960dfc32cbff',
    },
  },
  sst2: {
    kind: 'zip',
    archive: {
      path: 'glue/data/SST-2.zip',
      size: 7439277,
      sha256: 'd67e16fb55739c1b32cdce9877596db1c127dc322d93c082281f64057c16deaa',
    },
  },
  mrpc: {
    kind: 'mrpc',
    train: {
      path: 'senteval/senteval_data/msr_paraphrase_train.txt',
      size: 1047044,
      sha256: '60a9b09084528f0673eedee2b69cb941920f0b8cd0eeccefc464a98768457f89',
    },
    test: {
      path: 'senteval/senteval_data/msr_paraphrase_test.txt',
      size: 441275,
      sha256: 'a04e271090879aaba6423d65b94950c089298587d9c084bf9cd7439bd785f784',
    },
    devIds: {
      path: 'glue/data/mrpc_dev_ids.tsv',
      size: 6222,
      sha256: '971d7767d81b997fd9060ade0ec23c4fc31cbb226a55d1bd4a1bac474eb81dc7',
    },
  },
  stsb: {
    kind: 'zip',
    archive: {
      path: 'glue/data/STS-B.zip',
      size: 802872,
      sha256: 'e60a6393de5a8b5b9bac5020a1554b54e3691f9d600b775bd131e613ac179c85',
    },
  },
  qqp: {
    kind: 'zip',
    archive: {
      path: 'glue/data/QQP-clean.zip',
      size: 41696084,
      sha256: '40e7c862c04eb26ee04b67fd900e76c45c6ba8e6d8fab4f8f1f8072a1a3fbae0',
    },
  },
  mnli: {
    kind: 'zip',
    archive: {
      path: 'glue/data/MNLI.zip',
      size: 312783507,
      sha256: 'e7c1d896d26ed6caf700110645df426cc2d8ebf02a5ab743d5a5c68ac1c83633',
    },
  },
  qnli: {
    kind: 'zip',
    archive: {
      path: 'glue/data/QNLIv2.zip',
      size: 10627589,
      sha256: 'e634e78627a29adaecd4f955359b22bf5e70f2cbd93b493f2d624138a0c0e5f5',
    },
  },
  rte: {
    kind: 'zip',
    archive: {
      path: 'glue/data/RTE.zip',
      size: 697150,
      sha256: '6bf86de103ecd335f3441bd43574d23fef87ecc695977a63b82d5efb206556ee',
    },
  },
  wnli: {
    kind: 'zip',
    archive: {
      path: 'glue/data/WNLI.zip',
      size: 28999,
      sha256: 'ae0e8e4d16f4d46d4a0a566ec7ecceccfd3fbfaa4a7a4b4e02848c0f2561ac46',
    },
  },
  ax: {
    kind: 'file',
    file: {
      path: 'glue/data/AX.tsv',
      size: 222257,
      sha256: '0e13510b1bb14436ff7e2ee82338f0efb0133ecf2e73507a697dc210db3f05fd',
    },
  },
};

/** The public source of a task's files. */
export function taskSource(task: GlueTask | string): GlueTaskSource {
  return sources[(typeof task === 'string' ? getTask(task) : task).name];
}

export interface DownloadTaskOptions {
  dataDirectory: string;
  /** download-start / download-progress / download-end events for every file fetched. */
  onEvent?: EventListener;
  /** Host to fetch from (a mirror, or a local server in tests). Default `defaultGlueBaseUrl`. */
  baseUrl?: string;
  signal?: AbortSignal;
  /** Fetch again even when every split file is present. Default false. */
  force?: boolean;
  /**
   * Check each downloaded file's size and sha256 against the known values. Default true; turn off
   * only for a mirror that repackages the files (row counts are checked regardless).
   */
  verifyChecksums?: boolean;
}

export interface DownloadTaskResult {
  task: GlueTaskName;
  /** The task directory. */
  directory: string;
  /** False when every split was already present (nothing fetched). */
  downloaded: boolean;
  /** Every split file and its number of examples (checked against the official sizes). */
  splits: Array<{ split: string; path: string; rows: number }>;
}

/** Whether every split file of a task exists in the data directory. */
export function isTaskPresent(task: GlueTask | string, dataDirectory: string): boolean {
  const resolved = typeof task === 'string' ? getTask(task) : task;
  return Object.values(resolved.splits).every((spec) =>
    existsSync(join(dataDirectory, resolved.directory, spec.file)),
  );
}

/**
 * Fetches a task into `<dataDirectory>/<task.directory>` in the standard glue_data layout, from its
 * public source (`taskSource`). Every file is checked (size and sha256) and resumes after an
 * interruption (its `.partial` file in `<dataDirectory>/.downloads` is continued with an HTTP Range
 * request: run again). The task directory appears atomically, only after every split's row count
 * matched the official size. The downloaded archives are removed afterwards.
 */
export async function downloadTask(
  task: GlueTask | string,
  options: DownloadTaskOptions,
): Promise<DownloadTaskResult> {
  const resolved = typeof task === 'string' ? getTask(task) : task;
  const { dataDirectory } = options;
  const directory = join(dataDirectory, resolved.directory);
  const splitFiles = () =>
    Object.values(resolved.splits).map((spec) => ({ split: spec.name, path: join(directory, spec.file) }));

  if (!options.force && isTaskPresent(resolved, dataDirectory)) {
    const splits = [];
    for (const { split, path } of splitFiles()) {
      const spec = resolved.splits[split]!;
      splits.push({
        split,
        path,
        rows: (await parseSplitFile(resolved, spec, path)).examples.length,
      });
    }
    return { task: resolved.name, directory, downloaded: false, splits };
  }

  await ensureWritable(dataDirectory);
  const downloads = join(dataDirectory, '.downloads');
  const baseUrl = (options.baseUrl ?? defaultGlueBaseUrl).replace(/\/+$/, '');
  const verify = options.verifyChecksums ?? true;
  const fetchSource = (file: GlueSourceFile): Promise<DownloadResult> =>
    downloadFile({
      url: `${baseUrl}/${file.path}`,
      destination: join(downloads, posix.basename(file.path)),
      ...(verify ? { sha256: file.sha256, size: file.size } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    });

  const source = sources[resolved.name];
  const fetched: string[] = [];
  let rows: Record<string, number> = {};
  try {
    if (source.kind === 'zip') {
      const archive = await fetchSource(source.archive);
      fetched.push(archive.path);
      await writeDirectoryAtomic(directory, async (temporary) => {
        await extractFolder(archive.path, resolved.directory, temporary);
        rows = await verifyRows(resolved, temporary, `${source.archive.path}`);
      });
    } else if (source.kind === 'file') {
      const file = await fetchSource(source.file);
      fetched.push(file.path);
      await writeDirectoryAtomic(directory, async (temporary) => {
        const spec = Object.values(resolved.splits)[0]!;
        await copyFile(file.path, join(temporary, spec.file));
        rows = await verifyRows(resolved, temporary, source.file.path);
      });
    } else {
      const train = await fetchSource(source.train);
      const test = await fetchSource(source.test);
      const devIds = await fetchSource(source.devIds);
      fetched.push(train.path, test.path, devIds.path);
      await writeDirectoryAtomic(directory, async (temporary) => {
        await formatMrpc({ train: train.path, test: test.path, devIds: devIds.path }, temporary);
        rows = await verifyRows(resolved, temporary, 'the MRPC sources');
      });
    }
  } catch (error) {
    // A complete but wrong download must not be reused by the next run.
    if (error instanceof FormatError) for (const path of fetched) await rm(path, { force: true });
    throw error;
  }
  for (const path of fetched) await rm(path, { force: true });
  await removeIfEmpty(downloads);
  return {
    task: resolved.name,
    directory,
    downloaded: true,
    splits: splitFiles().map(({ split, path }) => ({ split, path, rows: rows[split] as number })),
  };
}

/** Checks every split file of a task in `directory` against its official size; returns the counts. */
async function verifyRows(
  task: GlueTask,
  directory: string,
  origin: string,
): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const spec of Object.values(task.splits)) {
    const path = join(directory, spec.file);
    if (!existsSync(path)) {
      throw new FormatError({
        path: origin,
        what: task.displayName,
        expected: `a ${spec.file} file for the ${spec.name} split`,
        found: 'none',
      });
    }
    const result = await parseSplitFile(task, spec, path);
    if (result.examples.length !== spec.expectedRows) {
      throw new FormatError({
        path: origin,
        what: `${task.displayName} ${spec.file}`,
        expected: `${spec.expectedRows} examples (the official size)`,
        found: `${result.examples.length} (${result.skipped} malformed row(s) skipped)`,
      });
    }
    counts[spec.name] = result.examples.length;
  }
  return counts;
}

/**
 * Extracts the entries under `folder/` of a zip archive into `destination` (streaming; macOS
 * `__MACOSX` metadata is skipped). Entry names that escape the folder are a `FormatError`.
 */
async function extractFolder(archive: string, folder: string, destination: string): Promise<void> {
  let zip: yauzl.ZipFile;
  try {
    zip = await yauzl.openPromise(archive, { lazyEntries: true, autoClose: false, strictFileNames: false });
  } catch (error) {
    throw new FormatError({ path: archive, expected: 'a zip archive', found: (error as Error).message });
  }
  let extracted = 0;
  try {
    for (;;) {
      let entry: yauzl.Entry | null;
      try {
        entry = await nextEntry(zip);
      } catch (error) {
        throw new FormatError({
          path: archive,
          expected: 'a valid zip archive',
          found: (error as Error).message,
        });
      }
      if (entry === null) break;
      const name = entry.fileName.replaceAll('\\', '/');
      if (!name.startsWith(`${folder}/`) || name.endsWith('/')) continue;
      const relative = name.slice(folder.length + 1);
      if (relative.split('/').some((part) => part === '..' || part === '') || posix.isAbsolute(relative)) {
        throw new FormatError({
          path: archive,
          expected: `entries inside ${folder}/`,
          found: JSON.stringify(name),
        });
      }
      const target = join(destination, ...relative.split('/'));
      await mkdir(dirname(target), { recursive: true });
      await pipeline(await zip.openReadStreamPromise(entry), createWriteStream(target));
      extracted += 1;
    }
  } finally {
    zip.close();
  }
  if (extracted === 0) {
    throw new FormatError({ path: archive, expected: `files under ${folder}/`, found: 'none' });
  }
}

const nextEntry = (zip: yauzl.ZipFile): Promise<yauzl.Entry | null> =>
  new Promise((resolve, reject) => {
    const onEntry = (entry: yauzl.Entry) => {
      cleanup();
      resolve(entry);
    };
    const onEnd = () => {
      cleanup();
      resolve(null);
    };
    const onError = (error: Error) => {
      cleanup();
      reject(error);
    };
    const cleanup = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    zip.on('entry', onEntry);
    zip.on('end', onEnd);
    zip.on('error', onError);
    zip.readEntry();
  });

/**
 * Builds MRPC's train/dev/test.tsv from the Microsoft files as the official download_glue_data.py
 * does (`format_mrpc`): the train file's header line (with its byte-order mark) heads train and dev;
 * rows whose id pair is in the dev ids go to dev; test gets an `index` column. The sources are kept
 * in `original/`.
 */
async function formatMrpc(files: { train: string; test: string; devIds: string }, destination: string) {
  const lines = async (path: string) => {
    const text = (await readFile(path, 'utf8')).replaceAll('\r\n', '\n');
    const all = text.split('\n');
    if (all.at(-1) === '') all.pop();
    return all;
  };
  const fields = (line: string, path: string, number: number) => {
    const parts = line.trim().split('\t');
    if (parts.length !== 5) {
      throw new FormatError({
        path,
        what: `line ${number}`,
        expected: '5 tab-separated fields (quality, id 1, id 2, string 1, string 2)',
        found: `${parts.length}`,
      });
    }
    return parts;
  };
  const devIds = new Set((await lines(files.devIds)).map((line) => line.trim().split('\t').join('\t')));
  const [header = '', ...trainRows] = await lines(files.train);
  const train = [header];
  const dev = [header];
  trainRows.forEach((line, i) => {
    const [label, id1, id2, s1, s2] = fields(line, files.train, i + 2);
    (devIds.has(`${id1}\t${id2}`) ? dev : train).push([label, id1, id2, s1, s2].join('\t'));
  });
  const [, ...testRows] = await lines(files.test);
  const test = ['index\t#1 ID\t#2 ID\t#1 String\t#2 String'];
  testRows.forEach((line, i) => {
    const [, id1, id2, s1, s2] = fields(line, files.test, i + 2);
    test.push([String(i), id1, id2, s1, s2].join('\t'));
  });
  await writeFile(join(destination, 'train.tsv'), `${train.join('\n')}\n`);
  await writeFile(join(destination, 'dev.tsv'), `${dev.join('\n')}\n`);
  await writeFile(join(destination, 'test.tsv'), `${test.join('\n')}\n`);
  await mkdir(join(destination, 'original'), { recursive: true });
  await copyFile(files.train, join(destination, 'original', 'msr_paraphrase_train.txt'));
  await copyFile(files.test, join(destination, 'original', 'msr_paraphrase_test.txt'));
  await copyFile(files.devIds, join(destination, 'original', 'mrpc_dev_ids.tsv'));
}

const ensureWritable = async (directory: string) => {
  try {
    await mkdir(directory, { recursive: true });
    await access(directory, constants.W_OK);
  } catch (error) {
    throw new InvalidArgumentError({
      argument: 'dataDirectory',
      expected: 'a writable directory (choose another with --data or $DIFFPRUNE_GLUE_DIR)',
      found: `${directory} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    });
  }
};

const removeIfEmpty = async (directory: string) => {
  try {
    if ((await readdir(directory)).length === 0) await rm(directory, { recursive: true });
  } catch {
    // Absent or not removable: nothing to tidy.
  }
};
