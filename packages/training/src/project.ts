import * as tf from '@tensorflow/tfjs-core';
import { keptNonzero, projectTopK } from './projection.js';
import { evaluationGate, type Run } from './run-context.js';
import { disposeGateNoise, emptyTrainables, type StageModel, trainableTensors } from './stages.js';

/**
 * Stage 2: projects the first stage's δ onto the L0 ball — exact top-k of |δ| at the target density
 * (ties broken by position), over every tensor or the gated ones — and sets up stage 3: a fixed
 * mask per tensor with kept entries, and its w from stage 1's raw w (authors' code) or from the
 * projected δ. The head is trained densely again, from its δ.
 */
export async function project(run: Run, model: StageModel): Promise<void> {
  const { settings, base, headNames } = run;
  const gate = model.stage === 'search' ? evaluationGate(run) : undefined;
  const deltas = await model.delta(run.trainables, gate);
  const scope =
    settings.projectionScope === 'all'
      ? deltas
      : Object.fromEntries(Object.entries(deltas).filter(([name]) => !headNames.includes(name)));
  const projection = projectTopK(scope, settings.targetDensity);
  run.state.projection = { kept: projection.kept, total: projection.total, threshold: projection.threshold };
  run.options.onEvent?.({
    type: 'projection-end',
    targetDensity: settings.targetDensity,
    density: projection.kept / projection.total,
    kept: projection.kept,
    total: projection.total,
  });
  const nonzero = keptNonzero(scope, projection.masks);
  if (nonzero < projection.kept)
    run.options.onEvent?.({
      type: 'warning-raise',
      message: `the projection kept ${projection.kept} entries but only ${nonzero} (${((nonzero / projection.total) * 100).toFixed(3)} %) have a nonzero δ: zeros filled the rest of the budget, so the diff stores ${nonzero}`,
    });
  const masks: Record<string, tf.Tensor> = {};
  const trainables = emptyTrainables();
  const fromDelta = (name: string) => tf.tensor(deltas[name]!, base[name]!.shape, 'float32');
  for (const [name, mask] of Object.entries(projection.masks)) {
    if (headNames.includes(name) || !mask.some((m) => m === 1)) continue;
    masks[name] = tf.tensor(Float32Array.from(mask), base[name]!.shape, 'float32');
    const raw = run.trainables.w[name];
    trainables.w[name] = settings.fixedMaskInit === 'raw' && raw ? tf.clone(raw) : fromDelta(name);
  }
  for (const name of headNames) trainables.w[name] = fromDelta(name);
  tf.dispose([...trainableTensors(run.trainables), ...Object.values(run.masks)]);
  disposeGateNoise(run.lastNoise);
  run.lastNoise = undefined;
  run.trainables = trainables;
  run.masks = masks;
}
