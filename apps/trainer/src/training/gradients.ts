import type { EncodedBatch, LoadedBackbone } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { taskLoss } from './data.js';
import type { GateChoice, StageModel, Trainables } from './stages.js';

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
  const keys = Object.keys(inputs.trainables);
  let taskLossOut: tf.Scalar | undefined;
  let penaltyOut: tf.Scalar | undefined;
  const { value, grads } = tf.tidy(() =>
    tf.valueAndGrads((...xs: tf.Tensor[]) => {
      const current: Trainables = {};
      keys.forEach((k, i) => {
        current[k] = xs[i]!;
      });
      const params = inputs.model.parameters(current, inputs.gate);
      const logits = inputs.backbone.classify(params, inputs.batch, {
        training: inputs.training,
        ...(inputs.seed !== undefined ? { seed: inputs.seed } : {}),
      });
      const lossTask = taskLoss(logits, inputs.labels, inputs.regression);
      taskLossOut = tf.keep(tf.clone(lossTask));
      const penalty = inputs.model.penalty?.(current);
      if (!penalty) return lossTask;
      penaltyOut = tf.keep(tf.clone(penalty));
      return tf.add(lossTask, tf.mul(penalty, inputs.lambda));
    })(keys.map((k) => inputs.trainables[k]!)),
  );
  const gradMap: Trainables = {};
  keys.forEach((k, i) => {
    gradMap[k] = grads[i]!;
  });
  return { loss: value as tf.Scalar, taskLoss: taskLossOut!, penalty: penaltyOut, grads: gradMap };
}
