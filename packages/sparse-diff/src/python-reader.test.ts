import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { writeSafetensors } from '@diffprune/core';
import { afterAll, describe, expect, it } from 'vitest';
import { createDiff, createDiffFromMask } from './create.js';
import { writeDiff } from './file-node.js';
import { fingerprintCheckpoint } from './fingerprint-checkpoint.js';
import { createRng, perturb, randomPositions, randomTensors, testProvenance } from './test-helpers.js';
import type { DiffTensor, IndexEncoding, SparseDiff, ValueDtype } from './types.js';

const script = fileURLToPath(new URL('../scripts/read_diff.py', import.meta.url));

const pythonStatus = (() => {
  try {
    execFileSync('python3', ['-c', 'import numpy'], { stdio: 'pipe' });
    return null;
  } catch (error) {
    return `python3 with numpy is not available (${(error as Error).message.split('\n')[0]})`;
  }
})();
if (pythonStatus) console.warn(`skipping the Python reader test: ${pythonStatus}`);

const directories: string[] = [];
afterAll(async () => {
  for (const d of directories) await rm(d, { recursive: true, force: true });
});

describe.skipIf(pythonStatus !== null)(
  'a reader in another language (scripts/read_diff.py, from docs/format.md)',
  () => {
    it('reads a file this package wrote: every encoding and value dtype, dense, added, empty, > 2^24 elements', async () => {
      const rng = createRng(71);
      const base = randomTensors(rng, { w: [64, 33], b: [33], untouched: [7] });
      const { tuned } = perturb(rng, base, 0.03);
      tuned.untouched = base.untouched!;
      tuned['classifier.weight'] = randomTensors(rng, { x: [2, 33] }).x!;
      const tensors: DiffTensor[] = [];
      for (const encoding of ['varint-delta', 'elias-fano'] as IndexEncoding[]) {
        for (const valueDtype of ['F32', 'F16', 'BF16', 'I8'] as ValueDtype[]) {
          const diff = createDiff({
            base,
            tuned,
            dense: [],
            provenance: testProvenance(),
            indexEncoding: encoding,
            valueDtype,
          });
          for (const t of diff.tensors) tensors.push({ ...t, name: `${encoding}/${valueDtype}/${t.name}` });
        }
      }
      // A replaced tensor, and a tensor over 2^24 elements with positions past 2^24.
      const n = 2 ** 24 + 9;
      const big = [...new Set([0, ...randomPositions(rng, n, 300), 2 ** 24, 2 ** 24 + 1, n - 1])].sort(
        (a, b) => a - b,
      );
      const extra = createDiffFromMask({
        shapes: { big: [n], head: [3] },
        sparse: { big: { indices: big, values: Float32Array.from(big, (_, i) => i * 1e-3) } },
        dense: { head: { shape: [3], values: Float32Array.of(0.5, -1.5, 2.25) } },
        provenance: testProvenance(),
        indexEncoding: 'elias-fano',
      });
      tensors.push(...extra.tensors);
      const diff: SparseDiff = { ...extra, tensors };

      const directory = await mkdtemp(join(tmpdir(), 'sparse-diff-python-'));
      directories.push(directory);
      const file = join(directory, 'mixed.diff.safetensors');
      await writeDiff(file, diff);
      const model = join(directory, 'model');
      await writeSafetensors(
        join(model, 'model.safetensors'),
        Object.entries(base).map(([name, t]) => ({
          name,
          dtype: 'F32',
          shape: t.shape,
          data: new Uint8Array(t.values.buffer),
        })),
      );

      const { stdout } = await promisify(execFile)(
        'python3',
        [script, file, '--json', '--fingerprint', join(model, 'model.safetensors')],
        {
          maxBuffer: 64 * 2 ** 20,
        },
      );
      const read = JSON.parse(stdout) as {
        metadata: Record<string, string>;
        fingerprint: string;
        tensors: Record<string, { kind: string; shape: number[]; indices?: number[]; values: number[] }>;
      };
      expect(read.metadata.format).toBe('diffprune.sparse-diff');
      expect(read.fingerprint).toBe(await fingerprintCheckpoint(model));
      expect(Object.keys(read.tensors).sort()).toEqual(diff.tensors.map((t) => t.name).sort());
      for (const t of diff.tensors) {
        const r = read.tensors[t.name]!;
        expect(r.kind, t.name).toBe(t.kind);
        expect(r.shape).toEqual(t.shape);
        if (t.kind === 'sparse') expect(r.indices, t.name).toEqual(Array.from(t.indices));
        expect(r.values, t.name).toEqual(Array.from(t.values));
      }
    });

    it('checks data_sha256 (format 1.1): a flipped data byte or trailing bytes are refused', async () => {
      const rng = createRng(3);
      const base = randomTensors(rng, { w: [16, 8] });
      const { tuned } = perturb(rng, base, 0.1);
      const directory = await mkdtemp(join(tmpdir(), 'sparse-diff-python-'));
      directories.push(directory);
      const file = join(directory, 'd.diff.safetensors');
      await writeDiff(file, createDiff({ base, tuned, provenance: testProvenance() }));
      const run = (path: string) => promisify(execFile)('python3', [script, path]);
      await expect(run(file)).resolves.toMatchObject({ stdout: expect.stringMatching(/task unit/) });
      const bytes = await readFile(file);
      bytes[bytes.length - 3]! ^= 0x10;
      await writeFile(file, bytes);
      await expect(run(file)).rejects.toThrow(/does not match data_sha256/);
      bytes[bytes.length - 3]! ^= 0x10;
      await writeFile(file, Buffer.concat([bytes, Buffer.of(0)]));
      await expect(run(file)).rejects.toThrow(/trailing bytes/);
    });
  },
);
