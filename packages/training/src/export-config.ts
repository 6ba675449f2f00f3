/** `config.json` keys that make a checkpoint a sequence classifier (HF transformers' names). */
const classifierKeys = ['num_labels', 'id2label', 'label2id', 'problem_type'] as const;

/** HF transformers' class-name prefix of each registered family (`DistilBert`, not `Distilbert`). */
const familyPrefixes: Readonly<Record<string, string>> = {
  bert: 'Bert',
  distilbert: 'DistilBert',
  roberta: 'Roberta',
  electra: 'Electra',
};

/**
 * The config.json of a merged task model: the base's config with the sequence-classification head
 * declared as HF transformers reads it — `architectures` (`<Model>ForSequenceClassification`),
 * `num_labels`, `id2label`/`label2id` (the diff's label names, else `LABEL_<i>`) and `problem_type`
 * (`regression` for one output, else `single_label_classification`). The base's architectures are
 * kept as `diffprune_base_architectures`, so that reverting can restore them.
 */
export function classifierConfig(
  base: Record<string, unknown>,
  head: { numLabels: number; labels?: readonly string[] },
): Record<string, unknown> {
  const modelType = typeof base.model_type === 'string' ? base.model_type : 'bert';
  const architectures = Array.isArray(base.architectures) ? (base.architectures as unknown[]) : [];
  const first = typeof architectures[0] === 'string' ? architectures[0] : undefined;
  const prefix =
    familyPrefixes[modelType] ??
    (first?.replace(/(For\w+|Model)$/, '') || `${modelType[0]!.toUpperCase()}${modelType.slice(1)}`);
  const labels =
    head.labels?.length === head.numLabels
      ? [...head.labels]
      : Array.from({ length: head.numLabels }, (_, i) => `LABEL_${i}`);
  const config: Record<string, unknown> = { ...base };
  if (base.diffprune_base_architectures === undefined && architectures.length > 0)
    config.diffprune_base_architectures = architectures;
  return {
    ...config,
    architectures: [`${prefix}ForSequenceClassification`],
    num_labels: head.numLabels,
    id2label: Object.fromEntries(labels.map((label, i) => [String(i), label])),
    label2id: Object.fromEntries(labels.map((label, i) => [label, i])),
    problem_type: head.numLabels === 1 ? 'regression' : 'single_label_classification',
  };
}

/** The base's config back from a merged task model's ({@link classifierConfig} undone). */
export function baseConfig(merged: Record<string, unknown>): Record<string, unknown> {
  const config: Record<string, unknown> = { ...merged };
  for (const key of classifierKeys) delete config[key];
  if (Array.isArray(merged.diffprune_base_architectures))
    config.architectures = merged.diffprune_base_architectures;
  delete config.diffprune_base_architectures;
  return config;
}
