import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DiffpruneEvent, DownloadError, FormatError, InvalidArgumentError } from '@diffprune/core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import { downloadTask, isTaskPresent, taskSource } from './download.js';
import { readSplit } from './read.js';
import { getTask } from './tasks.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const glue = join(shared, 'data/glue');
const hasShared = existsSync(join(glue, 'MRPC/original')) && existsSync(join(glue, 'CoLA'));
if (!hasShared) console.warn(`skipping GLUE download tests: ${glue} is absent`);

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

const zipOf = async (entries: Record<string, Uint8Array | string>): Promise<Buffer> => {
  const zip = new yazl.ZipFile();
  for (const [name, data] of Object.entries(entries)) {
    zip.addBuffer(typeof data === 'string' ? Buffer.from(data) : Buffer.from(data), name);
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const chunk of zip.outputStream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
};

/** A test split in the official layout (`index\t<text columns>`), `rows` rows cut from a dev file's texts. */
const syntheticTest = (header: string, texts: string[][], rows: number) => {
  const lines = [header];
  for (let i = 0; i < rows; i++) lines.push([String(i), ...(texts[i % texts.length] as string[])].join('\t'));
  return `${lines.join('\n')}\n`;
};

interface Route {
  body: Buffer;
  /** Close the connection after this many bytes on the next request (then serve normally). */
  dropAfter?: number;
}

describe.skipIf(!hasShared)('downloadTask against a 127.0.0.1 server in the GLUE layout', () => {
  const routes = new Map<string, Route>();
  const requests: Array<{ path: string; range: string | undefined }> = [];
  let server: Server;
  let baseUrl: string;
  let root: string;
  let dataDirectory: string;

  beforeAll(async () => {
    const file = (path: string) => readFileSync(join(glue, path));
    // CoLA.zip and RTE.zip: the shared train/dev files plus a test split of the official size
    // (the shared copy has no test files), and macOS metadata that must be ignored.
    const colaDev = file('CoLA/dev.tsv').toString('utf8').split('\n').filter(Boolean);
    const rteDev = file('RTE/dev.tsv').toString('utf8').split('\n').slice(1).filter(Boolean);
    routes.set('/glue/data/CoLA.zip', {
      body: await zipOf({
        'CoLA/train.tsv': file('CoLA/train.tsv'),
        'CoLA/dev.tsv': file('CoLA/dev.tsv'),
        'CoLA/test.tsv': syntheticTest(
          'index\tsentence',
          colaDev.map((l) => [l.split('\t')[3] as string]),
          1063,
        ),
        '__MACOSX/CoLA/._train.tsv': 'resource fork',
      }),
    });
    const rtePairs = rteDev.map((l) => l.split('\t').slice(1, 3));
    routes.set('/glue/data/RTE.zip', {
      body: await zipOf({
        'RTE/train.tsv': file('RTE/train.tsv'),
        'RTE/dev.tsv': file('RTE/dev.tsv'),
        'RTE/test.tsv': syntheticTest('index\tsentence1\tsentence2', rtePairs, 3000),
      }),
    });
    // WNLI.zip with a truncated dev split: must fail the row-count check.
    routes.set('/glue/data/WNLI.zip', {
      body: await zipOf({
        'WNLI/train.tsv': file('WNLI/train.tsv'),
        'WNLI/dev.tsv': file('WNLI/dev.tsv').toString('utf8').split('\n').slice(0, 40).join('\n'),
        'WNLI/test.tsv': syntheticTest('index\tsentence1\tsentence2', rtePairs, 146),
      }),
    });
    routes.set('/glue/data/AX.tsv', {
      body: Buffer.from(syntheticTest('index\tsentence1\tsentence2', rtePairs, 1104)),
    });
    // MRPC: the Microsoft sources as the official script fetches them (byte-identical, so the real
    // sha256 values apply).
    routes.set('/senteval/senteval_data/msr_paraphrase_train.txt', {
      body: file('MRPC/original/msr_paraphrase_train.txt'),
    });
    routes.set('/senteval/senteval_data/msr_paraphrase_test.txt', {
      body: file('MRPC/original/msr_paraphrase_test.txt'),
    });
    routes.set('/glue/data/mrpc_dev_ids.tsv', { body: file('MRPC/original/mrpc_dev_ids.tsv') });

    server = createServer((request, response) => {
      const path = new URL(request.url ?? '/', 'http://x').pathname;
      requests.push({ path, range: request.headers.range });
      const route = routes.get(path);
      if (!route) {
        response.writeHead(404).end();
        return;
      }
      let start = 0;
      const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
      if (range) start = Number(range[1]);
      const slice = route.body.subarray(start);
      const headers: Record<string, string | number> = { 'content-length': slice.length };
      if (range) headers['content-range'] = `bytes ${start}-${route.body.length - 1}/${route.body.length}`;
      response.writeHead(range ? 206 : 200, headers);
      if (route.dropAfter !== undefined) {
        const cut = route.dropAfter;
        route.dropAfter = undefined;
        response.write(slice.subarray(0, cut), () => setTimeout(() => response.destroy(), 20));
        return;
      }
      response.end(slice);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    root = await mkdtemp(join(tmpdir(), 'glue-download-'));
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(root, { recursive: true, force: true });
  });

  let counter = 0;
  beforeEach(async () => {
    counter += 1;
    dataDirectory = join(root, `data-${counter}`);
    requests.length = 0;
  });

  it('fetches a zipped task, extracts its folder atomically and checks row counts', async () => {
    const events: DiffpruneEvent[] = [];
    const result = await downloadTask('cola', {
      dataDirectory,
      baseUrl,
      verifyChecksums: false,
      onEvent: (event) => events.push(event),
    });
    expect(result.downloaded).toBe(true);
    expect(result.splits.map((split) => [split.split, split.rows])).toEqual([
      ['train', 8551],
      ['dev', 1043],
      ['test', 1063],
    ]);
    expect(await readdir(join(dataDirectory, 'CoLA'))).toEqual(['dev.tsv', 'test.tsv', 'train.tsv']);
    expect(sha256(readFileSync(join(dataDirectory, 'CoLA/train.tsv')))).toBe(
      sha256(readFileSync(join(glue, 'CoLA/train.tsv'))),
    );
    expect(existsSync(join(dataDirectory, '.downloads'))).toBe(false);
    expect(events.map((event) => event.type)).toContain('download-start');
    expect(events.at(-1)).toMatchObject({ type: 'download-end', url: `${baseUrl}/glue/data/CoLA.zip` });
    const { examples } = await readSplit('cola', 'test', { dataDirectory });
    expect(examples[0]).toMatchObject({ id: '0', label: null });

    // Present now: a second call fetches nothing.
    requests.length = 0;
    const again = await downloadTask('cola', { dataDirectory, baseUrl, verifyChecksums: false });
    expect(again.downloaded).toBe(false);
    expect(requests).toEqual([]);
  });

  it('official checksums reject a repackaged archive', async () => {
    const error = await downloadTask('rte', { dataDirectory, baseUrl }).catch((e) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.message).toMatch(/expected 697150 bytes|sha256 mismatch/);
    expect(existsSync(join(dataDirectory, 'RTE'))).toBe(false);
  });

  it('a split with the wrong number of rows fails and leaves no task directory', async () => {
    const error = await downloadTask('wnli', { dataDirectory, baseUrl, verifyChecksums: false }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(FormatError);
    expect(error.message).toMatch(/WNLI dev\.tsv: expected 71 examples \(the official size\); found 39/);
    expect(existsSync(join(dataDirectory, 'WNLI'))).toBe(false);
    expect(isTaskPresent('wnli', dataDirectory)).toBe(false);
    // The bad archive is not kept for the next run.
    expect(existsSync(join(dataDirectory, '.downloads', 'WNLI.zip'))).toBe(false);
  });

  it('AX: the single TSV becomes diagnostic/diagnostic.tsv', async () => {
    const result = await downloadTask('ax', { dataDirectory, baseUrl, verifyChecksums: false });
    expect(result.splits).toEqual([
      { split: 'test', path: join(dataDirectory, 'diagnostic/diagnostic.tsv'), rows: 1104 },
    ]);
  });

  it('MRPC: built from the Microsoft files exactly as the official script (byte-identical to glue_data), real sha256', async () => {
    const result = await downloadTask('mrpc', { dataDirectory, baseUrl });
    expect(result.splits.map((split) => [split.split, split.rows])).toEqual([
      ['train', 3668],
      ['dev', 408],
      ['test', 1725],
    ]);
    for (const split of ['train.tsv', 'dev.tsv']) {
      expect(sha256(await readFile(join(dataDirectory, 'MRPC', split)))).toBe(
        sha256(readFileSync(join(glue, 'MRPC', split))),
      );
    }
    const test = (await readFile(join(dataDirectory, 'MRPC/test.tsv'), 'utf8')).split('\n');
    expect(test[0]).toBe('index\t#1 ID\t#2 ID\t#1 String\t#2 String');
    expect(test[1]).toMatch(/^0\t1089874\t1089925\tPCCW 's chief operating officer/);
    expect(await readdir(join(dataDirectory, 'MRPC/original'))).toEqual([
      'mrpc_dev_ids.tsv',
      'msr_paraphrase_test.txt',
      'msr_paraphrase_train.txt',
    ]);
    expect(taskSource('mrpc').kind).toBe('mrpc');
  });

  it('resumes a partial file with an HTTP Range request', async () => {
    const body = routes.get('/senteval/senteval_data/msr_paraphrase_train.txt')!.body;
    await mkdir(join(dataDirectory, '.downloads'), { recursive: true });
    await writeFile(
      join(dataDirectory, '.downloads', 'msr_paraphrase_train.txt.partial'),
      body.subarray(0, 100_000),
    );
    const events: DiffpruneEvent[] = [];
    await downloadTask('mrpc', { dataDirectory, baseUrl, onEvent: (event) => events.push(event) });
    expect(requests.find((r) => r.path.endsWith('msr_paraphrase_train.txt'))?.range).toBe('bytes=100000-');
    expect(events.find((e) => e.type === 'download-start' && e.url.endsWith('train.txt'))).toMatchObject({
      resumedFrom: 100_000,
      totalBytes: body.length,
    });
    expect(isTaskPresent(getTask('mrpc'), dataDirectory)).toBe(true);
  });

  it('an interrupted download fails with a typed error, and the next run continues where it stopped', async () => {
    routes.get('/senteval/senteval_data/msr_paraphrase_test.txt')!.dropAfter = 50_000;
    const error = await downloadTask('mrpc', { dataDirectory, baseUrl }).catch((e) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.message).toMatch(/run again to resume/);
    expect(existsSync(join(dataDirectory, 'MRPC'))).toBe(false);
    const events: DiffpruneEvent[] = [];
    await downloadTask('mrpc', { dataDirectory, baseUrl, onEvent: (event) => events.push(event) });
    const start = events.find((e) => e.type === 'download-start' && e.url.endsWith('test.txt'));
    expect(start).toMatchObject({ type: 'download-start' });
    expect((start as { resumedFrom: number }).resumedFrom).toBeGreaterThan(0);
    const source = taskSource('mrpc');
    if (source.kind !== 'mrpc') throw new Error('MRPC is built from the Microsoft sources');
    expect(sha256(await readFile(join(dataDirectory, 'MRPC/original/msr_paraphrase_test.txt')))).toBe(
      source.test.sha256,
    );
  });

  it('an unwritable data directory is a typed error naming it', async () => {
    const file = join(root, 'not-a-directory');
    await writeFile(file, 'x');
    const error = await downloadTask('wnli', { dataDirectory: join(file, 'glue'), baseUrl }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect(error.message).toMatch(
      /dataDirectory must be a writable directory.*not-a-directory\/glue \(ENOTDIR\)/,
    );
  });

  it('a corrupted source fails the sha256 check', async () => {
    const route = routes.get('/glue/data/mrpc_dev_ids.tsv')!;
    const original = route.body;
    route.body = Buffer.from(original.toString('utf8').replace('1606495', '1606496'));
    try {
      const error = await downloadTask('mrpc', { dataDirectory, baseUrl }).catch((e) => e);
      expect(error).toBeInstanceOf(DownloadError);
      expect(error.message).toMatch(/sha256 mismatch/);
      expect(existsSync(join(dataDirectory, 'MRPC'))).toBe(false);
    } finally {
      route.body = original;
    }
  });
});
