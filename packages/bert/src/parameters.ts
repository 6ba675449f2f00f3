import type { HeadSpec, ParameterKind, ParameterSpec } from '@diffprune/core';
import type { BertConfig } from './config.js';

/**
 * BERT's parameters under HF `BertForSequenceClassification` names, verbatim. Shapes as HF
 * (Linear weights [out, in]).
 */
export function bertParameterSpecs(config: BertConfig, head: HeadSpec): ParameterSpec[] {
  const h = config.hiddenSize;
  const specs: ParameterSpec[] = [];
  const add = (name: string, shape: number[], kind: ParameterKind, block: string) =>
    specs.push({ name, shape, kind, block, head: block === 'head' });
  const dense = (prefix: string, out: number, input: number, block: string) => {
    add(`${prefix}.weight`, [out, input], 'weight', block);
    add(`${prefix}.bias`, [out], 'bias', block);
  };
  const norm = (prefix: string, block: string) => {
    add(`${prefix}.weight`, [h], 'norm-weight', block);
    add(`${prefix}.bias`, [h], 'norm-bias', block);
  };

  add('bert.embeddings.word_embeddings.weight', [config.vocabSize, h], 'embedding', 'embeddings');
  add(
    'bert.embeddings.position_embeddings.weight',
    [config.maxPositionEmbeddings, h],
    'embedding',
    'embeddings',
  );
  add('bert.embeddings.token_type_embeddings.weight', [config.typeVocabSize, h], 'embedding', 'embeddings');
  norm('bert.embeddings.LayerNorm', 'embeddings');
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const prefix = `bert.encoder.layer.${i}`;
    const block = `layer.${i}`;
    dense(`${prefix}.attention.self.query`, h, h, block);
    dense(`${prefix}.attention.self.key`, h, h, block);
    dense(`${prefix}.attention.self.value`, h, h, block);
    dense(`${prefix}.attention.output.dense`, h, h, block);
    norm(`${prefix}.attention.output.LayerNorm`, block);
    dense(`${prefix}.intermediate.dense`, config.intermediateSize, h, block);
    dense(`${prefix}.output.dense`, h, config.intermediateSize, block);
    norm(`${prefix}.output.LayerNorm`, block);
  }
  dense('bert.pooler.dense', h, h, 'pooler');
  dense('classifier', head.numLabels, h, 'head');
  return specs;
}

/** The head's parameter names. */
export const classifierParameterNames = ['classifier.weight', 'classifier.bias'] as const;

/**
 * Maps a checkpoint key to its canonical name, or `undefined` for keys that are ignored on load
 * (MLM/NSP heads `cls.*`, the `position_ids` buffer). Accepts keys without the `bert.` prefix
 * (`BertModel` checkpoints) and TF-era LayerNorm names `gamma`/`beta`.
 */
export function canonicalParameterName(key: string): string | undefined {
  if (key.startsWith('cls.')) return undefined;
  if (key.endsWith('.position_ids')) return undefined;
  let name = key
    .replace(/\.LayerNorm\.gamma$/, '.LayerNorm.weight')
    .replace(/\.LayerNorm\.beta$/, '.LayerNorm.bias');
  if (
    !name.startsWith('bert.') &&
    !name.startsWith('classifier.') &&
    /^(embeddings|encoder|pooler)\./.test(name)
  ) {
    name = `bert.${name}`;
  }
  return name;
}
