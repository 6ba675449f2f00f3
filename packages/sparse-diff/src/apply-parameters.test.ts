import { createRng } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { applyDiffToParameters } from './apply-parameters.js';
import { createDiff } from './create.js';
import { BaseMismatchError } from './errors.js';
import { perturb, randomTensors, testProvenance } from './test-helpers.js';
import type { TensorArrays } from './types.js';

// A model with two base tensors and a created head; the diff was made from checkpoint files that also
// hold an MLM tensor the model does not use, and it adds the trained head.
function setup() {
  const rng = createRng(7);
  const checkpoint = randomTensors(rng, { 'a.weight': [4, 3], 'a.bias': [3], 'mlm.bias': [6] });
  const { tuned: tunedBase } = perturb(
    rng,
    { 'a.weight': checkpoint['a.weight']!, 'a.bias': checkpoint['a.bias']! },
    0.3,
  );
  const head = randomTensors(rng, { 'head.bias': [2] });
  const tuned: TensorArrays = { ...tunedBase, ...head, 'mlm.bias': checkpoint['mlm.bias']! };
  const fingerprint = 'cd'.repeat(32);
  const diff = createDiff({ base: checkpoint, tuned, provenance: testProvenance(fingerprint) });
  const params = {
    'a.weight': tf.tensor(checkpoint['a.weight']!.values, [4, 3]),
    'a.bias': tf.tensor(checkpoint['a.bias']!.values, [3]),
    // Re-created by the loader (values the diff replaces).
    'head.bias': tf.tensor([9, 9], [2]),
  };
  return { tuned, diff, params, fingerprint };
}

describe('applyDiffToParameters', () => {
  it('rebuilds every parameter as base + δ, the created head from the diff, without leaks', async () => {
    const { tuned, diff, params, fingerprint } = setup();
    const before = tf.memory().numTensors;
    const out = await applyDiffToParameters(params, diff, {
      created: ['head.bias'],
      baseFingerprint: fingerprint,
    });
    expect(Object.keys(out).sort()).toEqual(['a.bias', 'a.weight', 'head.bias']);
    for (const name of Object.keys(out)) {
      expect(out[name]!.shape).toEqual(tuned[name]!.shape);
      const got = out[name]!.dataSync();
      const want = tuned[name]!.values;
      for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 6);
      expect(out[name]).not.toBe(params[name as keyof typeof params]);
    }
    // The input is read, not disposed or changed.
    expect(params['head.bias'].isDisposed).toBe(false);
    expect(Array.from(params['head.bias'].dataSync())).toEqual([9, 9]);
    expect(tf.memory().numTensors).toBe(before + 3);
    tf.dispose(Object.values(out));
    tf.dispose(Object.values(params));
  });

  it('refuses a diff made for another base and leaves no tensors', async () => {
    const { diff, params } = setup();
    const before = tf.memory().numTensors;
    await expect(
      applyDiffToParameters(params, diff, { created: ['head.bias'], baseFingerprint: 'ef'.repeat(32) }),
    ).rejects.toBeInstanceOf(BaseMismatchError);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(params));
  });

  it('fails by name when the diff changes a tensor the model lacks', async () => {
    const { diff, params } = setup();
    const { 'a.bias': dropped, ...partial } = params;
    await expect(applyDiffToParameters(partial, diff, { created: ['head.bias'] })).rejects.toThrow(/a\.bias/);
    tf.dispose([dropped, ...Object.values(partial)]);
  });
});
