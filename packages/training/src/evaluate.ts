import { InvalidArgumentError, type LoadedBackbone, type ParameterMap } from '@diffprune/core';
import { computeMetrics, type GlueTask, readSplit } from '@diffprune/glue';
import * as tf from '@tensorflow/tfjs-core';
import { disposeBatch, type EncodedExample, encodeExamples, makeBatch } from './data.js';

/**
 * Predictions over encoded examples in batches (input order): class indices (argmax, first maximum
 * wins) or, for regression, the score. `parameters` is called inside a tidy for every batch, so a
 * stage can build θ on the fly without keeping it.
 */
export async function predictExamples(options: {
  backbone: {
    classify: (
      p: ParameterMap,
      b: ReturnType<typeof makeBatch>['batch'],
      o: { training: boolean },
    ) => tf.Tensor2D;
    encoder: { padId: number };
  };
  parameters: () => ParameterMap;
  examples: readonly EncodedExample[];
  numLabels: number;
  regression: boolean;
  batchSize?: number;
}): Promise<{ predictions: number[]; labels: number[] }> {
  const { backbone, examples, numLabels, regression } = options;
  const batchSize = options.batchSize ?? 32;
  const predictions: number[] = [];
  const labels: number[] = [];
  for (let start = 0; start < examples.length; start += batchSize) {
    const indices = Array.from({ length: Math.min(batchSize, examples.length - start) }, (_, i) => start + i);
    const { batch, labels: labelTensor } = makeBatch(examples, indices, backbone.encoder.padId, regression);
    const logits = tf.tidy(() => backbone.classify(options.parameters(), batch, { training: false }));
    const values = await logits.data();
    for (let r = 0; r < indices.length; r++) {
      if (regression) predictions.push(values[r]!);
      else {
        let arg = 0;
        for (let c = 1; c < numLabels; c++)
          if (values[r * numLabels + c]! > values[r * numLabels + arg]!) arg = c;
        predictions.push(arg);
      }
      labels.push(examples[indices[r]!]!.label);
    }
    logits.dispose();
    disposeBatch(batch, labelTensor);
  }
  return { predictions, labels };
}

/**
 * A loaded classifier's official GLUE metrics on each of a task's dev splits (MNLI: matched and
 * mismatched), read from `dataDirectory` and encoded with the backbone's own encoder.
 */
export async function evaluateTask(
  loaded: LoadedBackbone,
  task: GlueTask,
  options: { dataDirectory: string; maxLength?: number; batchSize?: number },
): Promise<Record<string, Record<string, number>>> {
  const results: Record<string, Record<string, number>> = {};
  for (const split of task.devSplits) {
    const { examples, path } = await readSplit(task, split, { dataDirectory: options.dataDirectory });
    // No rows would give `metrics: {}` (issue #15).
    if (examples.length === 0)
      throw new InvalidArgumentError({
        argument: `${task.displayName} ${split} split`,
        expected: 'at least one labelled row',
        found: `${path}, with none`,
      });
    const encoded = encodeExamples(
      loaded.backbone.encoder,
      examples,
      options.maxLength ?? Math.min(128, loaded.backbone.maxPositions),
    );
    const { predictions, labels } = await predictExamples({
      backbone: loaded.backbone,
      parameters: () => loaded.params,
      examples: encoded,
      numLabels: task.numLabels,
      regression: task.kind === 'regression',
      ...(options.batchSize !== undefined ? { batchSize: options.batchSize } : {}),
    });
    results[split] = computeMetrics(task, predictions, labels);
  }
  return results;
}
