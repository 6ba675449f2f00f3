import { InvalidArgumentError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { expectedL0Penalty, type GroupPenalty, resolveGroupPenalty } from './expected-l0.js';
import {
  type GatedDiffParameterInputs,
  gatedDiffParameter,
  scalarGate,
  validate,
} from './gated-diff-parameter.js';
import { checkRows, gatedDiffParameterRows } from './gated-diff-rows.js';
import {
  ensureGatedDiffsKernels,
  type GatedDiffsAttributes,
  gatedDiffsGradKernelName,
  gatedDiffsInputRoles,
  gatedDiffsKernelName,
  layoutHasGroup,
  layoutHasRows,
  layoutHasU,
} from './gated-diffs-kernels.js';
import {
  checkArray,
  type GateOptions,
  type ResolvedGate,
  type ResolvedUniform,
  type UniformOptions,
} from './options.js';

/**
 * One gated tensor of `gatedDiffParameters`: base, w, logα and its noise (u or seed), optionally a group
 * gate (structured mode) and the rows to compute (the token embedding: only the rows a batch looks up).
 */
export interface GatedTensor
  extends Omit<GatedDiffParameterInputs, keyof GateOptions | keyof UniformOptions> {
  /**
   * Compute θ for these rows (indices along the first axis) only: θ is [rows.length, …], equal to
   * `tf.gather(θ, rows)`, as `gatedDiffParameterRows`. w and logα still get whole-tensor gradients, and
   * the penalty still covers every row.
   */
  rows?: readonly number[] | Int32Array;
}

export interface GatedDiffParametersOptions extends GateOptions, UniformOptions {
  /** How a structured tensor's group gate enters the penalty: `sum` (default, authors' code) or `product` (paper). */
  groupPenalty?: GroupPenalty;
}

export interface GatedDiffParametersResult {
  /** θ per tensor, in the order given (rows-only tensors: [rows.length, …]). */
  parameters: tf.Tensor[];
  /** The expected-L0 penalty of all the tensors, `expectedL0Penalty` of their logα (and group logα). */
  penalty: tf.Scalar;
}

/** How the op is computed: the backend's fused kernel where it has one, else the per-tensor ops. */
export type GatedDiffParametersImplementation = 'auto' | 'kernel' | 'composite';

// The fused kernels' contract (`DiffpruneGatedDiffs`, `DiffpruneGatedDiffsGrad`) is documented, and
// implemented in JS for cpu and wasm, in gated-diffs-kernels.ts; @diffprune/native compiles it.
export type { GatedDiffsAttributes } from './gated-diffs-kernels.js';
export {
  gatedDiffsGradKernelName,
  gatedDiffsInputRoles,
  gatedDiffsKernelName,
} from './gated-diffs-kernels.js';

/**
 * Whether the active backend has the fused kernels: its own (@diffprune/native's), else ours in JS,
 * registered here on first use where they pay off (see gated-diffs-kernels.ts); registers their
 * gradient on first use too.
 */
export function gatedDiffsKernelsAvailable(): boolean {
  const available = ensureGatedDiffsKernels();
  if (available && tf.getGradient(gatedDiffsKernelName) === undefined) tf.registerGradient(gradConfig);
  return available;
}

/**
 * θ_t = base_t + z_t ⊙ z_g,t ⊙ w_t for every gated tensor t, and the expected-L0 penalty over all of
 * them, as ONE op: on backends with the fused kernels (@diffprune/native's compiled ones; ours in JS on
 * the backends where they pay off) one kernel call forward and
 * one backward for the whole model, whose backward writes each logα's gradient — the gate's term and
 * the penalty's — in one pass; elsewhere the same values from `gatedDiffParameter` /
 * `gatedDiffParameterRows` per tensor and `expectedL0Penalty` (their gradients add up to the same).
 * Differentiable w.r.t. every w, logα and group logα. Call inside a tidy or gradient function.
 */
export function gatedDiffParameters(
  tensors: readonly GatedTensor[],
  options?: GatedDiffParametersOptions,
): GatedDiffParametersResult {
  return gatedDiffParametersWith(tensors, options, 'auto');
}

/** `gatedDiffParameters` with the implementation chosen (for tests and benchmarks). */
export function gatedDiffParametersWith(
  tensors: readonly GatedTensor[],
  options: GatedDiffParametersOptions | undefined,
  implementation: GatedDiffParametersImplementation,
): GatedDiffParametersResult {
  const context = 'gatedDiffParameters';
  checkArray(tensors, 'tensors', context);
  const groupPenalty = resolveGroupPenalty(options, context);
  const resolved = tensors.map((tensor, t) => {
    if (typeof tensor !== 'object' || tensor === null) {
      throw new InvalidArgumentError({
        argument: `tensors[${t}]`,
        expected: 'an object',
        found: tensor,
        context,
      });
    }
    const settings = validate({ ...options, ...tensor }, `${context} (tensors[${t}])`);
    if (tensor.rows !== undefined) checkRows(tensor.rows, tensor.base, `${context} (tensors[${t}])`);
    return settings;
  });
  const useKernel = implementation !== 'composite' && gatedDiffsKernelsAvailable();
  if (implementation === 'kernel' && !useKernel) {
    throw new InvalidArgumentError({
      argument: 'implementation',
      expected: `a backend with the ${gatedDiffsKernelName} kernels`,
      found: tf.getBackend(),
      context,
    });
  }
  if (tensors.length === 0) return { parameters: [], penalty: tf.scalar(0) };
  if (!useKernel) return composite(tensors, options, groupPenalty);
  const { gate, uniform } = resolved[0]!;
  return fused(tensors, gate, uniform, groupPenalty);
}

function composite(
  tensors: readonly GatedTensor[],
  options: GatedDiffParametersOptions | undefined,
  groupPenalty: GroupPenalty,
): GatedDiffParametersResult {
  const gateOptions = {
    ...(options?.beta === undefined ? {} : { beta: options.beta }),
    ...(options?.limits === undefined ? {} : { limits: options.limits }),
  };
  const uniformOptions = options?.uBounds === undefined ? {} : { uBounds: options.uBounds };
  const parameters = tensors.map(({ rows, ...tensor }) =>
    rows === undefined
      ? gatedDiffParameter({ ...tensor, ...gateOptions, ...uniformOptions })
      : gatedDiffParameterRows({ ...tensor, rows, ...gateOptions, ...uniformOptions }),
  );
  const penalty = expectedL0Penalty(
    tensors.map(({ logAlpha, groupLogAlpha }) => ({
      logAlpha,
      ...(groupLogAlpha === undefined ? {} : { groupLogAlpha }),
    })),
    { ...gateOptions, groupPenalty },
  );
  return { parameters, penalty };
}

function fused(
  tensors: readonly GatedTensor[],
  gate: ResolvedGate,
  uniform: ResolvedUniform,
  groupPenalty: GroupPenalty,
): GatedDiffParametersResult {
  const attributes: GatedDiffsAttributes = {
    layout: [],
    seeds: [],
    groupGates: [],
    groupSlopes: [],
    groupSigmas: [],
    groupPenalty,
    beta: gate.beta,
    left: gate.left,
    right: gate.right,
    uLow: uniform.uLow,
    uHigh: uniform.uHigh,
    shift: gate.shift,
  };
  const inputs: tf.Tensor[] = [];
  const created: tf.Tensor[] = [];
  for (const tensor of tensors) {
    let flags = 0;
    inputs.push(tensor.base, tensor.w, tensor.logAlpha);
    if (tensor.u !== undefined) {
      flags |= layoutHasU;
      inputs.push(tensor.u);
    }
    if (tensor.rows !== undefined) {
      flags |= layoutHasRows;
      const rows = tf.tensor1d(Int32Array.from(tensor.rows), 'int32');
      created.push(rows);
      inputs.push(rows);
    }
    if (tensor.groupLogAlpha !== undefined && tensor.groupU !== undefined) {
      flags |= layoutHasGroup;
      inputs.push(tensor.groupLogAlpha);
      const groupLogAlpha = tensor.groupLogAlpha.dataSync()[0]!;
      const { z, slope } = scalarGate(groupLogAlpha, tensor.groupU.dataSync()[0]!, gate, uniform);
      attributes.groupGates.push(z);
      attributes.groupSlopes.push(slope);
      attributes.groupSigmas.push(1 / (1 + Math.exp(gate.shift - groupLogAlpha)));
    } else {
      attributes.groupGates.push(1);
      attributes.groupSlopes.push(0);
      attributes.groupSigmas.push(0);
    }
    attributes.layout.push(flags);
    attributes.seeds.push(tensor.seed ?? 0);
  }
  try {
    const outputs = tf
      .engine()
      .runKernel(
        gatedDiffsKernelName,
        inputs as unknown as tf.NamedTensorMap,
        attributes as unknown as tf.NamedAttrMap,
      ) as tf.Tensor[];
    return { parameters: outputs.slice(0, -1), penalty: outputs[outputs.length - 1] as tf.Scalar };
  } finally {
    // The tape keeps its own references to saved inputs; the caller never sees the rows tensors.
    tf.dispose(created);
  }
}

const gradConfig: tf.GradConfig = {
  kernelName: gatedDiffsKernelName,
  saveAllInputs: true,
  gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const attributes = attrs as unknown as GatedDiffsAttributes;
    const dys = dy as tf.Tensor[];
    const count = attributes.layout.length;
    const roles = gatedDiffsInputRoles(attributes.layout);
    const savedByName = new Map(roles.map(({ t, role }, k) => [`${role}${t}`, saved[k]!]));
    const inputs: tf.NamedTensorMap = {};
    for (let t = 0; t < count; t++) {
      inputs[`dy${t}`] = dys[t]!;
      for (const role of ['w', 'logAlpha', 'u', 'rows', 'groupLogAlpha']) {
        const tensor = savedByName.get(`${role}${t}`);
        if (tensor) inputs[`${role}${t}`] = tensor;
      }
    }
    inputs.dPenalty = dys[count]!;
    const grads = tf.engine().runKernel(gatedDiffsGradKernelName, inputs, attrs) as tf.Tensor[];
    const map: Record<string, () => tf.Tensor> = {};
    let group = 2 * count;
    for (const [position, { t, role }] of roles.entries()) {
      const name = String(position);
      const input = saved[position]!;
      if (role === 'w') map[name] = () => grads[2 * t]!;
      else if (role === 'logAlpha') map[name] = () => grads[2 * t + 1]!;
      else if (role === 'groupLogAlpha') {
        const dGroup = grads[group++]!;
        map[name] = () => dGroup;
      } else if (role === 'base') {
        // θ = base + …: dθ flows to base unchanged (scattered back for rows-only tensors).
        const rows = savedByName.get(`rows${t}`);
        map[name] = () =>
          rows === undefined
            ? tf.clone(dys[t]!)
            : tf.unsortedSegmentSum(dys[t]!, rows as tf.Tensor1D, input.shape[0]!);
      } else map[name] = () => tf.zerosLike(input); // u, rows: no gradient
    }
    return map;
  },
};
