import {
  type GatedDiffsAttributes,
  gatedDiffsGradKernelName,
  gatedDiffsInputRoles,
  gatedDiffsKernelName,
  layoutHasGroup,
  layoutHasRows,
  layoutHasU,
} from '@diffprune/core';
import type { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import type { TensorInfo } from '@tensorflow/tfjs-core';
import type { FusedGateScalars, GateConstantArguments } from '../addon.js';
import { float32Values, type KernelArgs, type NativeKernelContext, outputFloat32 } from './shared.js';

/** Reads a kernel's named float32 inputs (null where absent; an error naming the input if not float32). */
function reader(backend: MathBackendCPU, inputs: KernelArgs['inputs'], kernel: string) {
  const named = inputs as Record<string, TensorInfo | undefined>;
  return (name: string): Float32Array | null => {
    const info = named[name];
    if (info === undefined) return null;
    const array = float32Values(backend, info);
    if (!array) throw new Error(`${kernel}: ${name} must be float32, found ${info.dtype}`);
    return array;
  };
}

/**
 * The whole-model gate (hard-concrete's `gatedDiffParameters`), compiled: every gated tensor's θ and the
 * expected-L0 penalty in one kernel call, and every gradient in one more (contract in @diffprune/core's
 * kernel-names.ts; the JS kernels of the same contract are @diffprune/runtime's).
 *   `DiffpruneGatedDiffs`:     [base, w, logAlpha, u?, rows?, groupLogAlpha? + groupU? per tensor]
 *                              → [θ<t>…, penalty]
 *   `DiffpruneGatedDiffsGrad`: {dy<t>, w<t>, logAlpha<t>, u<t>?, rows<t>?, groupLogAlpha<t>? + groupU<t>?,
 *                              dPenalty} → [dW<t>, dLogAlpha<t>…, dGroup<t>… (shaped as groupLogAlpha<t>)]
 * The group gates (z_g, slope, σ_g) come from the addon's `groupGate` (csrc/gate.cc), one call per tensor.
 */

/** The int32 rows of a tensor (the input `info`). */
function rowsOf(backend: MathBackendCPU, info: TensorInfo | undefined, t: number): Int32Array {
  const values = info && backend.data.get(info.dataId)?.values;
  if (info?.dtype !== 'int32' || !(values instanceof Int32Array))
    throw new Error(`${gatedDiffsKernelName}: rows${t} must be int32, found ${info?.dtype}`);
  return values;
}

/**
 * The forward's list of inputs by name (`base<t>`, `w<t>`, …): per tensor base, w, logAlpha, then u, rows,
 * groupLogAlpha and groupU where the layout says so (core's `gatedDiffsInputRoles`).
 */
function namedInputs(inputs: KernelArgs['inputs'], layout: readonly number[]): Record<string, TensorInfo> {
  const list = Object.values(inputs) as TensorInfo[];
  const roles = gatedDiffsInputRoles(layout);
  if (roles.length !== list.length)
    throw new Error(`${gatedDiffsKernelName}: the layout names ${roles.length} inputs, found ${list.length}`);
  return Object.fromEntries(roles.map(({ t, role }, k) => [`${role}${t}`, list[k]!]));
}

/** Elements per row (index along the first axis) of a tensor of `shape` with `length` elements. */
const rowSizeOf = (shape: readonly number[], length: number): number =>
  shape.length === 0 ? 1 : length / Math.max(shape[0]!, 1) || 1;

/** A tensor's group gate: z_g, dz_g/dlogα_g and σ(logα_g − shift) (1, 0, 0 without one). */
interface GroupGate {
  gate: number;
  slope: number;
  sigma: number;
}

/** Tensor t's group gate from its groupLogAlpha and groupU inputs, by the addon. */
function groupGateOf(
  context: NativeKernelContext,
  a: GatedDiffsAttributes,
  t: number,
  read: (name: string) => Float32Array | null,
): GroupGate {
  if ((a.layout[t]! & layoutHasGroup) === 0) return { gate: 1, slope: 0, sigma: 0 };
  const [gate, slope, sigma] = context.addon.groupGate(
    read(`groupLogAlpha${t}`)![0]!,
    read(`groupU${t}`)![0]!,
    ...constantArguments(a),
  );
  return { gate, slope, sigma };
}

/** β, l, r, the u bounds and the shift, in the order the addon's gate calls take them. */
const constantArguments = (a: GatedDiffsAttributes): GateConstantArguments => [
  a.beta,
  a.left,
  a.right,
  a.uLow,
  a.uHigh,
  a.shift,
];

/** The numbers both addon calls take after the arrays: rowSize, seed, z_g, β, l, r, u bounds, shift. */
const scalarArguments = (
  a: GatedDiffsAttributes,
  t: number,
  rowSize: number,
  group: GroupGate,
): FusedGateScalars => [rowSize, a.seeds[t] ?? 0, group.gate, ...constantArguments(a)];

/** The penalty term of one tensor from its Σσ: Σσ, Σσ + σ_g (sum) or Σσ·σ_g (product). */
const penaltyTerm = (attrs: GatedDiffsAttributes, t: number, sigmaSum: number, group: GroupGate): number => {
  if ((attrs.layout[t]! & layoutHasGroup) === 0) return sigmaSum;
  return attrs.groupPenalty === 'product' ? sigmaSum * group.sigma : sigmaSum + group.sigma;
};

export const gatedDiffs =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo[] => {
    const a = attrs as unknown as GatedDiffsAttributes;
    const named = namedInputs(inputs, a.layout);
    const read = reader(backend, named, gatedDiffsKernelName);
    const outputs: TensorInfo[] = [];
    let penalty = 0;
    a.layout.forEach((flags, t) => {
      const base = read(`base${t}`)!;
      const rows = (flags & layoutHasRows) === 0 ? null : rowsOf(backend, named[`rows${t}`], t);
      const shape = named[`base${t}`]!.shape;
      const rowSize = rowSizeOf(shape, base.length);
      const outShape = rows ? [rows.length, ...shape.slice(1)] : shape;
      const theta = outputFloat32(backend, rows ? rows.length * rowSize : base.length);
      const group = groupGateOf(context, a, t, read);
      const sigmaSum = context.addon.gatedDiffsForward(
        theta,
        base,
        read(`w${t}`)!,
        read(`logAlpha${t}`)!,
        (flags & layoutHasU) === 0 ? null : read(`u${t}`),
        rows,
        ...scalarArguments(a, t, rowSize, group),
      );
      penalty += penaltyTerm(a, t, sigmaSum, group);
      outputs.push(backend.makeTensorInfo(outShape, 'float32', theta));
    });
    outputs.push(backend.makeTensorInfo([], 'float32', new Float32Array([penalty])));
    return outputs;
  };

export const gatedDiffsGrad =
  (context: NativeKernelContext) =>
  ({ inputs, backend, attrs }: KernelArgs & { backend: MathBackendCPU }): TensorInfo[] => {
    const a = attrs as unknown as GatedDiffsAttributes;
    const read = reader(backend, inputs, gatedDiffsGradKernelName);
    const dPenalty = read('dPenalty')![0]!;
    const grads: TensorInfo[] = [];
    const groupGrads: TensorInfo[] = [];
    a.layout.forEach((flags, t) => {
      const w = read(`w${t}`)!;
      const shape = (inputs[`w${t}`] as TensorInfo).shape;
      const rowSize = rowSizeOf(shape, w.length);
      const grouped = (flags & layoutHasGroup) !== 0;
      const product = grouped && a.groupPenalty === 'product';
      const group = groupGateOf(context, a, t, read);
      const dW = outputFloat32(backend, w.length);
      const dLogAlpha = outputFloat32(backend, w.length);
      const [groupDot, sigmaSum] = context.addon.gatedDiffsBackward(
        dW,
        dLogAlpha,
        read(`dy${t}`)!,
        w,
        read(`logAlpha${t}`)!,
        (flags & layoutHasU) === 0 ? null : read(`u${t}`),
        (flags & layoutHasRows) === 0 ? null : rowsOf(backend, inputs[`rows${t}`], t),
        ...scalarArguments(a, t, rowSize, group),
        product ? Math.fround(dPenalty * group.sigma) : dPenalty,
      );
      grads.push(
        backend.makeTensorInfo(shape, 'float32', dW),
        backend.makeTensorInfo(shape, 'float32', dLogAlpha),
      );
      if (grouped) {
        const fromPenalty = dPenalty * (product ? sigmaSum : 1) * group.sigma * (1 - group.sigma);
        const value = groupDot * group.slope + fromPenalty;
        const groupShape = (inputs[`groupLogAlpha${t}`] as TensorInfo | undefined)?.shape ?? [];
        groupGrads.push(backend.makeTensorInfo(groupShape, 'float32', new Float32Array([value])));
      }
    });
    return [...grads, ...groupGrads];
  };
