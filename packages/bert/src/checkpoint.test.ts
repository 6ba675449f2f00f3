import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CheckpointMismatchError,
  disposeParameters,
  FormatError,
  fromFloat32,
  MissingResourceError,
  readSafetensors,
  serializeSafetensors,
  toFloat32,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readBertConfig, readCheckpointTensors } from './checkpoint-files.js';
import { parseBertConfig } from './config.js';
import { loadBert } from './load.js';
import { bertParameterSpecs } from './parameters.js';
import { toEncodedBatch } from './tokenizer.js';
import { type Float32Tensor, parametersToArrays, writeBertCheckpoint } from './write.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const modelPath = `${shared}fixtures/forward-model`;
const missing = !existsSync(modelPath);
if (missing) process.stderr.write(`skipping checkpoint variant tests: ${modelPath} is absent\n`);

describe.skipIf(missing)('checkpoint loading: name variants, mismatches, dtypes, shards', () => {
  let work: string;
  let original: Record<string, Float32Tensor>;
  let configJson: Record<string, unknown>;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'diffprune-bert-'));
    original = Object.fromEntries(
      (await readCheckpointTensors(modelPath)).map((t) => [t.name, { shape: t.shape, values: t.values }]),
    );
    configJson = JSON.parse(await readFile(join(modelPath, 'config.json'), 'utf8')) as Record<
      string,
      unknown
    >;
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const write = async (
    name: string,
    tensors: Record<string, Float32Tensor>,
    dtype: 'F32' | 'F16' | 'BF16' = 'F32',
  ) => {
    const directory = join(work, name);
    await writeBertCheckpoint(directory, { config: configJson, tensors, tokenizerFrom: modelPath, dtype });
    return directory;
  };
  const expectValues = async (params: Record<string, tf.Tensor>, expected: Record<string, Float32Tensor>) => {
    for (const [name, tensor] of Object.entries(expected)) {
      expect(params[name]?.shape, name).toEqual(tensor.shape);
      const found = await params[name]!.data();
      let first = found.length === tensor.values.length ? -1 : 0;
      for (let i = 0; i < found.length && first < 0; i++)
        if (!Object.is(found[i], tensor.values[i])) first = i;
      expect(first, name).toBe(-1);
    }
  };

  it('maps BertModel names (no bert. prefix), gamma/beta, ignores cls.* and position_ids, creates the classifier', async () => {
    const variant: Record<string, Float32Tensor> = {};
    for (const [name, tensor] of Object.entries(original)) {
      if (name.startsWith('classifier.')) continue;
      const renamed = name
        .replace(/^bert\./, '')
        .replace(/LayerNorm\.weight$/, 'LayerNorm.gamma')
        .replace(/LayerNorm\.bias$/, 'LayerNorm.beta');
      variant[renamed] = tensor;
    }
    variant['cls.predictions.bias'] = { shape: [30522], values: new Float32Array(30522) };
    variant['cls.seq_relationship.weight'] = { shape: [2, 32], values: new Float32Array(64) };
    const directory = await write('variant', variant);
    // An integer position_ids buffer as old checkpoints carry.
    const file = await readSafetensors(join(directory, 'model.safetensors'));
    const positions = {
      name: 'embeddings.position_ids',
      dtype: 'I64' as const,
      shape: [1, 64],
      data: new Uint8Array(64 * 8),
    };
    await writeFile(
      join(directory, 'model.safetensors'),
      Buffer.concat(serializeSafetensors([...file.tensors, positions])),
    );

    const a = await loadBert(directory, { head: { numLabels: 2 }, seed: 11 });
    const b = await loadBert(directory, { head: { numLabels: 2 }, seed: 11 });
    const c = await loadBert(directory, { head: { numLabels: 2 }, seed: 12 });
    expect(a.created.sort()).toEqual(['classifier.bias', 'classifier.weight']);
    const { 'classifier.weight': _w, 'classifier.bias': _b, ...encoder } = original;
    await expectValues(a.params, encoder);
    const weight = Array.from(await a.params['classifier.weight']!.data());
    expect(a.params['classifier.weight']!.shape).toEqual([2, 32]);
    expect(Array.from(await a.params['classifier.bias']!.data())).toEqual([0, 0]);
    const std = Math.sqrt(weight.reduce((s, v) => s + v * v, 0) / weight.length);
    expect(std).toBeGreaterThan(0.01);
    expect(std).toBeLessThan(0.03); // initializer_range 0.02, 64 samples
    expect(Array.from(await b.params['classifier.weight']!.data())).toEqual(weight);
    expect(Array.from(await c.params['classifier.weight']!.data())).not.toEqual(weight);
    for (const l of [a, b, c]) disposeParameters(l.params);
  });

  it('reports every missing, unexpected and mis-shaped key in one error', async () => {
    const broken = { ...original };
    delete broken['bert.encoder.layer.1.output.dense.bias'];
    delete broken['bert.pooler.dense.weight'];
    broken['bert.encoder.layer.0.attention.self.rotary.weight'] = { shape: [1], values: new Float32Array(1) };
    broken['bert.embeddings.LayerNorm.weight'] = { shape: [31], values: new Float32Array(31) };
    broken['classifier.bias'] = { shape: [2], values: new Float32Array(2) };
    const directory = await write('broken', broken);
    const before = tf.memory().numTensors;
    const error = await loadBert(directory, { head: { numLabels: 3 } }).catch((e: unknown) => e);
    expect(tf.memory().numTensors).toBe(before);
    expect(error).toBeInstanceOf(CheckpointMismatchError);
    const mismatch = error as CheckpointMismatchError;
    expect([...mismatch.missing].sort()).toEqual([
      'bert.encoder.layer.1.output.dense.bias',
      'bert.pooler.dense.weight',
    ]);
    expect(mismatch.unexpected).toEqual(['bert.encoder.layer.0.attention.self.rotary.weight']);
    expect(mismatch.mismatched.map((m) => [m.name, m.expected, m.found])).toEqual([
      ['bert.embeddings.LayerNorm.weight', [32], [31]],
      ['classifier.bias', [3], [2]],
    ]);
    expect(mismatch.message).toContain('bert.pooler.dense.weight');
  });

  it('reports a classifier with a different number of labels as mis-shaped, not silently replaced', async () => {
    const error = await loadBert(modelPath, { head: { numLabels: 2 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointMismatchError);
    expect((error as CheckpointMismatchError).mismatched.map((m) => m.name).sort()).toEqual([
      'classifier.bias',
      'classifier.weight',
    ]);
  });

  for (const dtype of ['F16', 'BF16'] as const) {
    it(`reads ${dtype} checkpoints as float32 (values rounded as stored) with close logits`, async () => {
      const directory = await write(dtype, original, dtype);
      const header = await readSafetensors(join(directory, 'model.safetensors'));
      expect(header.tensors.every((t) => t.dtype === dtype)).toBe(true);
      const low = await loadBert(directory, { head: { numLabels: 3 } });
      const full = await loadBert(modelPath, { head: { numLabels: 3 } });
      const rounded: Record<string, Float32Tensor> = {};
      for (const [name, t] of Object.entries(original)) {
        rounded[name] = {
          shape: t.shape,
          values: toFloat32({ name, dtype, shape: [...t.shape], data: fromFloat32(t.values, dtype) }),
        };
      }
      await expectValues(low.params, rounded);
      const ids = [[101, 7592, 2088, 102]];
      const batch = toEncodedBatch({
        inputIds: ids,
        tokenTypeIds: [[0, 0, 0, 0]],
        attentionMask: [[1, 1, 1, 1]],
      });
      const a = low.backbone.classify(low.params, batch, { training: false });
      const b = full.backbone.classify(full.params, batch, { training: false });
      const [va, vb] = [await a.data(), await b.data()];
      for (let i = 0; i < va.length; i++)
        expect(Math.abs(va[i]! - vb[i]!)).toBeLessThan(dtype === 'F16' ? 5e-3 : 5e-2);
      tf.dispose([a, b, batch.inputIds, batch.tokenTypeIds, batch.attentionMask]);
      disposeParameters(low.params);
      disposeParameters(full.params);
    });
  }

  it('loads sharded checkpoints through model.safetensors.index.json', async () => {
    const directory = await write('sharded', original);
    const names = Object.keys(original);
    const half = Math.ceil(names.length / 2);
    const shards = [names.slice(0, half), names.slice(half)];
    const weightMap: Record<string, string> = {};
    for (const [i, shard] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      const tensors = shard.map((name) => {
        weightMap[name] = file;
        const t = original[name]!;
        return { name, dtype: 'F32' as const, shape: [...t.shape], data: fromFloat32(t.values, 'F32') };
      });
      await writeFile(join(directory, file), Buffer.concat(serializeSafetensors(tensors)));
    }
    await writeFile(
      join(directory, 'model.safetensors.index.json'),
      JSON.stringify({ metadata: {}, weight_map: weightMap }),
    );
    await rm(join(directory, 'model.safetensors'));
    const loaded = await loadBert(directory, { head: { numLabels: 3 } });
    await expectValues(loaded.params, original);
    disposeParameters(loaded.params);

    await rm(join(directory, 'model-00002-of-00002.safetensors'));
    await expect(loadBert(directory, { head: { numLabels: 3 } })).rejects.toThrow(MissingResourceError);
  });

  it('round-trips parameters through writeBertCheckpoint', async () => {
    const loaded = await loadBert(modelPath, { head: { numLabels: 3 } });
    const arrays = await parametersToArrays(loaded.params);
    const directory = join(work, 'written');
    await writeBertCheckpoint(directory, {
      config: loaded.backbone.config,
      head: { numLabels: 3 },
      tensors: arrays,
      tokenizerFrom: modelPath,
    });
    const again = await loadBert(directory, { head: { numLabels: 3 } });
    await expectValues(again.params, original);
    expect((await readBertConfig(directory)).numLabels).toBe(3);
    expect(existsSync(join(directory, 'vocab.txt'))).toBe(true);
    disposeParameters(loaded.params);
    disposeParameters(again.params);
  });

  it('names the missing file and the problem field', async () => {
    await expect(
      loadBert(join(work, 'nowhere-but-a-dir-name'), { head: { numLabels: 2 }, offline: true }),
    ).rejects.toThrow(MissingResourceError);
    const bad = join(work, 'bad-config');
    await writeBertCheckpoint(bad, { config: { ...configJson, hidden_act: 'swish' }, tensors: {} });
    await expect(loadBert(bad, { head: { numLabels: 2 } })).rejects.toThrow(
      /hidden_act: expected one of gelu/,
    );
    expect(() => parseBertConfig({ hidden_size: 30, num_attention_heads: 4 })).toThrow(FormatError);
  });
});

describe('parameter specs', () => {
  it('has HF BertForSequenceClassification names and shapes (BERT-base counts)', () => {
    const config = parseBertConfig({ model_type: 'bert' });
    const specs = bertParameterSpecs(config, { numLabels: 2 });
    // 199 encoder tensors + 2 classifier tensors for BERT-base (method.md), 109,483,778 entries.
    expect(specs.length).toBe(201);
    expect(specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0)).toBe(109_483_778);
    expect(specs.find((s) => s.name === 'bert.encoder.layer.11.intermediate.dense.weight')).toEqual({
      name: 'bert.encoder.layer.11.intermediate.dense.weight',
      shape: [3072, 768],
      kind: 'weight',
      block: 'layer.11',
      head: false,
    });
    expect(specs.filter((s) => s.head).map((s) => s.name)).toEqual(['classifier.weight', 'classifier.bias']);
    expect(new Set(specs.map((s) => s.block))).toEqual(
      new Set(['embeddings', ...Array.from({ length: 12 }, (_, i) => `layer.${i}`), 'pooler', 'head']),
    );
  });
});
