import { copyFile, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { disposeParameters } from '@diffprune/core';
import { LocalHub } from '@diffprune/core/test';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBackbone } from './registry.js';

/** Hub ids through a local hub server, for every family (the HF layout transformers ≥ 5 writes). */
const fixtures = fileURLToPath(new URL('../../../fixtures/', import.meta.url));
const commit = 'c'.repeat(40);
const families = ['bert', 'distilbert', 'roberta', 'electra'] as const;

describe('hub ids of every family through a local hub', () => {
  const hub = new LocalHub();
  let cache: string;
  beforeAll(async () => {
    await hub.start();
    cache = await mkdtemp(join(tmpdir(), 'diffprune-hub-'));
    for (const family of families)
      hub.repositories.set(`tiny/${family}`, {
        commits: { [commit]: `${fixtures}models/${family}` },
        refs: { main: commit },
      });
  });
  afterAll(async () => {
    await hub.stop();
    await rm(cache, { recursive: true, force: true });
  });

  for (const family of families) {
    it(`${family}: downloads config, weights and tokenizer.json (no vocab.txt), then loads offline from the cache`, async () => {
      const online = await loadBackbone(`tiny/${family}`, {
        head: { numLabels: 3 },
        endpoint: hub.endpoint,
        cacheDirectory: cache,
      });
      expect(online.backbone.modelType).toBe(family);
      expect(online.source.revision).toBe(commit);
      const files = await readdir(online.source.directory);
      for (const file of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
        expect(files, file).toContain(file);
      const encoded = online.backbone.encoder.encode('a man plays', 'music', { maxLength: 16 });
      disposeParameters(online.params);

      const requests = hub.requests.length;
      const offline = await loadBackbone(`tiny/${family}`, {
        head: { numLabels: 3 },
        offline: true,
        endpoint: hub.endpoint,
        cacheDirectory: cache,
      });
      expect(hub.requests.length).toBe(requests);
      expect(offline.backbone.encoder.encode('a man plays', 'music', { maxLength: 16 })).toEqual(encoded);
      disposeParameters(offline.params);
    });
  }

  it('names the hub file a family needs when the repository lacks it', async () => {
    // RoBERTa without its tokenizer.json.
    const directory = await mkdtemp(join(tmpdir(), 'diffprune-hub-roberta-'));
    for (const file of ['config.json', 'model.safetensors'])
      await copyFile(`${fixtures}models/roberta/${file}`, join(directory, file));
    hub.repositories.set('tiny/no-tokenizer', { commits: { [commit]: directory }, refs: { main: commit } });
    const error = await loadBackbone('tiny/no-tokenizer', {
      head: { numLabels: 3 },
      endpoint: hub.endpoint,
      cacheDirectory: cache,
    }).catch((e: unknown) => e);
    expect(String(error)).toMatch(/tiny\/no-tokenizer@c+ has no tokenizer\.json/);
    await rm(directory, { recursive: true, force: true });
  });
});
