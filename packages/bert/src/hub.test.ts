import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type DiffpruneEvent,
  DownloadError,
  disposeParameters,
  fromFloat32,
  InvalidArgumentError,
  MissingResourceError,
  serializeSafetensors,
} from '@diffprune/core';
import { LocalHub } from '@diffprune/core/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCheckpointTensors } from './checkpoint-files.js';
import { hubModelCacheDirectory, isHubId, resolveHubModel } from './hub.js';
import { loadBert } from './load.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const tinyPath = `${shared}models/bert-tiny-mlm-offline`;
const missing = !existsSync(tinyPath);
if (missing) process.stderr.write(`skipping hub download tests: ${tinyPath} is absent\n`);

/** The first index where two arrays differ (or their lengths), -1 when equal. */
const firstDifference = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
};

const mainCommit = 'a'.repeat(40);
const otherCommit = 'b'.repeat(40);

describe.skipIf(missing)('hub downloads against a local hub on 127.0.0.1', () => {
  const hub = new LocalHub();
  let work: string;
  let cache: string;

  beforeAll(async () => {
    await hub.start();
    work = await mkdtemp(join(tmpdir(), 'diffprune-hub-'));
    cache = join(work, 'cache');
    hub.repositories.set('diffprune/bert-tiny-mlm-offline', {
      commits: { [mainCommit]: tinyPath },
      refs: { main: mainCommit },
    });
    // A sharded copy, at two commits (main and an older one).
    const sharded = join(work, 'sharded');
    await mkdir(sharded, { recursive: true });
    const tensors = await readCheckpointTensors(tinyPath);
    const weightMap: Record<string, string> = {};
    const shards: Record<string, typeof tensors> = {};
    tensors.forEach((t, i) => {
      const file = `model-0000${(i % 2) + 1}-of-00002.safetensors`;
      weightMap[t.name] = file;
      shards[file] = [...(shards[file] ?? []), t];
    });
    for (const [file, list] of Object.entries(shards)) {
      const chunks = serializeSafetensors(
        list.map((t) => ({ name: t.name, dtype: 'F32', shape: t.shape, data: fromFloat32(t.values, 'F32') })),
      );
      await writeFile(join(sharded, file), Buffer.concat(chunks));
    }
    await writeFile(join(sharded, 'model.safetensors.index.json'), JSON.stringify({ weight_map: weightMap }));
    for (const file of ['config.json', 'vocab.txt'])
      await copyFile(join(tinyPath, file), join(sharded, file));
    await writeFile(join(sharded, 'tokenizer_config.json'), JSON.stringify({ do_lower_case: false }));
    hub.repositories.set('google/sharded-bert', {
      commits: { [mainCommit]: sharded, [otherCommit]: tinyPath },
      refs: { main: mainCommit, old: otherCommit },
    });
    hub.repositories.set('bad/corrupt', {
      commits: { [mainCommit]: tinyPath },
      refs: { main: mainCommit },
      corrupt: 'model.safetensors',
    });
  });
  afterAll(async () => {
    await hub.stop();
    await rm(work, { recursive: true, force: true });
  });

  it('downloads a model into the cache with progress events, pins the commit, and loads it like the directory', async () => {
    const events: DiffpruneEvent[] = [];
    const loaded = await loadBert('diffprune/bert-tiny-mlm-offline', {
      head: { numLabels: 2 },
      seed: 1,
      endpoint: hub.endpoint,
      cacheDirectory: cache,
      onEvent: (e) => events.push(e),
    });
    const directory = join(
      hubModelCacheDirectory('diffprune/bert-tiny-mlm-offline', cache),
      'snapshots',
      mainCommit,
    );
    expect(loaded.source).toEqual({ id: 'diffprune/bert-tiny-mlm-offline', revision: mainCommit, directory });
    for (const file of ['config.json', 'model.safetensors', 'vocab.txt'])
      expect((await readFile(join(directory, file))).equals(await readFile(join(tinyPath, file))), file).toBe(
        true,
      );
    const ends = events.filter((e) => e.type === 'download-end').map((e) => (e as { file: string }).file);
    expect(ends.sort()).toEqual(
      ['config.json', 'model.safetensors', 'vocab.txt'].map((f) => join(directory, f)).sort(),
    );
    expect(events.some((e) => e.type === 'download-start')).toBe(true);
    expect(events.some((e) => e.type === 'download-progress')).toBe(true);
    // After the first request every file is fetched at the resolved commit.
    const gets = hub.requests.filter((r) => r.method === 'GET' && r.url.includes('/resolve/'));
    expect(gets.every((r) => r.url.includes(`/resolve/${mainCommit}/`))).toBe(true);
    expect(
      await readFile(
        join(hubModelCacheDirectory('diffprune/bert-tiny-mlm-offline', cache), 'refs', 'main'),
        'utf8',
      ),
    ).toBe(mainCommit);

    const local = await loadBert(tinyPath, { head: { numLabels: 2 }, seed: 1 });
    for (const name of Object.keys(local.params))
      expect(firstDifference(await loaded.params[name]!.data(), await local.params[name]!.data()), name).toBe(
        -1,
      );
    disposeParameters(loaded.params);
    disposeParameters(local.params);
  });

  it('loads from the cache offline without touching the network, and does not re-download online', async () => {
    const before = hub.requests.length;
    const offline = await resolveHubModel('diffprune/bert-tiny-mlm-offline', {
      offline: true,
      endpoint: hub.endpoint,
      cacheDirectory: cache,
    });
    expect(offline.revision).toBe(mainCommit);
    expect(hub.requests.length).toBe(before);
    const events: DiffpruneEvent[] = [];
    await resolveHubModel('diffprune/bert-tiny-mlm-offline', {
      endpoint: hub.endpoint,
      cacheDirectory: cache,
      onEvent: (e) => events.push(e),
    });
    expect(events.filter((e) => e.type === 'download-start')).toEqual([]);
    expect(hub.requests.slice(before).every((r) => r.method === 'HEAD')).toBe(true);
  });

  it('offline, names the missing file and how to fetch it', async () => {
    const error = await resolveHubModel('google/bert_uncased_L-2_H-128_A-2', {
      offline: true,
      endpoint: hub.endpoint,
      cacheDirectory: cache,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingResourceError);
    expect((error as Error).message).toContain('google/bert_uncased_L-2_H-128_A-2@main: config.json');
    expect((error as Error).message).toMatch(/Run once online/);
    expect((error as Error).message).toContain(
      `${hub.endpoint}/google/bert_uncased_L-2_H-128_A-2/resolve/main/config.json`,
    );

    // A snapshot with a file deleted: offline names exactly that file.
    const directory = join(
      hubModelCacheDirectory('diffprune/bert-tiny-mlm-offline', cache),
      'snapshots',
      mainCommit,
    );
    const vocabulary = await readFile(join(directory, 'vocab.txt'));
    await rm(join(directory, 'vocab.txt'));
    await expect(
      resolveHubModel('diffprune/bert-tiny-mlm-offline', {
        offline: true,
        endpoint: hub.endpoint,
        cacheDirectory: cache,
      }),
    ).rejects.toThrow(/bert-tiny-mlm-offline@main: vocab\.txt/);
    await writeFile(join(directory, 'vocab.txt'), vocabulary);
  });

  it('resumes an interrupted download with a Range request', async () => {
    const cacheB = join(work, 'cache-resume');
    const directory = join(
      hubModelCacheDirectory('diffprune/bert-tiny-mlm-offline', cacheB),
      'snapshots',
      mainCommit,
    );
    await mkdir(directory, { recursive: true });
    const full = await readFile(join(tinyPath, 'model.safetensors'));
    await writeFile(join(directory, 'model.safetensors.partial'), full.subarray(0, 1_000_000));
    const events: DiffpruneEvent[] = [];
    const before = hub.requests.length;
    await resolveHubModel('diffprune/bert-tiny-mlm-offline', {
      endpoint: hub.endpoint,
      cacheDirectory: cacheB,
      onEvent: (e) => events.push(e),
    });
    const start = events.find((e) => e.type === 'download-start' && e.file.endsWith('model.safetensors'));
    expect(start).toMatchObject({ resumedFrom: 1_000_000, totalBytes: full.byteLength });
    expect(
      hub.requests.slice(before).some((r) => r.url.startsWith('/cdn/') && r.range === 'bytes=1000000-'),
    ).toBe(true);
    expect((await readFile(join(directory, 'model.safetensors'))).equals(full)).toBe(true);
    expect(existsSync(join(directory, 'model.safetensors.partial'))).toBe(false);
  });

  it('rejects a file whose sha256 differs from the hub ETag and keeps nothing of it', async () => {
    const error = await resolveHubModel('bad/corrupt', {
      endpoint: hub.endpoint,
      cacheDirectory: cache,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect((error as Error).message).toMatch(/sha256 mismatch/);
    const directory = join(hubModelCacheDirectory('bad/corrupt', cache), 'snapshots', mainCommit);
    expect(existsSync(join(directory, 'model.safetensors'))).toBe(false);
    expect(existsSync(join(directory, 'model.safetensors.partial'))).toBe(false);
  });

  it('downloads sharded checkpoints via the index, reads tokenizer_config.json, and pins other revisions', async () => {
    const loaded = await loadBert('google/sharded-bert', {
      head: { numLabels: 2 },
      endpoint: hub.endpoint,
      cacheDirectory: cache,
    });
    expect(loaded.source.revision).toBe(mainCommit);
    expect(existsSync(join(loaded.source.directory, 'model-00002-of-00002.safetensors'))).toBe(true);
    expect((loaded.backbone.encoder as { lowercase?: boolean }).lowercase).toBe(false);
    disposeParameters(loaded.params);

    const old = await resolveHubModel('google/sharded-bert', {
      revision: 'old',
      endpoint: hub.endpoint,
      cacheDirectory: cache,
    });
    expect(old.revision).toBe(otherCommit);
    expect(existsSync(join(old.directory, 'model.safetensors'))).toBe(true);
    const pinned = await resolveHubModel('google/sharded-bert', {
      revision: otherCommit,
      offline: true,
      cacheDirectory: cache,
    });
    expect(pinned.directory).toBe(old.directory);
  });

  it('says what to do when the hub has only pytorch_model.bin', async () => {
    const pickled = join(work, 'pickled');
    await mkdir(pickled, { recursive: true });
    for (const file of ['config.json', 'vocab.txt'])
      await copyFile(join(tinyPath, file), join(pickled, file));
    await writeFile(join(pickled, 'pytorch_model.bin'), 'not read');
    hub.repositories.set('old/pickled-bert', {
      commits: { [mainCommit]: pickled },
      refs: { main: mainCommit },
    });
    const error = await resolveHubModel('old/pickled-bert', {
      endpoint: hub.endpoint,
      cacheDirectory: cache,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MissingResourceError);
    expect((error as Error).message).toMatch(
      /has only pytorch_model\.bin .* reads safetensors checkpoints only/,
    );
  });

  it('says clearly when a model or revision does not exist', async () => {
    await expect(
      resolveHubModel('nobody/nothing', { endpoint: hub.endpoint, cacheDirectory: cache }),
    ).rejects.toThrow(/model nobody\/nothing was not found/);
    await expect(
      resolveHubModel('google/sharded-bert', {
        revision: 'v9',
        endpoint: hub.endpoint,
        cacheDirectory: cache,
      }),
    ).rejects.toThrow(/revision "v9" of google\/sharded-bert was not found/);
    expect(isHubId('bert-base-uncased')).toBe(true);
    expect(isHubId('../etc/passwd')).toBe(false);
    expect(isHubId('/abs/path')).toBe(false);
  });

  it('falls back to a complete cached snapshot when the hub is unreachable', async () => {
    const events: DiffpruneEvent[] = [];
    const source = await resolveHubModel('diffprune/bert-tiny-mlm-offline', {
      endpoint: 'http://127.0.0.1:9',
      cacheDirectory: cache,
      onEvent: (e) => events.push(e),
    });
    expect(source.revision).toBe(mainCommit);
    expect(events.map((e) => e.type)).toEqual(['warning-raise']);
  });

  it('refuses a revision with ../ or other path characters before touching the cache (issue #15)', async () => {
    const before = hub.requests.length;
    for (const revision of ['../../../tmp/x', '..', '/abs', 'a\\b', 'main/../x', 'a\nb', '']) {
      await expect(
        resolveHubModel('diffprune/bert-tiny-mlm-offline', {
          revision,
          endpoint: hub.endpoint,
          cacheDirectory: cache,
        }),
        JSON.stringify(revision),
      ).rejects.toThrow(InvalidArgumentError);
    }
    expect(hub.requests.length).toBe(before);
  });

  it('without X-Repo-Commit, a download still lands with refs/main, so offline reuse works (issue #15)', async () => {
    hub.repositories.set('mirror/no-commit', {
      commits: { [mainCommit]: tinyPath },
      refs: { main: mainCommit },
      noCommitHeader: true,
    });
    const mirrorCache = join(work, 'mirror-cache');
    const online = await resolveHubModel('mirror/no-commit', {
      endpoint: hub.endpoint,
      cacheDirectory: mirrorCache,
    });
    expect(online.revision).toBe('main');
    const repository = hubModelCacheDirectory('mirror/no-commit', mirrorCache);
    expect((await readFile(join(repository, 'refs', 'main'), 'utf8')).trim()).toBe('main');
    const offline = await resolveHubModel('mirror/no-commit', {
      offline: true,
      endpoint: hub.endpoint,
      cacheDirectory: mirrorCache,
    });
    expect(offline).toEqual(online);
  });

  it('re-downloads a cached file whose content no longer matches the hub, even at the same size (issue #15)', async () => {
    const source = await resolveHubModel('diffprune/bert-tiny-mlm-offline', {
      endpoint: hub.endpoint,
      cacheDirectory: cache,
    });
    for (const file of ['vocab.txt', 'model.safetensors']) {
      const path = join(source.directory, file);
      const bytes = await readFile(path);
      bytes[100]! ^= 0x01; // same size, different content
      await writeFile(path, bytes);
    }
    const events: DiffpruneEvent[] = [];
    await resolveHubModel('diffprune/bert-tiny-mlm-offline', {
      endpoint: hub.endpoint,
      cacheDirectory: cache,
      onEvent: (e) => events.push(e),
    });
    const downloaded = events.flatMap((e) => (e.type === 'download-end' ? [e.file] : []));
    expect(downloaded.sort()).toEqual([
      join(source.directory, 'model.safetensors'),
      join(source.directory, 'vocab.txt'),
    ]);
    for (const file of ['vocab.txt', 'model.safetensors'])
      expect(
        Buffer.compare(await readFile(join(source.directory, file)), await readFile(join(tinyPath, file))),
        file,
      ).toBe(0);
  });
});

describe('hub requests time out (issue #15)', () => {
  it('a hub that accepts the connection and never answers ends in a DownloadError after the read timeout', async () => {
    const server = createServer(() => {
      // never answers
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const cacheDirectory = await mkdtemp(join(tmpdir(), 'diffprune-hub-stall-'));
      await expect(
        resolveHubModel('org/stalled', { endpoint, cacheDirectory, readTimeoutMs: 300 }),
      ).rejects.toThrow(/no answer from the server for 300 ms \(read timeout\)/);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
