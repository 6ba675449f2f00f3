import {
  type GatedDiffsAttributes,
  gatedDiffsGradKernelName,
  gatedDiffsInputRoles,
  gatedDiffsKernelName,
  InvalidArgumentError,
  layoutHasGroup,
  layoutHasRows,
  layoutHasU,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { expectedL0Penalty, type GroupPenalty, resolveGroupPenalty } from './expected-l0.js';
import { checkTensorInputs, type GatedDiffParameterInputs } from './gated-diff-parameter.js';
import { checkRows } from './gated-diff-rows.js';
import {
  checkArray,
  type GateOptions,
  type ResolvedGate,
  type ResolvedUniform,
  resolveGate,
  resolveUniform,
  type UniformOptions,
} from './options.js';
import { gateFromUniform, sampleUniform } from './sample-gate.js';
import { uniformAt, uniformKey } from './uniform.js';

/**
 * One gated tensor of `gatedDiffParameters`: base, w, logα and its noise (u or seed), optionally a group
 * gate (structured mode) and the rows to compute (the token embedding: only the rows a batch looks up).
 */
export interface GatedTensor
  extends Omit<GatedDiffParameterInputs, keyof GateOptions | keyof UniformOptions> {
  /**
   * Compute θ for these rows (indices along the first axis) only: θ is [rows.length, …], equal to
   * `tf.gather(θ, rows)`, with row r's noise the full tensor's (u at flat index r·rowSize + j). w and logα
   * still get whole-tensor gradients (zero outside `rows` but for the penalty's term), and the penalty
   * still covers every row. Rows may repeat (their gradients add up).
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

/**
 * How the op is computed: `auto` (the backend's kernel where one is registered, else the composite),
 * `kernel` (an error where none is registered) or `composite` (for tests and benchmarks).
 */
export type GatedDiffParametersImplementation = 'auto' | 'kernel' | 'composite';

/**
 * Whether the active backend has the whole-model gate kernels (`DiffpruneGatedDiffs` and its gradient):
 * @diffprune/runtime registers JS ones on `cpu` and `wasm`, @diffprune/native compiled ones on `native`. The one
 * availability check of the gate.
 */
export function gatedDiffsKernelsRegistered(): boolean {
  const backend = tf.getBackend();
  return (
    tf.getKernel(gatedDiffsKernelName, backend) !== undefined &&
    tf.getKernel(gatedDiffsGradKernelName, backend) !== undefined
  );
}

/**
 * θ_t = base_t + z_t ⊙ z_g,t ⊙ w_t for every gated tensor t, and the expected-L0 penalty over all of
 * them, as ONE op: where the backend has the kernels (see `gatedDiffsKernelsRegistered`), one kernel call
 * forward and one backward for the whole model, whose backward writes each logα's gradient — the gate's
 * term and the penalty's — in one pass; elsewhere the composite reference (`gatedDiffParametersComposite`:
 * tfjs ops, autograd), equal in values and gradients. Differentiable w.r.t. every w, logα and group logα
 * (no gradient reaches u or groupU; base gets dθ). Call inside a tidy or gradient function. With the
 * kernels the gradient reads the input tensors themselves (the tape keeps no copies): keep them
 * undisposed until it is taken.
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
  // The gate and noise options are the list's (one resolution); each tensor's inputs are checked.
  const gate = resolveGate(options, context);
  const uniform = resolveUniform(options, context);
  tensors.forEach((tensor, t) => {
    if (typeof tensor !== 'object' || tensor === null) {
      throw new InvalidArgumentError({
        argument: `tensors[${t}]`,
        expected: 'an object',
        found: tensor,
        context,
      });
    }
    const where = `${context} (tensors[${t}])`;
    checkTensorInputs(tensor, where);
    if (tensor.rows !== undefined) checkRows(tensor.rows, tensor.base, where);
  });
  const useKernel = implementation !== 'composite' && gatedDiffsKernelsRegistered();
  if (implementation === 'kernel' && !useKernel) {
    throw new InvalidArgumentError({
      argument: 'implementation',
      expected: `a backend with the ${gatedDiffsKernelName} kernels registered (cpu and wasm through @diffprune/runtime, native)`,
      found: tf.getBackend(),
      context,
    });
  }
  if (tensors.length === 0) return { parameters: [], penalty: tf.scalar(0) };
  return useKernel
    ? fused(tensors, gate, uniform, groupPenalty)
    : gatedDiffParametersComposite(tensors, gate, uniform, groupPenalty);
}

/**
 * The composite reference: per tensor z = `gateFromUniform(logα, u)` (z_g likewise), θ = base + z·z_g·w
 * (rows: of the gathered rows), and `expectedL0Penalty` — tfjs ops, gradients by autograd. What runs
 * where no kernel is registered (wasm: the backend's vectorised Exp/Sigmoid do the work), and what the
 * kernels are tested against.
 */
export function gatedDiffParametersComposite(
  tensors: readonly GatedTensor[],
  gate: ResolvedGate,
  uniform: ResolvedUniform,
  groupPenalty: GroupPenalty,
): GatedDiffParametersResult {
  const parameters = tensors.map((tensor) => tf.tidy(() => compositeTheta(tensor, gate, uniform)));
  const penalty = expectedL0Penalty(
    tensors.map(({ logAlpha, groupLogAlpha }) => ({
      logAlpha,
      ...(groupLogAlpha === undefined ? {} : { groupLogAlpha }),
    })),
    { beta: gate.beta, limits: [gate.left, gate.right], groupPenalty },
  );
  return { parameters, penalty };
}

function compositeTheta(tensor: GatedTensor, gate: ResolvedGate, uniform: ResolvedUniform): tf.Tensor {
  let { base, w, logAlpha, u } = tensor;
  const { rows, seed, groupLogAlpha, groupU } = tensor;
  if (rows !== undefined) {
    const indices = tf.tensor1d(Int32Array.from(rows), 'int32');
    [base, w, logAlpha] = [base, w, logAlpha].map((x) => tf.gather(x, indices)) as [
      tf.Tensor,
      tf.Tensor,
      tf.Tensor,
    ];
    u = u === undefined ? rowNoise(tensor.base.shape, rows, seed as number) : tf.gather(u, indices);
  }
  let z = gateFromUniform(logAlpha, u ?? sampleUniform(base.shape, seed as number), gate, uniform);
  if (groupLogAlpha !== undefined && groupU !== undefined) {
    z = tf.mul(z, gateFromUniform(tf.reshape(groupLogAlpha, []), tf.reshape(groupU, []), gate, uniform));
  }
  return tf.add(base, tf.mul(z, w));
}

/** The noise of some rows of a tensor of `shape`: row r's is the full tensor's, at r·rowSize + j. */
function rowNoise(shape: readonly number[], rows: readonly number[] | Int32Array, seed: number): tf.Tensor {
  const { a, b } = uniformKey(seed, 'gatedDiffParameters');
  const rowSize = shape.slice(1).reduce((x, y) => x * y, 1);
  const values = new Float32Array(rows.length * rowSize);
  for (let r = 0; r < rows.length; r++) {
    const offset = rows[r]! * rowSize;
    for (let j = 0; j < rowSize; j++) values[r * rowSize + j] = uniformAt(offset + j, a, b);
  }
  return tf.tensor(values, [rows.length, ...shape.slice(1)], 'float32');
}

/**
 * What the backward of one `fused` call reads: the forward's inputs (by position, as the kernel got
 * them) and each rows-only tensor's rows, keyed by the call's attributes object — the tape hands that
 * same object to the gradient function. The tape itself saves nothing (`inputsToSave: []`): a saved
 * input costs the engine a clone (an `Identity` kernel call and a tape node) every step, ~200 per
 * BERT step for base, w, logα, group logα and groupU. The inputs are the caller's tensors, alive until
 * the gradient is taken (trainables, the base, the step's noise); only the rows tensor is this op's,
 * so the backward makes its own from the numbers.
 */
interface ForwardInputs {
  inputs: readonly tf.Tensor[];
  rows: ReadonlyMap<number, Int32Array>;
}
const forwardInputs = new WeakMap<GatedDiffsAttributes, ForwardInputs>();

function fused(
  tensors: readonly GatedTensor[],
  gate: ResolvedGate,
  uniform: ResolvedUniform,
  groupPenalty: GroupPenalty,
): GatedDiffParametersResult {
  if (tf.getGradient(gatedDiffsKernelName) === undefined) tf.registerGradient(gradConfig);
  const attributes: GatedDiffsAttributes = {
    layout: [],
    seeds: [],
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
  const rowsOf = new Map<number, Int32Array>();
  tensors.forEach((tensor, t) => {
    let flags = 0;
    inputs.push(tensor.base, tensor.w, tensor.logAlpha);
    if (tensor.u !== undefined) {
      flags |= layoutHasU;
      inputs.push(tensor.u);
    }
    if (tensor.rows !== undefined) {
      flags |= layoutHasRows;
      const values = Int32Array.from(tensor.rows);
      rowsOf.set(t, values);
      const rows = tf.tensor1d(values, 'int32');
      created.push(rows);
      inputs.push(rows);
    }
    if (tensor.groupLogAlpha !== undefined && tensor.groupU !== undefined) {
      // The kernel computes z_g, its slope and σ_g from these two (no ops or reads here).
      flags |= layoutHasGroup;
      inputs.push(tensor.groupLogAlpha, tensor.groupU);
    }
    attributes.layout.push(flags);
    attributes.seeds.push(tensor.seed ?? 0);
  });
  forwardInputs.set(attributes, { inputs, rows: rowsOf });
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
    // The backward makes its own rows tensors (see `forwardInputs`); the caller never sees these.
    tf.dispose(created);
  }
}

/**
 * The gradient of `DiffpruneGatedDiffs`: one `DiffpruneGatedDiffsGrad` call, mapped back to the inputs.
 * Nothing is saved by the tape: the inputs come from `forwardInputs` (so only `gatedDiffParameters`'s
 * calls of the kernel are differentiable).
 */
const gradConfig: tf.GradConfig = {
  kernelName: gatedDiffsKernelName,
  inputsToSave: [],
  gradFunc: (dy: tf.Tensor | tf.Tensor[], _saved: tf.Tensor[], attrs: tf.NamedAttrMap) => {
    const attributes = attrs as unknown as GatedDiffsAttributes;
    const forward = forwardInputs.get(attributes);
    if (forward === undefined) {
      throw new InvalidArgumentError({
        argument: 'attrs',
        expected: `the attributes of a ${gatedDiffsKernelName} call made by gatedDiffParameters (its gradient reads the inputs that call kept)`,
        found: 'a kernel call from elsewhere',
        context: `${gatedDiffsKernelName} gradient`,
      });
    }
    const { inputs: forwardList, rows: rowsOf } = forward;
    const dys = dy as tf.Tensor[];
    const count = attributes.layout.length;
    const roles = gatedDiffsInputRoles(attributes.layout);
    // The rows tensors are remade below and base is not read: every other input must still be alive.
    const disposed = roles.some(
      ({ role }, position) => role !== 'rows' && role !== 'base' && forwardList[position]!.isDisposed,
    );
    if (disposed) {
      // The tape saved no copies: an input disposed between the forward and this gradient (noise made
      // inside the gradient function is, by its forward tidy) cannot be read back.
      throw new InvalidArgumentError({
        argument: 'inputs',
        expected:
          'alive until the gradient is taken (create noise tensors outside the function given to tf.grads, or pass seeds)',
        found: 'an input of gatedDiffParameters disposed before its gradient',
        context: `${gatedDiffsKernelName} gradient`,
      });
    }
    const rowsTensors = new Map([...rowsOf].map(([t, values]) => [t, tf.tensor1d(values, 'int32')]));
    const inputs: tf.NamedTensorMap = {};
    for (let t = 0; t < count; t++) inputs[`dy${t}`] = dys[t]!;
    for (const [position, { t, role }] of roles.entries()) {
      if (role === 'base') continue;
      inputs[`${role}${t}`] = role === 'rows' ? rowsTensors.get(t)! : forwardList[position]!;
    }
    inputs.dPenalty = dys[count]!;
    const grads = tf.engine().runKernel(gatedDiffsGradKernelName, inputs, attrs) as tf.Tensor[];
    const map: Record<string, () => tf.Tensor> = {};
    let group = 2 * count;
    for (const [position, { t, role }] of roles.entries()) {
      const name = String(position);
      const input = forwardList[position]!;
      if (role === 'w') map[name] = () => grads[2 * t]!;
      else if (role === 'logAlpha') map[name] = () => grads[2 * t + 1]!;
      else if (role === 'groupLogAlpha') {
        const dGroup = grads[group++]!;
        map[name] = () => dGroup;
      } else if (role === 'base') {
        // θ = base + …: dθ flows to base unchanged (scattered back for rows-only tensors).
        const rows = rowsTensors.get(t);
        map[name] = () =>
          rows === undefined
            ? tf.clone(dys[t]!)
            : tf.unsortedSegmentSum(dys[t]!, rows as tf.Tensor1D, input.shape[0]!);
      } else map[name] = () => tf.zerosLike(input); // u, rows, groupU: no gradient
    }
    return map;
  },
};
