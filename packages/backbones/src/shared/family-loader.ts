import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parametersFromCheckpoint, readCheckpointTensors, resolveModelSource } from '@diffprune/bert';
import {
  type Backbone,
  type BackboneLoader,
  FormatError,
  type LoadBackboneOptions,
  type LoadedBackbone,
  MissingResourceError,
  type ModelFiles,
  type TextPairEncoder,
  type TokenizerKind,
} from '@diffprune/core';
import { checkVocabularyFits, loadTokenizer } from '@diffprune/tokenizers';

/** What a family supplies; `familyLoader` does the rest (hub or directory, tokenizer, checkpoint checks). */
export interface FamilyDefinition<Config> {
  modelType: string;
  files: ModelFiles;
  tokenizer: TokenizerKind;
  /** The head parameter whose first dimension is the label count. */
  headOutput: string;
  /** Parses and validates config.json (FormatError naming the field on bad input). */
  parseConfig(json: unknown, path: string): Config;
  create(config: Config, encoder: TextPairEncoder): Backbone<Config>;
  /** A checkpoint key's spec name, or undefined to ignore it. */
  canonicalName(key: string): string | undefined;
  initializerRange(config: Config): number;
  /** config.json's `vocab_size`: the word-embedding rows (a larger tokenizer is refused). */
  vocabSize(config: Config): number;
}

/** Reads a model directory's config.json as JSON. */
export async function readConfigJson(directory: string): Promise<{ json: unknown; path: string }> {
  const path = join(directory, 'config.json');
  if (!existsSync(path)) {
    throw new MissingResourceError({
      resource: path,
      hint: 'an HF model directory holds config.json, model.safetensors and its tokenizer files',
    });
  }
  try {
    return { json: JSON.parse(await readFile(path, 'utf8')), path };
  } catch (error) {
    throw new FormatError({ path, expected: 'valid JSON', found: (error as Error).message });
  }
}

/**
 * The loader of a family: resolves the source (directory, or hub id downloaded with the family's
 * files), parses config.json, reads the tokenizer the family needs and the safetensors checkpoint,
 * and checks every key and shape against the backbone's specs (head created when absent).
 */
export function familyLoader<Config>(family: FamilyDefinition<Config>): BackboneLoader<Config> {
  return {
    modelType: family.modelType,
    files: family.files,
    headOutput: family.headOutput,
    async load(source: string, options: LoadBackboneOptions): Promise<LoadedBackbone<Config>> {
      const resolved = await resolveModelSource(source, { ...options, files: family.files });
      const { directory } = resolved;
      const { json, path } = await readConfigJson(directory);
      const config = family.parseConfig(json, path);
      const encoder = await loadTokenizer(directory, { expected: family.tokenizer, name: resolved.id });
      checkVocabularyFits(encoder, family.vocabSize(config), directory);
      const backbone = family.create(config, encoder);
      const { params, created } = parametersFromCheckpoint(
        await readCheckpointTensors(directory),
        backbone.parameterSpecs(options.head),
        {
          canonicalName: family.canonicalName,
          source: resolved.id,
          initializerRange: family.initializerRange(config),
          ...(options.seed !== undefined ? { seed: options.seed } : {}),
          ...(options.replaceMismatchedHead ? { replaceMismatchedHead: true } : {}),
        },
      );
      return { backbone, params, source: resolved, created };
    },
  };
}

/** Tokenizer files of WordPiece families (tokenizer.json or vocab.txt) and of byte-level BPE ones. */
export const wordPieceFiles: ModelFiles = {
  required: ['config.json'],
  oneOf: [['tokenizer.json', 'vocab.txt']],
  optional: ['tokenizer_config.json', 'special_tokens_map.json'],
};
export const byteLevelBpeFiles: ModelFiles = {
  required: ['config.json', 'tokenizer.json'],
  oneOf: [],
  optional: ['tokenizer_config.json', 'special_tokens_map.json'],
};
