import type { ParameterMap, Rng, TrainingStage } from '@diffprune/core';
import {
  deterministicGate,
  expectedL0Penalty,
  type GatedTensor,
  gatedDiffParameters,
} from '@diffprune/hard-concrete';
import * as tf from '@tensorflow/tfjs-core';
import type { GroupPenalty } from './settings.js';
import { gateDraws } from './streams.js';

/** What a trainable tensor is: a finetuned θ, a diff weight w, or a gate parameter. */
export const trainableRoles = ['theta', 'w', 'logAlpha', 'groupLogAlpha'] as const;
export type TrainableRole = (typeof trainableRoles)[number];

/**
 * The trainable tensors of a stage by role, each keyed by the HF parameter name: `theta` (finetuned
 * parameters), `w` (diff weights), `logAlpha` and `groupLogAlpha` (gate parameters, per entry and
 * per tensor).
 */
export type Trainables = Record<TrainableRole, ParameterMap>;

/**
 * The two optimiser groups (separate learning rates and gradient clipping, as in the authors' code):
 * the weights (θ, w) and the gate parameters (log α).
 */
export const optimizerGroups = { weights: ['theta', 'w'], alphas: ['logAlpha', 'groupLogAlpha'] } as const;
export type OptimizerGroup = keyof typeof optimizerGroups;
export const groupOf = (role: TrainableRole): OptimizerGroup =>
  (optimizerGroups.weights as readonly string[]).includes(role) ? 'weights' : 'alphas';

export const emptyTrainables = (): Trainables => ({ theta: {}, w: {}, logAlpha: {}, groupLogAlpha: {} });

/** Every tensor of a set of trainables (roles in order). */
export const trainableTensors = (trainables: Trainables): tf.Tensor[] =>
  trainableRoles.flatMap((role) => Object.values(trainables[role]));

/** The same roles and names with `f` applied to every tensor. */
export function mapTrainables(trainables: Trainables, f: (tensor: tf.Tensor) => tf.Tensor): Trainables {
  const out = emptyTrainables();
  for (const role of trainableRoles)
    for (const [name, tensor] of Object.entries(trainables[role])) out[role][name] = f(tensor);
  return out;
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
  /**
   * θ and the penalty together, as training differentiates them: the search stage computes both with
   * one fused op (`gatedDiffParameters`), so each logα's gradient — gate and penalty — is one pass.
   * The same values as `parameters` and `penalty`. Call inside a tidy or gradient function.
   */
  objective?(
    trainables: Trainables,
    gate?: GateChoice,
    lookup?: RowLookup,
  ): { params: ParameterMap; penalty: tf.Scalar | undefined };
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
    parameters: (trainables) => substitute(base, trainables.theta),
    async delta(trainables) {
      const out: Record<string, Float32Array> = {};
      for (const [name, value] of Object.entries(trainables.theta)) {
        const d = tf.sub(value, base[name]!);
        out[name] = (await d.data()) as Float32Array;
        d.dispose();
      }
      return out;
    },
  };
}

export function initialFinetuneTrainables(base: ParameterMap, names: readonly string[]): Trainables {
  const out = emptyTrainables();
  for (const name of names) out.theta[name] = tf.clone(base[name]!);
  return out;
}

type SearchOptions = GateOptions & {
  gated: readonly string[];
  dense: readonly string[];
  structured: boolean;
  groupPenalty: GroupPenalty;
};

const groupLogAlphaOf = (options: SearchOptions, trainables: Trainables, name: string) =>
  options.structured ? trainables.groupLogAlpha[name] : undefined;

/** θ of every gated tensor with sampled gates, and the penalty, from the one fused op. */
function sampledParameters(
  base: ParameterMap,
  options: SearchOptions,
  trainables: Trainables,
  noise: GateNoise,
  lookup: RowLookup | undefined,
): { replaced: ParameterMap; penalty: tf.Scalar } {
  const tensors: GatedTensor[] = options.gated.map((name) => {
    const u = noise.u[name];
    const groupLogAlpha = groupLogAlphaOf(options, trainables, name);
    return {
      base: base[name]!,
      w: trainables.w[name]!,
      logAlpha: trainables.logAlpha[name]!,
      ...(u ? { u } : { seed: noise.seeds[name]! }),
      ...(groupLogAlpha ? { groupLogAlpha, groupU: noise.groupU[name]! } : {}),
      // The token embedding: gate only the rows this batch looks up (same values and gradients).
      ...(lookup?.name === name ? { rows: lookup.rows } : {}),
    };
  });
  const { parameters, penalty } = gatedDiffParameters(tensors, {
    groupPenalty: options.groupPenalty,
    beta: options.beta,
    limits: options.limits,
  });
  const replaced: ParameterMap = {};
  options.gated.forEach((name, i) => {
    replaced[name] = parameters[i]!;
  });
  return { replaced, penalty };
}

/** θ of every gated tensor with the deterministic (test-time) gates. */
function deterministicParameters(
  base: ParameterMap,
  options: SearchOptions,
  trainables: Trainables,
): ParameterMap {
  const gateOptions = { beta: options.beta, limits: options.limits };
  const replaced: ParameterMap = {};
  for (const name of options.gated) {
    const groupLogAlpha = groupLogAlphaOf(options, trainables, name);
    const z = deterministicGate(trainables.logAlpha[name]!, gateOptions);
    const zg = groupLogAlpha ? deterministicGate(groupLogAlpha, gateOptions) : undefined;
    replaced[name] = tf.add(base[name]!, tf.mul(zg ? tf.mul(z, zg) : z, trainables.w[name]!));
  }
  return replaced;
}

/**
 * Stage 1 of diff pruning: θ = θ0 + z ⊙ (z_g) ⊙ w for gated tensors, θ = θ0 + w for dense ones (the
 * head). Penalty: unstructured Σ σ(log α − shift); structured `sum` (authors' code)
 * Σ_g [Σ_i σ_i + σ_g]; structured `product` (the paper) Σ_g Σ_i σ_i·σ_g.
 */
export function searchStage(base: ParameterMap, options: SearchOptions): StageModel {
  const build = (trainables: Trainables, gate: GateChoice | undefined, lookup?: RowLookup) => {
    const sampled =
      gate?.kind === 'noise' ? sampledParameters(base, options, trainables, gate.noise, lookup) : undefined;
    const replaced = sampled?.replaced ?? deterministicParameters(base, options, trainables);
    for (const name of options.dense) replaced[name] = tf.add(base[name]!, trainables.w[name]!);
    if (lookup && !(sampled && options.gated.includes(lookup.name))) {
      // Rows not gated above (deterministic gate, or an ungated table) are gathered from θ.
      replaced[lookup.name] = tf.gather(replaced[lookup.name] ?? base[lookup.name]!, lookup.rows);
    }
    return { params: substitute(base, replaced), penalty: sampled?.penalty };
  };
  const penalty = (trainables: Trainables) =>
    expectedL0Penalty(
      options.gated.map((name) => {
        const groupLogAlpha = groupLogAlphaOf(options, trainables, name);
        return { logAlpha: trainables.logAlpha[name]!, ...(groupLogAlpha ? { groupLogAlpha } : {}) };
      }),
      { groupPenalty: options.groupPenalty, beta: options.beta, limits: options.limits },
    );
  return {
    stage: 'search',
    base,
    supportsRowLookup: true,
    parameters: (trainables, gate, lookup) => build(trainables, gate, lookup).params,
    penalty,
    objective(trainables, gate, lookup) {
      const built = build(trainables, gate, lookup);
      return { params: built.params, penalty: built.penalty ?? penalty(trainables) };
    },
    async delta(trainables, gate) {
      // θ once (one fused op), then δ one tensor at a time (peak memory: θ plus one δ).
      const built = tf.tidy(() => build(trainables, gate));
      const out: Record<string, Float32Array> = {};
      try {
        for (const name of [...options.gated, ...options.dense]) {
          const d = tf.sub(built.params[name]!, base[name]!);
          out[name] = (await d.data()) as Float32Array;
          d.dispose();
        }
      } finally {
        tf.dispose([
          ...[...options.gated, ...options.dense].map((name) => built.params[name]!),
          ...(built.penalty ? [built.penalty] : []),
        ]);
      }
      return out;
    },
  };
}

export function initialSearchTrainables(
  base: ParameterMap,
  options: { gated: readonly string[]; dense: readonly string[]; structured: boolean; alphaInit: number },
): Trainables {
  const out = emptyTrainables();
  for (const name of [...options.gated, ...options.dense]) out.w[name] = tf.zerosLike(base[name]!);
  for (const name of options.gated) {
    out.logAlpha[name] = tf.fill(base[name]!.shape, options.alphaInit);
    if (options.structured) out.groupLogAlpha[name] = tf.fill([1], options.alphaInit);
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
      replaced[name] = tf.add(base[name]!, tf.mul(mask, trainables.w[name]!));
    }
    for (const name of options.dense) replaced[name] = tf.add(base[name]!, trainables.w[name]!);
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
 * The gate noise of one step as tensors, from its draws (streams.ts' `gateDraws`): a seed per
 * gated tensor (fresh u per entry, drawn by the fused op) and, in structured mode, one u per group.
 */
export function gateNoiseFromDraws(
  gated: readonly string[],
  draws: { seeds: readonly number[]; groupU: readonly number[] },
): GateNoise {
  const seeds: Record<string, number> = {};
  const groupU: Record<string, tf.Tensor> = {};
  gated.forEach((name, i) => {
    seeds[name] = draws.seeds[i]!;
    if (draws.groupU.length > 0) groupU[name] = tf.tensor([draws.groupU[i]!], [1], 'float32');
  });
  return { seeds, u: {}, groupU };
}

/** The gate noise of one evaluation or step drawn from `rng` (streams.ts' `gateDraws`). */
export const sampleGateNoise = (gated: readonly string[], structured: boolean, rng: Rng): GateNoise =>
  gateNoiseFromDraws(gated, gateDraws(gated.length, structured, rng));

export function disposeGateNoise(noise: GateNoise | undefined): void {
  if (noise) tf.dispose([...Object.values(noise.u), ...Object.values(noise.groupU)]);
}
