import { bertLoader, resolveModelSource } from '@diffprune/bert';
import {
  type BackboneLoader,
  InvalidArgumentError,
  type LoadBackboneOptions,
  type LoadedBackbone,
  upgradeBackbone,
} from '@diffprune/core';
import { distilbertLoader } from './distilbert/load.js';
import { electraLoader } from './electra/load.js';
import { robertaLoader } from './roberta/load.js';
import { readConfigJson } from './shared/family-loader.js';

/**
 * Every backbone diffprune knows, keyed by the HF `config.json` `model_type`. Adding a family is its
 * own folder (or package) implementing the spec in @diffprune/core, plus one line here.
 */
export const backboneLoaders: Readonly<Record<string, BackboneLoader>> = {
  bert: bertLoader as BackboneLoader,
  distilbert: distilbertLoader as BackboneLoader,
  roberta: robertaLoader as BackboneLoader,
  electra: electraLoader as BackboneLoader,
};

/**
 * The label count a set of tensors (a diff's, a checkpoint's) gives a family's head: the first
 * dimension of its `headOutput` parameter; undefined when the tensors have no head.
 */
export function headSizeOf(
  modelType: string,
  tensors: readonly { name: string; shape: readonly number[] }[],
  loaders: Readonly<Record<string, BackboneLoader>> = backboneLoaders,
): number | undefined {
  const output = loaders[modelType]?.headOutput ?? 'classifier.bias';
  return tensors.find((t) => t.name === output)?.shape[0];
}

/** The `model_type` of a model directory's config.json (absent: `bert`, as older BERT checkpoints). */
export async function readModelType(directory: string): Promise<string> {
  const { json, path } = await readConfigJson(directory);
  const modelType = (json as { model_type?: unknown } | null)?.model_type ?? 'bert';
  if (typeof modelType !== 'string') {
    throw new InvalidArgumentError({
      argument: 'model_type',
      expected: 'a string',
      found: modelType,
      context: path,
    });
  }
  return modelType;
}

/**
 * Loads a model from a directory or a hub id (downloaded into the cache first: the HF hub layout is
 * the same for every family), choosing the backbone by its config's model_type. A v1 backbone is
 * upgraded to the current specification.
 */
export async function loadBackbone(
  source: string,
  options: LoadBackboneOptions,
  loaders: Readonly<Record<string, BackboneLoader>> = backboneLoaders,
): Promise<LoadedBackbone> {
  // config.json and the weights first (the family's loader then fetches the tokenizer files it needs).
  const { directory } = await resolveModelSource(source, {
    ...options,
    files: { required: ['config.json'], oneOf: [], optional: [] },
  });
  const modelType = await readModelType(directory);
  const loader = loaders[modelType];
  if (!loader) {
    throw new InvalidArgumentError({
      argument: 'model_type',
      expected: `one of ${Object.keys(loaders).join(', ')} (see docs/adding-a-backbone.md to add one)`,
      found: modelType,
      context: source,
    });
  }
  const loaded = await loader.load(source, options);
  return { ...loaded, backbone: upgradeBackbone(loaded.backbone) };
}
