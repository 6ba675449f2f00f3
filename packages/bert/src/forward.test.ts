import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { disposeParameters, type LoadedBackbone } from '@diffprune/core';
import { describeEachBackend } from '@diffprune/runtime/test';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BertConfig } from './config.js';
import { loadBert } from './load.js';
import type { BertBackbone } from './model.js';
import { toEncodedBatch } from './tokenizer.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const fixturePath = `${shared}fixtures/forward.json`;
const modelPath = `${shared}fixtures/forward-model`;
const missing = !existsSync(fixturePath) || !existsSync(modelPath);
if (missing) process.stderr.write(`skipping forward parity tests: ${fixturePath} is absent\n`);

interface ForwardFixture {
  padded_length: number;
  cases: {
    text_a: string;
    text_b: string | null;
    max_length: number;
    input_ids: number[];
    token_type_ids: number[];
    tokens: string[];
  }[];
  pooled_output: number[][];
  logits: number[][];
  sequence_output_cls: number[][];
  sequence_output_last_real_token: number[][];
}

const maxAbsDifference = (a: ArrayLike<number>, b: readonly number[]) => {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < b.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
};

// On every backend available in the process (describeEachBackend); the model is loaded per backend.
describeEachBackend.skipIf(missing)('forward parity with the PyTorch reference (forward.json)', (backend) => {
  let fixture: ForwardFixture;
  let loaded: LoadedBackbone<BertConfig>;
  const batchOf = () => {
    const length = fixture.padded_length;
    const pad = (row: number[], value: number) => [
      ...row,
      ...new Array<number>(length - row.length).fill(value),
    ];
    return toEncodedBatch({
      inputIds: fixture.cases.map((c) => pad(c.input_ids, 0)),
      tokenTypeIds: fixture.cases.map((c) => pad(c.token_type_ids, 0)),
      attentionMask: fixture.cases.map((c) =>
        pad(
          c.input_ids.map(() => 1),
          0,
        ),
      ),
    });
  };

  beforeAll(async () => {
    fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as ForwardFixture;
    loaded = await loadBert(modelPath, { head: { numLabels: 3 } });
  });
  afterAll(() => disposeParameters(loaded.params));

  it('matches pooled output and logits within 1e-4', async () => {
    expect(tf.getBackend()).toBe(backend);
    const batch = batchOf();
    const before = tf.memory().numTensors;
    const pooled = loaded.backbone.forward(loaded.params, batch, { training: false });
    const logits = loaded.backbone.classify(loaded.params, batch, { training: false });
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(pooled.shape).toEqual([fixture.cases.length, 32]);
    expect(logits.shape).toEqual([fixture.cases.length, 3]);
    expect(maxAbsDifference(await pooled.data(), fixture.pooled_output.flat())).toBeLessThan(1e-4);
    expect(maxAbsDifference(await logits.data(), fixture.logits.flat())).toBeLessThan(1e-4);
    tf.dispose([pooled, logits, batch.inputIds, batch.tokenTypeIds, batch.attentionMask]);
  });

  it('matches the sequence output at [CLS] and at the last real token', async () => {
    expect(tf.getBackend()).toBe(backend);
    const batch = batchOf();
    const sequence = (loaded.backbone as BertBackbone).sequenceOutput(loaded.params, batch, {
      training: false,
    });
    const rows = (await sequence.array()) as number[][][];
    const cls = rows.map((row) => row[0]!);
    const last = rows.map((row, i) => row[fixture.cases[i]!.input_ids.length - 1]!);
    expect(maxAbsDifference(cls.flat(), fixture.sequence_output_cls.flat())).toBeLessThan(1e-4);
    expect(maxAbsDifference(last.flat(), fixture.sequence_output_last_real_token.flat())).toBeLessThan(1e-4);
    tf.dispose([sequence, batch.inputIds, batch.tokenTypeIds, batch.attentionMask]);
  });
});

// Loading and the tokenizer do not depend on the backend: once, on the process's backend.
describe.skipIf(missing)('the forward fixture model and texts', () => {
  let fixture: ForwardFixture;
  let loaded: LoadedBackbone<BertConfig>;
  beforeAll(async () => {
    fixture = JSON.parse(readFileSync(fixturePath, 'utf8')) as ForwardFixture;
    loaded = await loadBert(modelPath, { head: { numLabels: 3 } });
  });
  afterAll(() => disposeParameters(loaded.params));

  it('loads the classifier from the checkpoint (nothing created)', () => {
    expect(loaded.created).toEqual([]);
    expect(loaded.source).toEqual({ id: modelPath, revision: 'local', directory: expect.any(String) });
  });

  it('encodes the fixture texts to the fixture ids', () => {
    for (const c of fixture.cases) {
      const encoded = loaded.backbone.encoder.encode(c.text_a, c.text_b, { maxLength: c.max_length });
      expect(encoded.inputIds, c.text_a).toEqual(c.input_ids);
      expect(encoded.tokenTypeIds, c.text_a).toEqual(c.token_type_ids);
    }
  });
});
