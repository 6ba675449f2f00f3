import type { ParameterMap, Rng, TrainingStage } from '@diffprune/core';
import {
  deterministicGate,
  expectedL0Penalty,
  gatedDiffParameter,
  gatedDiffParameterRows,
} from '@diffprune/hard-concrete';
import * as tf from '@tensorflow/tfjs-core';
import type { GroupPenalty } from './settings.js';

/**
 * Trainable tensors are kept in one flat map whose keys say what they are, as the fixtures do:
 * `theta/NAME` (finetuned parameter), `w/NAME` (diff weights), `log_alpha/NAME` and
 * `group_log_alpha/NAME` (gate parameters). The first two form the "weights" optimiser group,
 * the last two the "alphas" group (separate learning rates and gradient clipping).
 */
export type Trainables = Record<string, tf.Tensor>;

export const weightPrefixes = ['theta/', 'w/'] as const;
export const alphaPrefixes = ['log_alpha/', 'group_log_alpha/'] as const;

export function optimizerGroupOf(key: string): 'weights' | 'alphas' {
  return alphaPrefixes.some((p) => key.startsWith(p)) ? 'alphas' : 'weights';
}

/**
 * The gate noise of one step, shared by the whole batch: per gated tensor either a seed, from which
 * the fused gate op draws u itself (counter-based, no u tensor: the fast path), or an explicit u
 * tensor (fixtures, tests); and in structured mode one u per group.
 */
export interface GateNoise {
  seeds: Record<string, number>;
  u: Record<string, tf.Tensor>;
  groupU: Record<string, tf.Tensor>;
}

export type GateChoice = { kind: 'noise'; noise: GateNoise } | { kind: 'deterministic' };

/**
 * Only these rows of one parameter (the backbone's token embedding) are needed for this batch: the
 * stage may return θ for them alone, [k, …], and the batch's ids are remapped to 0…k−1.
 */
export interface RowLookup {
  name: string;
  rows: Int32Array;
}

export interface GateOptions {
  beta: number;
  limits: [number, number];
}

/** A stage's model: which tensors train and how they become the backbone's parameters. */
export interface StageModel {
  readonly stage: TrainingStage;
  /** The frozen base θ0 (every parameter, head included). Not owned: never disposed here. */
  readonly base: ParameterMap;
  /** Builds θ for a forward pass. Call inside a tidy or gradient function. */
  parameters(trainables: Trainables, gate?: GateChoice, lookup?: RowLookup): ParameterMap;
  /** Whether `parameters` honours a row lookup (else the caller keeps the full table and the ids). */
  readonly supportsRowLookup: boolean;
  /** The λ-free penalty (expected L0 in the chosen form), or undefined when the stage has none. */
  penalty?(trainables: Trainables): tf.Scalar;
  /** δ = θ − θ0 per parameter name as float32 arrays, for projection and the diff file. */
  delta(trainables: Trainables, gate?: GateChoice): Promise<Record<string, Float32Array>>;
}

const substitute = (base: ParameterMap, replacements: ParameterMap): ParameterMap => ({
  ...base,
  ...replacements,
});

/** Full finetuning of `names` (all parameters, biases only, the top layer, …): θ = trainables. */
export function finetuneStage(base: ParameterMap, stage: TrainingStage = 'finetune'): StageModel {
  return {
    stage,
    base,
    supportsRowLookup: false,
    parameters(trainables) {
      const replaced: ParameterMap = {};
      for (const [key, value] of Object.entries(trainables)) replaced[key.slice('theta/'.length)] = value;
      return substitute(base, replaced);
    },
    async delta(trainables) {
      const out: Record<string, Float32Array> = {};
      for (const [key, value] of Object.entries(trainables)) {
        const name = key.slice('theta/'.length);
        const d = tf.sub(value, base[name]!);
        out[name] = (await d.data()) as Float32Array;
        d.dispose();
      }
      return out;
    },
  };
}

export function initialFinetuneTrainables(base: ParameterMap, names: readonly string[]): Trainables {
  const out: Trainables = {};
  for (const name of names) out[`theta/${name}`] = tf.clone(base[name]!);
  return out;
}

/**
 * Stage 1 of diff pruning: θ = θ0 + z ⊙ (z_g) ⊙ w for gated tensors, θ = θ0 + w for dense ones (the
 * head). Penalty: unstructured Σ σ(log α − shift); structured `sum` (authors' code)
 * Σ_g [Σ_i σ_i + σ_g]; structured `product` (the paper) Σ_g Σ_i σ_i·σ_g.
 */
export function searchStage(
  base: ParameterMap,
  options: GateOptions & {
    gated: readonly string[];
    dense: readonly string[];
    structured: boolean;
    groupPenalty: GroupPenalty;
  },
): StageModel {
  const gateOptions = { beta: options.beta, limits: options.limits };
  const build = (trainables: Trainables, gate: GateChoice | undefined, lookup?: RowLookup): ParameterMap => {
    const replaced: ParameterMap = {};
    let gathered = false;
    for (const name of options.gated) {
      const w = trainables[`w/${name}`]!;
      const logAlpha = trainables[`log_alpha/${name}`]!;
      const groupLogAlpha = options.structured ? trainables[`group_log_alpha/${name}`] : undefined;
      if (!gate || gate.kind === 'deterministic') {
        const z = deterministicGate(logAlpha, gateOptions);
        const zg = groupLogAlpha ? deterministicGate(groupLogAlpha, gateOptions) : undefined;
        replaced[name] = tf.add(base[name]!, tf.mul(zg ? tf.mul(z, zg) : z, w));
      } else {
        const u = gate.noise.u[name];
        const inputs = {
          base: base[name]!,
          w,
          logAlpha,
          ...(u ? { u } : { seed: gate.noise.seeds[name]! }),
          ...(groupLogAlpha ? { groupLogAlpha, groupU: gate.noise.groupU[name]! } : {}),
          ...gateOptions,
        };
        // The token embedding: gate only the rows this batch looks up (same values and gradients).
        if (lookup?.name === name) {
          replaced[name] = gatedDiffParameterRows({ ...inputs, rows: lookup.rows });
          gathered = true;
        } else replaced[name] = gatedDiffParameter(inputs);
      }
    }
    for (const name of options.dense) replaced[name] = tf.add(base[name]!, trainables[`w/${name}`]!);
    if (lookup && !gathered) {
      // Rows not gated above (deterministic gate, or an ungated table) are gathered from θ.
      replaced[lookup.name] = tf.gather(replaced[lookup.name] ?? base[lookup.name]!, lookup.rows);
    }
    return substitute(base, replaced);
  };
  return {
    stage: 'search',
    base,
    supportsRowLookup: true,
    parameters: build,
    penalty(trainables) {
      return expectedL0Penalty(
        options.gated.map((name) => ({
          logAlpha: trainables[`log_alpha/${name}`]!,
          ...(options.structured ? { groupLogAlpha: trainables[`group_log_alpha/${name}`]! } : {}),
        })),
        { groupPenalty: options.groupPenalty, ...gateOptions },
      );
    },
    async delta(trainables, gate) {
      const out: Record<string, Float32Array> = {};
      for (const name of [...options.gated, ...options.dense]) {
        const d = tf.tidy(() => tf.sub(build(trainables, gate)[name]!, base[name]!));
        out[name] = (await d.data()) as Float32Array;
        d.dispose();
      }
      return out;
    },
  };
}

export function initialSearchTrainables(
  base: ParameterMap,
  options: { gated: readonly string[]; dense: readonly string[]; structured: boolean; alphaInit: number },
): Trainables {
  const out: Trainables = {};
  for (const name of [...options.gated, ...options.dense]) out[`w/${name}`] = tf.zerosLike(base[name]!);
  for (const name of options.gated) {
    out[`log_alpha/${name}`] = tf.fill(base[name]!.shape, options.alphaInit);
    if (options.structured) out[`group_log_alpha/${name}`] = tf.fill([1], options.alphaInit);
  }
  return out;
}

/**
 * Stage 3: θ = θ0 + mask ⊙ w for masked tensors (only w trains; the gradient outside the mask is
 * zero, so Adam never moves those entries), θ = θ0 + w for dense ones (the head).
 */
export function fixedMaskStage(
  base: ParameterMap,
  options: { masks: Record<string, tf.Tensor>; dense: readonly string[] },
): StageModel {
  const build = (trainables: Trainables): ParameterMap => {
    const replaced: ParameterMap = {};
    for (const [name, mask] of Object.entries(options.masks)) {
      replaced[name] = tf.add(base[name]!, tf.mul(mask, trainables[`w/${name}`]!));
    }
    for (const name of options.dense) replaced[name] = tf.add(base[name]!, trainables[`w/${name}`]!);
    return substitute(base, replaced);
  };
  return {
    stage: 'fixed-mask',
    base,
    supportsRowLookup: false,
    parameters: build,
    async delta(trainables) {
      const out: Record<string, Float32Array> = {};
      for (const name of [...Object.keys(options.masks), ...options.dense]) {
        const d = tf.tidy(() => tf.sub(build(trainables)[name]!, base[name]!));
        out[name] = (await d.data()) as Float32Array;
        d.dispose();
      }
      return out;
    },
  };
}

/**
 * Draws the gate noise of one step from a seeded stream: a seed per gated tensor (fresh u per entry,
 * drawn by the fused op) and, in structured mode, one u per group.
 */
export function sampleGateNoise(gated: readonly string[], structured: boolean, rng: Rng): GateNoise {
  const seeds: Record<string, number> = {};
  const groupU: Record<string, tf.Tensor> = {};
  for (const name of gated) {
    seeds[name] = rng.nextUint32();
    if (structured) groupU[name] = tf.tensor(rng.uniformArray(1), [1], 'float32');
  }
  return { seeds, u: {}, groupU };
}

export function disposeGateNoise(noise: GateNoise | undefined): void {
  if (noise) tf.dispose([...Object.values(noise.u), ...Object.values(noise.groupU)]);
}
