import { BertBackbone, parseBertConfig, writeBertCheckpoint } from '@diffprune/bert';
import { createRng } from '@diffprune/core';
import {
  type BaseFilesHashes,
  createDiff,
  fingerprintCheckpoint,
  type TensorArrays,
  writeDiff,
} from '@diffprune/sparse-diff';
import { loadBackbone, parameterArrays } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';

/** Short movie-review sentences: the request texts of the serving benchmarks. */
export const sampleSentences = [
  'a gripping , funny and moving film',
  'the plot is thin and the jokes fall flat',
  'an unremarkable sequel that nobody asked for',
  'one of the best performances of the year',
  'it looks great but says very little',
  'a dull , overlong mess',
  'sharp writing and a terrific cast',
  'i wanted to like it more than i did',
];

/** Words of the test vocabulary (after the special tokens). */
export const testWords = [
  'a',
  'great',
  'film',
  'dull',
  'plot',
  'the',
  'is',
  'not',
  'good',
  'bad',
  'movie',
  'fun',
];

const testConfig = {
  model_type: 'bert',
  vocab_size: 5 + testWords.length,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 32,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 32,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
};

/**
 * Writes a small, seeded, randomly initialised BERT (HF layout, no head, a WordPiece vocabulary of
 * {@link testWords}) into `directory`; returns its tensors and fingerprint.
 */
export async function writeRandomBert(
  directory: string,
  seed = 1,
): Promise<{ base: TensorArrays; fingerprint: string }> {
  const config = parseBertConfig(testConfig, 'test config');
  const backbone = new BertBackbone(config, { padId: 0, encode: () => ({ inputIds: [], tokenTypeIds: [] }) });
  const rng = createRng(seed);
  const base: TensorArrays = {};
  for (const spec of backbone.parameterSpecs({ numLabels: 2 })) {
    if (spec.head) continue;
    const size = spec.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(size);
    if (spec.kind === 'norm-weight') values.fill(1);
    else {
      const stream = rng.fork(spec.name);
      // Biases and LayerNorm shifts nonzero too, so every tensor matters to the logits.
      for (let i = 0; i < size; i++)
        values[i] = stream.normal() * (spec.kind === 'weight' || spec.kind === 'embedding' ? 0.2 : 0.05);
    }
    base[spec.name] = { shape: [...spec.shape], values };
  }
  await writeBertCheckpoint(directory, {
    config: testConfig,
    tensors: base,
    vocabulary: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...testWords],
  });
  return { base, fingerprint: await fingerprintCheckpoint(directory) };
}

/**
 * Writes a synthetic task diff for a base from {@link writeRandomBert}: a seeded random δ at
 * `density` of every tensor's entries and a new classifier head with `numLabels` outputs.
 */
export async function writeRandomDiff(
  path: string,
  options: {
    base: TensorArrays;
    fingerprint: string;
    seed: number;
    numLabels: number;
    task?: string;
    density?: number;
    settings?: Record<string, unknown>;
    /** The head's weight and bias names (default BERT's `classifier.weight`/`classifier.bias`). */
    head?: { weight: string; bias: string };
    /** The head's input width (default BERT's pooler width). */
    hidden?: number;
    /** The base's config and tokenizer hashes to record (`fingerprintBaseFiles`); default none. */
    baseFiles?: BaseFilesHashes;
    /** Tensors stored whole (`replace`) instead of as a sparse δ. */
    dense?: string[];
  },
): Promise<void> {
  const rng = createRng(options.seed);
  const density = options.density ?? 0.05;
  const tuned: TensorArrays = {};
  for (const [name, t] of Object.entries(options.base)) {
    const values = t.values.slice();
    const stream = rng.fork(name);
    for (let i = 0; i < values.length; i++)
      if (stream.uniform() < density) values[i] = values[i]! + stream.normal() * 0.5;
    tuned[name] = { shape: t.shape, values };
  }
  const names = options.head ?? { weight: 'classifier.weight', bias: 'classifier.bias' };
  const hidden = options.hidden ?? options.base['bert.pooler.dense.bias']!.shape[0]!;
  const head = rng.fork('head');
  tuned[names.weight] = {
    shape: [options.numLabels, hidden],
    values: Float32Array.from({ length: options.numLabels * hidden }, () => head.normal()),
  };
  tuned[names.bias] = {
    shape: [options.numLabels],
    values: Float32Array.from({ length: options.numLabels }, () => head.normal() * 0.1),
  };
  const diff = createDiff({
    base: options.base,
    tuned,
    ...(options.dense ? { dense: options.dense } : {}),
    provenance: {
      baseModel: { id: 'random-bert', revision: 'local' },
      baseFingerprint: options.fingerprint,
      ...(options.baseFiles ? { baseFiles: options.baseFiles } : {}),
      method: 'diff-pruning',
      settings: options.settings ?? {},
      task: options.task ?? 'custom',
    },
  });
  await writeDiff(path, diff);
}

/**
 * The base tensors a diff for a finetuned checkpoint (e.g. the RoBERTa/ELECTRA fixtures with a
 * 3-label `classifier.out_proj`) is made against: the checkpoint's, the head it re-creates left out;
 * with `created` (those names), `hidden` (the head's input width) and the checkpoint's fingerprint.
 */
export async function checkpointBase(
  directory: string,
): Promise<{ base: TensorArrays; created: string[]; hidden: number; fingerprint: string }> {
  const loaded = await loadBackbone(directory, { head: { numLabels: 2 }, replaceMismatchedHead: true });
  const created = new Set(loaded.created);
  const base = await parameterArrays(
    Object.fromEntries(Object.entries(loaded.params).filter(([name]) => !created.has(name))),
  );
  const hidden = loaded.backbone
    .parameterSpecs({ numLabels: 2 })
    .find((s) => s.name === 'classifier.dense.bias')!.shape[0]!;
  tf.dispose(Object.values(loaded.params));
  return { base, created: [...created].sort(), hidden, fingerprint: await fingerprintCheckpoint(directory) };
}
