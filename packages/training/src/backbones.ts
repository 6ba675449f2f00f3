import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bertLoader, resolveModelSource } from '@diffprune/bert';
import {
  type BackboneLoader,
  InvalidArgumentError,
  type LoadBackboneOptions,
  type LoadedBackbone,
} from '@diffprune/core';

/**
 * Every backbone the trainer knows, keyed by the HF `config.json` `model_type`. Adding a backbone
 * (RoBERTa, DistilBERT, …) is one package implementing the spec in @diffprune/core and one line here.
 */
export const backboneLoaders: Record<string, BackboneLoader> = {
  bert: bertLoader as BackboneLoader,
};

/**
 * Loads a model from a directory or a hub id (downloaded into the cache first: the HF hub layout is
 * the same for every backbone), choosing the backbone by its config's model_type.
 */
export async function loadBackbone(source: string, options: LoadBackboneOptions): Promise<LoadedBackbone> {
  const { directory } = await resolveModelSource(source, options);
  let modelType = 'bert';
  const config = join(directory, 'config.json');
  if (existsSync(config)) {
    modelType = (JSON.parse(readFileSync(config, 'utf8')) as { model_type?: string }).model_type ?? 'bert';
  }
  const loader = backboneLoaders[modelType];
  if (!loader) {
    throw new InvalidArgumentError({
      argument: 'model_type',
      expected: `one of ${Object.keys(backboneLoaders).join(', ')}`,
      found: modelType,
      context: source,
    });
  }
  return loader.load(source, options);
}
