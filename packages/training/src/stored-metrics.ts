import type { LoadedBackbone } from '@diffprune/core';
import { selectSubset } from '@diffprune/glue';
import { applyDiff, type SparseDiff } from '@diffprune/sparse-diff';
import * as tf from '@tensorflow/tfjs-core';
import { encodeExamples, parameterArrays } from './data.js';
import { predictExamples } from './evaluate.js';
import type { TrainSettings } from './settings.js';
import type { TaskData } from './task-data.js';

/**
 * Dev metrics of a diff as stored (e.g. F16 or I8 values), applied to the loaded base: the same dev
 * examples the trainer evaluated (its seeded `maxEvalExamples` subset), so that a run's summary
 * describes the file it wrote and not the float32 θ it trained.
 */
export async function storedDiffMetrics(
  loaded: LoadedBackbone,
  diff: SparseDiff,
  task: Pick<TaskData, 'dev' | 'numLabels' | 'kind' | 'computeMetrics'>,
  settings: Pick<TrainSettings, 'seed' | 'maxEvalExamples' | 'maxLength'>,
): Promise<Record<string, number>> {
  const created = new Set(loaded.created);
  const base = await parameterArrays(
    Object.fromEntries(Object.entries(loaded.params).filter(([name]) => !created.has(name))),
  );
  const tuned = applyDiff(base, diff);
  const params = Object.fromEntries(
    Object.entries(tuned).map(([name, t]) => [name, tf.tensor(t.values, t.shape, 'float32')]),
  );
  try {
    const dev = selectSubset(task.dev.length, settings.maxEvalExamples, settings.seed + 1).map(
      (i) => task.dev[i]!,
    );
    const { predictions, labels } = await predictExamples({
      backbone: loaded.backbone,
      parameters: () => params,
      examples: encodeExamples(loaded.backbone.encoder, dev, settings.maxLength),
      numLabels: task.numLabels,
      regression: task.kind === 'regression',
    });
    return task.computeMetrics(predictions, labels);
  } finally {
    tf.dispose(Object.values(params));
  }
}
