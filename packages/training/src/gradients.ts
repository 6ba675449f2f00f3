import type { EncodedBatch, LoadedBackbone } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { taskLoss } from './data.js';
import {
  emptyTrainables,
  type GateChoice,
  type RowLookup,
  type StageModel,
  type Trainables,
  trainableRoles,
} from './stages.js';

export interface GradientInputs {
  backbone: LoadedBackbone['backbone'];
  model: StageModel;
  trainables: Trainables;
  gate: GateChoice | undefined;
  batch: EncodedBatch;
  labels: tf.Tensor1D;
  regression: boolean;
  lambda: number;
  training: boolean;
  seed?: number;
  /**
   * Gate only the token-embedding rows this batch looks up (default true where the backbone names its
   * token embedding and the stage supports it): the same loss and gradients, far less work.
   */
  embeddingRows?: boolean;
}

export interface GradientResult {
  /** Task loss + λ·penalty. */
  loss: tf.Scalar;
  taskLoss: tf.Scalar;
  /** The penalty (expected L0 in the stage's form), when the stage has one. */
  penalty: tf.Scalar | undefined;
  grads: Trainables;
}

/**
 * One evaluation of the training objective and its gradients with respect to every trainable:
 * θ is built by the stage (a parameter substitution), the backbone's classify runs on it, the task
 * loss is mean cross-entropy (or MSE for regression), plus λ times the stage's penalty.
 */
export function computeGradients(inputs: GradientInputs): GradientResult {
  // Every trainable as (role, name), in order: the arguments valueAndGrads differentiates.
  const keys = trainableRoles.flatMap((role) =>
    Object.keys(inputs.trainables[role]).map((name) => [role, name] as const),
  );
  const table = inputs.backbone.tokenEmbedding;
  let lookup: RowLookup | undefined;
  let batch = inputs.batch;
  if ((inputs.embeddingRows ?? true) && table && inputs.model.supportsRowLookup) {
    const ids = inputs.batch.inputIds.dataSync() as Int32Array;
    const rows = Int32Array.from(new Set(ids)).sort();
    const position = new Map<number, number>();
    for (const [i, row] of rows.entries()) position.set(row, i);
    const remapped = Int32Array.from(ids, (id) => position.get(id)!);
    lookup = { name: table, rows };
    batch = { ...inputs.batch, inputIds: tf.tensor2d(remapped, inputs.batch.inputIds.shape, 'int32') };
  }
  let taskLossOut: tf.Scalar | undefined;
  let penaltyOut: tf.Scalar | undefined;
  const { value, grads } = tf.tidy(() =>
    tf.valueAndGrads((...xs: tf.Tensor[]) => {
      const current = emptyTrainables();
      keys.forEach(([role, name], i) => {
        current[role][name] = xs[i]!;
      });
      const { params, penalty } = inputs.model.objective
        ? inputs.model.objective(current, inputs.gate, lookup)
        : {
            params: inputs.model.parameters(current, inputs.gate, lookup),
            penalty: inputs.model.penalty?.(current),
          };
      const logits = inputs.backbone.classify(params, batch, {
        training: inputs.training,
        ...(inputs.seed !== undefined ? { seed: inputs.seed } : {}),
      });
      const lossTask = taskLoss(logits, inputs.labels, inputs.regression);
      taskLossOut = tf.keep(tf.clone(lossTask));
      if (!penalty) return lossTask;
      penaltyOut = tf.keep(tf.clone(penalty));
      return tf.add(lossTask, tf.mul(penalty, inputs.lambda));
    })(keys.map(([role, name]) => inputs.trainables[role][name]!)),
  );
  const gradMap = emptyTrainables();
  keys.forEach(([role, name], i) => {
    gradMap[role][name] = grads[i]!;
  });
  if (batch !== inputs.batch) batch.inputIds.dispose();
  return { loss: value as tf.Scalar, taskLoss: taskLossOut!, penalty: penaltyOut, grads: gradMap };
}
