import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import {
  type BackboneLoader,
  type EncodedText,
  type LoadBackboneOptions,
  type LoadedBackbone,
  MissingResourceError,
  type ModelFiles,
  type ModelSource,
  type TextPairEncoder,
} from '@diffprune/core';
import { checkVocabularyFits, loadTokenizer, type WordPieceTokenizer } from '@diffprune/tokenizers';
import { bertParametersFromCheckpoint } from './checkpoint.js';
import { readBertConfig, readCheckpointTensors } from './checkpoint-files.js';
import type { BertConfig } from './config.js';
import { bertModelFiles, resolveHubModel } from './hub.js';
import { BertBackbone } from './model.js';

/** True when `source` names an existing local directory (else it is taken as a hub id). */
export function isLocalModel(source: string): boolean {
  return existsSync(source) && statSync(source).isDirectory();
}

/**
 * Resolves a model source to a local directory: an existing directory as is (revision `local`),
 * otherwise a hub id downloaded into the cache (see `resolveHubModel`).
 */
export async function resolveModelSource(
  source: string,
  options: Omit<LoadBackboneOptions, 'head'> & { files?: ModelFiles } = {},
): Promise<ModelSource> {
  if (isLocalModel(source)) return { id: source, revision: 'local', directory: resolve(source) };
  return resolveHubModel(source, options);
}

/** An encoder for a model directory without vocab.txt: loading works, encoding says what is missing. */
class MissingVocabularyEncoder implements TextPairEncoder {
  readonly padId: number;
  constructor(
    private readonly path: string,
    padId: number,
  ) {
    this.padId = padId;
  }
  encode(): EncodedText {
    throw new MissingResourceError({
      resource: this.path,
      hint: 'this model directory has no WordPiece vocabulary, so it cannot encode text',
    });
  }
}

/**
 * Reads the WordPiece tokenizer of a model directory: tokenizer.json (what transformers ≥ 5 saves)
 * or vocab.txt, with the settings of tokenizer_config.json.
 */
export async function loadBertTokenizer(directory: string, name = directory): Promise<WordPieceTokenizer> {
  return (await loadTokenizer(directory, { expected: 'word-piece', name })) as WordPieceTokenizer;
}

/**
 * Loads a BERT checkpoint from a directory or a hub id: config.json, model.safetensors (or shards)
 * and tokenizer.json or vocab.txt. Parameters are float32 tensors under HF `BertForSequenceClassification` names; a
 * missing classifier is created (listed in `created`). The caller owns (and disposes) `params`.
 */
export async function loadBert(
  source: string,
  options: LoadBackboneOptions,
): Promise<LoadedBackbone<BertConfig>> {
  const resolved = await resolveModelSource(source, options);
  const { directory } = resolved;
  const config = await readBertConfig(directory);
  const vocabulary = join(directory, 'vocab.txt');
  const encoder =
    existsSync(vocabulary) || existsSync(join(directory, 'tokenizer.json'))
      ? await loadBertTokenizer(directory, resolved.id)
      : new MissingVocabularyEncoder(vocabulary, config.padTokenId);
  checkVocabularyFits(encoder, config.vocabSize, directory);
  const tensors = await readCheckpointTensors(directory);
  const { params, created } = bertParametersFromCheckpoint(tensors, config, {
    head: options.head,
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.replaceMismatchedHead ? { replaceMismatchedHead: true } : {}),
    source: resolved.id,
  });
  return { backbone: new BertBackbone(config, encoder), params, source: resolved, created };
}

/** The BERT entry of the trainer's backbone registry (keyed by config.json `model_type`). */
export const bertLoader: BackboneLoader<BertConfig> = {
  modelType: 'bert',
  files: bertModelFiles,
  headOutput: 'classifier.bias',
  load: loadBert,
};
