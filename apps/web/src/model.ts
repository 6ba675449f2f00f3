import {
  BertBackbone,
  type BertConfig,
  bertParametersFromCheckpoint,
  type CheckpointTensor,
  decodeCheckpointTensor,
  parseBertConfig,
} from '@diffprune/bert';
import { FormatError, type ParameterMap, parseSafetensors } from '@diffprune/core';
import {
  applyDiffToParameters,
  decodeDiff,
  fingerprintTensors,
  type SparseDiff,
} from '@diffprune/sparse-diff';
import {
  padEncoded,
  toEncodedBatch,
  tokenizerOptionsFromJson,
  WordPieceTokenizer,
} from '@diffprune/tokenizers';
import * as tf from '@tensorflow/tfjs-core';

// The page's model, browser-safe (no Node builtin): a BERT base built from its files' bytes, and a
// task diff applied to it as Node's `loadWithDiff` (@diffprune/training) does for `diffprune predict`:
// the base head is re-created for the diff's label count, then @diffprune/sparse-diff's
// `applyDiffToParameters` (which `loadWithDiff` calls too) checks the diff against the base
// fingerprint, applies it to the base parameters and takes the head from the diff.

/** A base model's files, as fetched: config.json, vocab.txt, model.safetensors (+ tokenizer settings). */
export interface BaseFiles {
  /** The model's name (its id or directory name): the tokenizer's case guess reads it, as in Node. */
  name: string;
  config: unknown;
  vocabulary: string;
  weights: Uint8Array;
  /** tokenizer_config.json and tokenizer.json, parsed, where the model has them. */
  tokenizerConfig?: Record<string, unknown>;
  tokenizerJson?: Record<string, unknown>;
}

export interface BaseModel {
  name: string;
  config: BertConfig;
  backbone: BertBackbone;
  checkpoint: CheckpointTensor[];
  /** sha256 over the checkpoint's tensors, as `fingerprintCheckpoint` computes it in Node. */
  fingerprint: string;
}

/** Builds the base: config, tokenizer, checkpoint tensors (float32, checked finite) and fingerprint. */
export function loadBase(files: BaseFiles): BaseModel {
  const config = parseBertConfig(files.config, 'config.json');
  const options = tokenizerOptionsFromJson(files.name, files.tokenizerJson, files.tokenizerConfig);
  const tokenizer = WordPieceTokenizer.fromVocabularyText(files.vocabulary, options);
  if (tokenizer.tokens.length > config.vocabSize)
    throw new FormatError({
      path: 'vocab.txt',
      expected: `at most config.json vocab_size ${config.vocabSize} tokens`,
      found: `${tokenizer.tokens.length} tokens`,
    });
  const file = parseSafetensors(files.weights, { path: 'model.safetensors' });
  return {
    name: files.name,
    config,
    backbone: new BertBackbone(config, tokenizer),
    checkpoint: file.tensors.map((t) => decodeCheckpointTensor(t, 'model.safetensors')),
    fingerprint: fingerprintTensors(file.tensors),
  };
}

export interface TaskModel {
  diff: SparseDiff;
  numLabels: number;
  params: ParameterMap;
}

/** Decodes a diff (checksum checked) and applies it to the base; the caller disposes `params`. */
export async function applyTaskDiff(base: BaseModel, bytes: Uint8Array, path: string): Promise<TaskModel> {
  const diff = decodeDiff(bytes, { path });
  const numLabels = diff.tensors.find((t) => t.name === 'classifier.bias')?.shape[0];
  if (numLabels === undefined)
    throw new FormatError({
      path,
      expected: 'a diff with a classifier head (classifier.bias)',
      found: 'none',
    });
  const { params: loaded, created } = bertParametersFromCheckpoint(base.checkpoint, base.config, {
    head: { numLabels },
    replaceMismatchedHead: true,
    source: base.name,
  });
  try {
    const params = await applyDiffToParameters(loaded, diff, { created, baseFingerprint: base.fingerprint });
    return { diff, numLabels, params };
  } finally {
    tf.dispose(Object.values(loaded));
  }
}

/** The logits of one input (a sentence, or a pair), as `predictTexts` computes them in Node. */
export async function classify(
  base: BaseModel,
  task: TaskModel,
  textA: string,
  textB: string | null = null,
): Promise<number[]> {
  const maxLength = Math.min(128, base.backbone.maxPositions);
  const encoded = base.backbone.encoder.encode(textA, textB, { maxLength });
  const batch = toEncodedBatch(padEncoded([encoded], base.backbone.encoder.padId));
  const logits = base.backbone.classify(task.params, batch, { training: false });
  const rows = (await logits.array()) as number[][];
  tf.dispose([logits, batch.inputIds, batch.tokenTypeIds, batch.attentionMask]);
  return rows[0]!;
}
