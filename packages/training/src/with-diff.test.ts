import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toFloat32 } from '@diffprune/core';
import {
  createDiff,
  fingerprintCheckpoint,
  readCheckpointTensors,
  type TensorArrays,
  writeDiff,
} from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { loadWithDiff } from './with-diff.js';

const model = fileURLToPath(new URL('../../../../shared/models/bert-tiny-mlm-offline/', import.meta.url));
const present = existsSync(join(model, 'model.safetensors'));
if (!present) console.warn(`skipping loadWithDiff on a real checkpoint: ${model} is absent`);

describe.skipIf(!present)('loadWithDiff', () => {
  it('applies a diff made from checkpoint files, which also lists tensors the backbone ignores', async () => {
    // As `diffprune diff create` does: base and tuned are every tensor of the checkpoint file,
    // the MLM head (cls.*) included; the tuned model changes one entry and adds a head.
    const base: TensorArrays = {};
    for (const t of await readCheckpointTensors(model)) {
      if (t.dtype === 'F32') base[t.name] = { shape: t.shape, values: toFloat32(t) };
    }
    expect(Object.keys(base).some((n) => n.startsWith('cls.'))).toBe(true);
    const name = 'bert.encoder.layer.1.output.dense.bias';
    const tuned: TensorArrays = { ...base };
    const changed = base[name]!.values.slice();
    changed[5] = changed[5]! + 0.25;
    tuned[name] = { shape: base[name]!.shape, values: changed };
    tuned['classifier.weight'] = { shape: [2, 128], values: new Float32Array(256).fill(0.01) };
    tuned['classifier.bias'] = { shape: [2], values: Float32Array.from([0.5, -0.5]) };
    const diff = createDiff({
      base,
      tuned,
      provenance: {
        baseModel: { id: model, revision: 'local' },
        baseFingerprint: await fingerprintCheckpoint(model),
        method: 'test',
        settings: {},
        task: 'sst2',
      },
    });
    const path = join(await mkdtemp(join(tmpdir(), 'dp-with-diff-')), 'sst2.diff.safetensors');
    await writeDiff(path, diff);

    const { loaded } = await loadWithDiff(model, path);
    expect(loaded.params[name]!.dataSync()[5]).toBeCloseTo(changed[5]!, 6);
    expect(Array.from(loaded.params['classifier.bias']!.dataSync())).toEqual([0.5, -0.5]);
    tf.dispose(Object.values(loaded.params));
  });
});
