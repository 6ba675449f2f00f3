import { CheckpointMismatchError, disposeParameters, type ParameterSpec } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { parametersFromCheckpoint } from './checkpoint.js';
import { parseBertConfig } from './config.js';
import { bertParameterSpecs, classifierParameterNames } from './parameters.js';

const specs: ParameterSpec[] = [
  { name: 'encoder.weight', shape: [2, 2], kind: 'weight', block: 'layer.0', head: false },
  { name: 'classifier.dense.weight', shape: [2, 2], kind: 'weight', block: 'head', head: true },
  { name: 'classifier.out_proj.weight', shape: [2, 2], kind: 'weight', block: 'head', head: true },
  { name: 'classifier.out_proj.bias', shape: [2], kind: 'bias', block: 'head', head: true },
];
// A finetuned checkpoint with a 3-label head (RoBERTa-style: dense fits, out_proj does not).
const tensors = [
  { name: 'encoder.weight', shape: [2, 2], values: Float32Array.from([1, 2, 3, 4]) },
  { name: 'classifier.dense.weight', shape: [2, 2], values: Float32Array.from([5, 6, 7, 8]) },
  { name: 'classifier.out_proj.weight', shape: [3, 2], values: new Float32Array(6).fill(9) },
  { name: 'classifier.out_proj.bias', shape: [3], values: new Float32Array(3).fill(9) },
];
const options = { canonicalName: (key: string) => key, source: 'fixture', initializerRange: 0.02, seed: 1 };

describe('parametersFromCheckpoint with a head of another label count', () => {
  it('is a CheckpointMismatchError naming the head tensors by default', () => {
    const before = tf.memory().numTensors;
    expect(() => parametersFromCheckpoint(tensors, specs, options)).toThrow(CheckpointMismatchError);
    expect(() => parametersFromCheckpoint(tensors, specs, options)).toThrow(/classifier\.out_proj\.weight/);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('re-creates only the mismatched head tensors with replaceMismatchedHead (HF ignore_mismatched_sizes)', async () => {
    const before = tf.memory().numTensors;
    const { params, created } = parametersFromCheckpoint(tensors, specs, {
      ...options,
      replaceMismatchedHead: true,
    });
    expect(created.sort()).toEqual(['classifier.out_proj.bias', 'classifier.out_proj.weight']);
    expect(Array.from(await params['encoder.weight']!.data())).toEqual([1, 2, 3, 4]);
    expect(Array.from(await params['classifier.dense.weight']!.data())).toEqual([5, 6, 7, 8]);
    expect(params['classifier.out_proj.weight']!.shape).toEqual([2, 2]);
    expect(Array.from(await params['classifier.out_proj.bias']!.data())).toEqual([0, 0]);
    const weights = Array.from(await params['classifier.out_proj.weight']!.data());
    expect(weights.every((w) => w !== 9 && Math.abs(w) < 0.2)).toBe(true);
    disposeParameters(params);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('still refuses a mismatched encoder tensor with replaceMismatchedHead', () => {
    const bad = [{ ...tensors[0]!, shape: [4], values: new Float32Array(4) }, ...tensors.slice(1)];
    expect(() => parametersFromCheckpoint(bad, specs, { ...options, replaceMismatchedHead: true })).toThrow(
      /encoder\.weight/,
    );
  });
});

// The two rules BERT's loader and the other families' once applied differently, settled here.
describe('the head parametersFromCheckpoint creates (one rule for every family)', () => {
  it("BERT's head is found by `spec.head`: its head specs are exactly classifierParameterNames", () => {
    const config = parseBertConfig(
      { vocab_size: 10, hidden_size: 4, num_hidden_layers: 1, num_attention_heads: 1, intermediate_size: 8 },
      'config.json',
    );
    const heads = bertParameterSpecs(config, { numLabels: 3 }).filter((spec) => spec.head);
    expect(heads.map((spec) => spec.name).sort()).toEqual([...classifierParameterNames].sort());
  });

  it("follows HF's _init_weights: every Linear weight N(0, initializer_range²), every bias 0", async () => {
    // A DistilBERT-style two-layer head: pre_classifier (Linear) and classifier (Linear).
    const head: ParameterSpec[] = [
      { name: 'encoder.weight', shape: [2, 2], kind: 'weight', block: 'layer.0', head: false },
      { name: 'pre_classifier.weight', shape: [64, 64], kind: 'weight', block: 'head', head: true },
      { name: 'pre_classifier.bias', shape: [64], kind: 'bias', block: 'head', head: true },
      { name: 'classifier.weight', shape: [32, 64], kind: 'weight', block: 'head', head: true },
      { name: 'classifier.bias', shape: [32], kind: 'bias', block: 'head', head: true },
    ];
    const before = tf.memory().numTensors;
    const { params, created } = parametersFromCheckpoint([tensors[0]!], head, {
      ...options,
      initializerRange: 0.05,
    });
    expect(created).toEqual(head.slice(1).map((spec) => spec.name));
    for (const name of ['pre_classifier.weight', 'classifier.weight']) {
      const values = Array.from(await params[name]!.data());
      const mean = values.reduce((a, b) => a + b, 0) / values.length;
      const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
      // 2048+ samples: the sample sd is within 5 % of 0.05 and the mean within 4 standard errors of 0.
      expect(Math.abs(sd - 0.05) / 0.05, name).toBeLessThan(0.05);
      expect(Math.abs(mean), name).toBeLessThan((4 * 0.05) / Math.sqrt(values.length));
    }
    for (const name of ['pre_classifier.bias', 'classifier.bias'])
      expect((await params[name]!.data()).every((v) => v === 0)).toBe(true);
    disposeParameters(params);
    expect(tf.memory().numTensors).toBe(before);
  });
});
