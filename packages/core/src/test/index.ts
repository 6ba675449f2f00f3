import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { EncodedBatch, HeadSpec, LoadedBackbone } from '../backbone.js';
import { backboneSpecificationVersion } from '../backbone.js';

export type { LocalHubRepository } from './hub-server.js';
export { LocalHub } from './hub-server.js';

export interface BackboneConformanceOptions {
  /** Loads the backbone under test (a small checkpoint). */
  load: () => Promise<LoadedBackbone>;
  head: HeadSpec;
  /** Text pairs for the tiny forward batch. */
  texts?: [string, string | null][];
  maxLength?: number;
  /**
   * A diff round trip through the sparse-diff format: given base and tuned parameters, returns
   * the parameters rebuilt as base + decoded diff. Supplied by callers that have sparse-diff.
   */
  diffRoundTrip?: (
    base: Record<string, tf.Tensor>,
    tuned: Record<string, tf.Tensor>,
  ) => Promise<Record<string, tf.Tensor>>;
}

/** Pads encoded texts into a batch. Shared by the suite and by backbones' own tests. */
export function padBatch(
  encoded: { inputIds: number[]; tokenTypeIds: number[] }[],
  padId: number,
): EncodedBatch {
  const length = Math.max(...encoded.map((e) => e.inputIds.length));
  const ids: number[][] = [];
  const types: number[][] = [];
  const mask: number[][] = [];
  for (const e of encoded) {
    const pad = length - e.inputIds.length;
    ids.push([...e.inputIds, ...Array(pad).fill(padId)]);
    types.push([...e.tokenTypeIds, ...Array(pad).fill(0)]);
    mask.push([...Array(e.inputIds.length).fill(1), ...Array(pad).fill(0)]);
  }
  return {
    inputIds: tf.tensor2d(ids, undefined, 'int32'),
    tokenTypeIds: tf.tensor2d(types, undefined, 'int32'),
    attentionMask: tf.tensor2d(mask, undefined, 'int32'),
  };
}

/**
 * The backbone conformance suite: every backbone runs it in its own tests. It checks the spec
 * version, that loaded parameters match the specs key for key and shape for shape, a forward and
 * classify on a tiny batch (shapes, finiteness, determinism, padding invariance, dropout only in
 * training), that the default gated set excludes the head, no tensor leaks, and a diff round trip.
 */
export function describeBackboneConformance(name: string, options: BackboneConformanceOptions): void {
  const texts = options.texts ?? [
    ['the quick brown fox jumps over the lazy dog .', null],
    ['a man is playing a guitar .', 'someone plays an instrument .'],
  ];
  const maxLength = options.maxLength ?? 32;

  describe(`backbone conformance: ${name}`, () => {
    let loaded: LoadedBackbone;
    const getLoaded = async () => {
      loaded ??= await options.load();
      return loaded;
    };
    const batchOf = (l: LoadedBackbone) =>
      padBatch(
        texts.map(([a, b]) => l.backbone.encoder.encode(a, b, { maxLength })),
        l.backbone.encoder.padId,
      );
    const disposeBatch = (b: EncodedBatch) => tf.dispose([b.inputIds, b.tokenTypeIds, b.attentionMask]);

    it('implements the current specification version', async () => {
      const { backbone } = await getLoaded();
      expect(backbone.specificationVersion).toBe(backboneSpecificationVersion);
      expect(typeof backbone.modelType).toBe('string');
    });

    it('loads exactly the specified parameters with the specified shapes', async () => {
      const { backbone, params } = await getLoaded();
      const specs = backbone.parameterSpecs(options.head);
      expect(Object.keys(params).sort()).toEqual(specs.map((s) => s.name).sort());
      for (const spec of specs) {
        expect(params[spec.name]?.shape, spec.name).toEqual([...spec.shape]);
        expect(params[spec.name]?.dtype, spec.name).toBe('float32');
      }
      const names = new Set(specs.map((s) => s.name));
      expect(names.size).toBe(specs.length);
    });

    it('names its head (v2): exactly the head specs, which a checkpoint without them gets created', async () => {
      const { backbone, created } = await getLoaded();
      const heads = backbone
        .parameterSpecs(options.head)
        .filter((s) => s.head)
        .map((s) => s.name);
      expect(heads.length).toBeGreaterThan(0);
      expect([...backbone.headParameterNames(options.head)].sort()).toEqual([...heads].sort());
      for (const name of created) expect(heads, name).toContain(name);
    });

    it('declares its limits (v2): maximum positions refused beyond, token types used or ignored', async () => {
      const l = await getLoaded();
      const { backbone } = l;
      expect(Number.isInteger(backbone.maxPositions) && backbone.maxPositions > 0).toBe(true);
      expect(['word-piece', 'byte-level-bpe']).toContain(backbone.tokenizer);
      const tooLong: EncodedBatch = {
        inputIds: tf.fill([1, backbone.maxPositions + 1], backbone.encoder.padId, 'int32') as tf.Tensor2D,
        attentionMask: tf.ones([1, backbone.maxPositions + 1], 'int32') as tf.Tensor2D,
      };
      expect(() => backbone.classify(l.params, tooLong, { training: false })).toThrow(/position/);
      disposeBatch(tooLong);
      // Without token types the batch means all 0: the same logits as explicit zeros.
      const batch = batchOf(l);
      const zeros = { ...batch, tokenTypeIds: tf.zerosLike(batch.inputIds) as tf.Tensor2D };
      const { tokenTypeIds: _, ...untyped } = batch;
      const a = backbone.classify(l.params, zeros, { training: false });
      const b = backbone.classify(l.params, untyped, { training: false });
      expect(Array.from(await b.data())).toEqual(Array.from(await a.data()));
      if (!backbone.tokenTypes) {
        // Ignored: other token types change nothing.
        const ones = { ...batch, tokenTypeIds: tf.onesLike(batch.inputIds) as tf.Tensor2D };
        const c = backbone.classify(l.params, ones, { training: false });
        expect(Array.from(await c.data())).toEqual(Array.from(await a.data()));
        tf.dispose([c, ones.tokenTypeIds]);
      }
      tf.dispose([a, b, zeros.tokenTypeIds]);
      disposeBatch(batch);
    });

    it('gates every encoder parameter and never the head by default', async () => {
      const { backbone } = await getLoaded();
      const specs = backbone.parameterSpecs(options.head);
      const gated = new Set(backbone.gatedParameterNames(options.head));
      for (const spec of specs) expect(gated.has(spec.name), spec.name).toBe(!spec.head);
    });

    it('forward and classify give finite outputs of the right shapes, deterministically at eval', async () => {
      const l = await getLoaded();
      const batch = batchOf(l);
      const pooled = l.backbone.forward(l.params, batch, { training: false });
      const logits = l.backbone.classify(l.params, batch, { training: false });
      const again = l.backbone.classify(l.params, batch, { training: false });
      expect(pooled.shape).toEqual([texts.length, l.backbone.hiddenSize]);
      expect(logits.shape).toEqual([texts.length, options.head.numLabels]);
      const values = await logits.data();
      expect(Array.from(values).every(Number.isFinite)).toBe(true);
      expect(Array.from(await again.data())).toEqual(Array.from(values));
      tf.dispose([pooled, logits, again]);
      disposeBatch(batch);
    });

    it('ignores padding: an example gives the same logits alone and in a padded batch', async () => {
      const l = await getLoaded();
      const batch = batchOf(l);
      const [a] = texts;
      const alone = padBatch(
        [l.backbone.encoder.encode(a![0], a![1], { maxLength })],
        l.backbone.encoder.padId,
      );
      const both = l.backbone.classify(l.params, batch, { training: false });
      const single = l.backbone.classify(l.params, alone, { training: false });
      const first = Array.from(await tf.slice(both, [0, 0], [1, -1]).data());
      const solo = Array.from(await single.data());
      for (let i = 0; i < solo.length; i++) expect(first[i]).toBeCloseTo(solo[i]!, 4);
      tf.dispose([both, single]);
      disposeBatch(batch);
      disposeBatch(alone);
    });

    it('applies dropout only in training, seeded', async () => {
      const l = await getLoaded();
      const batch = batchOf(l);
      const a = l.backbone.classify(l.params, batch, { training: true, seed: 7 });
      const b = l.backbone.classify(l.params, batch, { training: true, seed: 7 });
      const c = l.backbone.classify(l.params, batch, { training: false });
      const [va, vb, vc] = await Promise.all([a.data(), b.data(), c.data()]);
      expect(Array.from(va)).toEqual(Array.from(vb));
      expect(Array.from(va)).not.toEqual(Array.from(vc));
      tf.dispose([a, b, c]);
      disposeBatch(batch);
    });

    it('leaks no tensors in forward and backward', async () => {
      const l = await getLoaded();
      const batch = batchOf(l);
      const names = Object.keys(l.params);
      const grad = () => {
        const g = tf.grads((...xs: tf.Tensor[]) => {
          const p = { ...l.params };
          names.forEach((n, i) => {
            p[n] = xs[i]!;
          });
          return tf.mean(tf.square(l.backbone.classify(p, batch, { training: true, seed: 1 })));
        });
        const out = g(names.map((n) => l.params[n]!));
        tf.dispose(out);
      };
      grad();
      const before = tf.memory().numTensors;
      grad();
      grad();
      expect(tf.memory().numTensors).toBe(before);
      disposeBatch(batch);
    });

    if (options.diffRoundTrip) {
      it('survives a sparse diff round trip', async () => {
        const l = await getLoaded();
        const tuned: Record<string, tf.Tensor> = {};
        for (const [name, tensor] of Object.entries(l.params)) {
          tuned[name] = tf.tidy(() => {
            // +0.5 at the first entry (tf.oneHot needs depth >= 2; a regression head's bias has 1 entry).
            const bump = new Float32Array(tensor.size);
            bump[0] = 0.5;
            return tf.add(tensor, tf.tensor(bump, tensor.shape, 'float32'));
          });
        }
        const rebuilt = await options.diffRoundTrip!(l.params, tuned);
        const batch = batchOf(l);
        const expected = l.backbone.classify(tuned, batch, { training: false });
        const found = l.backbone.classify(rebuilt, batch, { training: false });
        const [e, f] = await Promise.all([expected.data(), found.data()]);
        for (let i = 0; i < e.length; i++) expect(f[i]).toBeCloseTo(e[i]!, 5);
        tf.dispose([expected, found, ...Object.values(tuned), ...Object.values(rebuilt)]);
        disposeBatch(batch);
      });
    }
  });
}
