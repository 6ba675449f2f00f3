import { backboneLoaders } from '@diffprune/backbones';

/**
 * The backbone registry (keyed by `config.json`'s `model_type`) lives in @diffprune/backbones; the
 * training library loads every model through it.
 */
export { backboneLoaders, loadBackbone } from '@diffprune/backbones';

/**
 * The number of head outputs in a set of tensors (a diff's, a checkpoint's): the first dimension of
 * the head output parameter of any registered family (`classifier.bias` for BERT and DistilBERT,
 * `classifier.out_proj.bias` for RoBERTa and ELECTRA); undefined without a head.
 */
export function headOutputs(
  tensors: readonly { name: string; shape: readonly number[] }[],
): number | undefined {
  const outputs = new Set(
    Object.values(backboneLoaders).map((loader) => loader.headOutput ?? 'classifier.bias'),
  );
  return tensors.find((t) => outputs.has(t.name))?.shape[0];
}
