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
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { type Memory, memories, relu, size } from './kernels.js';
import { type UniformKey, uniformAt, uniformKey } from './uniform.js';

/**
 * The fused kernels' contract behind `gatedDiffParameters` (implemented compiled by @diffprune/native,
 * and in JS below for the backends whose tensors JS can address). The forward's inputs are a list (tfjs
 * saves a list whole for the gradient): per tensor t = 0…n−1, in this order, base, w, logAlpha, then u
 * (explicit noise), rows (int32) and groupLogAlpha where `layout[t]` says so. The backward's inputs are
 * named: `dy<t>`, `w<t>`, `logAlpha<t>`, `u<t>`?, `rows<t>`?, `groupLogAlpha<t>`? (for its shape only),
 * `dPenalty`.
 *
 * Forward  `DiffpruneGatedDiffs`     → [θ_0 … θ_{n−1}, penalty]
 *   θ_t = base_t + z_t·z_g,t·w_t (or its rows); penalty = Σ_t P_t with S_t = Σ_i σ(logα_t,i − shift) and
 *   P_t = S_t (no group gate), S_t + σ_g,t (`sum`) or S_t·σ_g,t (`product`).
 * Backward `DiffpruneGatedDiffsGrad`
 *   → [dW_0, dLogAlpha_0, …, dW_{n−1}, dLogAlpha_{n−1}, dGroup_t for each t with a group gate (shaped as
 *      groupLogAlpha<t>, so no reshape follows)]
 *   dW = dy·z·z_g;  dLogAlpha = dy·w·z_g·dz/dlogα + dPenalty·(σ_g,t if product else 1)·σ(1 − σ);
 *   dGroup = Σ(dy·w·z)·groupSlopes[t] + dPenalty·(S_t if product else 1)·σ_g(1 − σ_g).
 * z is recomputed from logα and the noise in the backward pass (nothing but the inputs is saved).
 */
export type { GatedDiffsAttributes };
export {
  gatedDiffsGradKernelName,
  gatedDiffsInputRoles,
  gatedDiffsKernelName,
  layoutHasGroup,
  layoutHasRows,
  layoutHasU,
};

/** The attributes every pass reads: the gate's stretch and temperature, the noise's clamp, the shift. */
export type GateConstants = Pick<
  GatedDiffsAttributes,
  'beta' | 'left' | 'right' | 'uLow' | 'uHigh' | 'shift'
>;

/** Where a tensor's noise comes from: the u input, else the counter-based uniforms of `key`. */
export interface Noise {
  u: Float32Array | undefined;
  key: UniformKey;
}

/** The clamped noise of entry i. */
const noiseAt = (noise: Noise, i: number, uLow: number, uHigh: number): number =>
  Math.min(
    Math.max(noise.u === undefined ? uniformAt(i, noise.key.a, noise.key.b) : noise.u[i]!, uLow),
    uHigh,
  );

/**
 * z of one entry from its clamped noise: gatedDiffForwardInto's formula, with e = e^(−logα) for β = 1
 * (s = u/(u + (1 − u)·e)) and logα itself otherwise.
 */
function gateOf(ui: number, logAlpha: number, e: number, constants: GateConstants): number {
  const s =
    constants.beta === 1
      ? ui / (ui + (1 - ui) * e)
      : 1 / (1 + Math.exp(-(Math.log(ui / (1 - ui)) + logAlpha) / constants.beta));
  const positive = relu(s * (constants.right - constants.left) + constants.left);
  return positive - relu(positive - 1);
}

/** Σ_i σ(x_i − shift) in float64, one exp per entry. */
function sigmaSumOf(logAlpha: Float32Array, shift: number): number {
  let sum = 0;
  for (let i = 0; i < logAlpha.length; i++) sum += 1 / (1 + Math.exp(shift - logAlpha[i]!));
  return sum;
}

/**
 * One tensor's forward: writes θ (every entry, or the entries of `rows` only, row by row) and returns
 * S = Σ_i σ(logα_i − shift) over every entry (float64). For β = 1 and shift = 0 — the default limits —
 * σ and the gate share e^(−logα): one `Math.exp` per entry.
 */
export function gatedDiffsForwardInto(
  theta: Float32Array,
  base: Float32Array,
  w: Float32Array,
  logAlpha: Float32Array,
  noise: Noise,
  rows: Int32Array | undefined,
  groupGate: number,
  constants: GateConstants,
): number {
  const { beta, left, right, uLow, uHigh, shift } = constants;
  const scale = right - left;
  const n = logAlpha.length;
  if (rows !== undefined) {
    const rowSize = rows.length === 0 ? 0 : theta.length / rows.length;
    for (let r = 0; r < rows.length; r++) {
      const first = rows[r]! * rowSize;
      for (let j = 0; j < rowSize; j++) {
        const i = first + j;
        const x = logAlpha[i]!;
        const zi = gateOf(noiseAt(noise, i, uLow, uHigh), x, beta === 1 ? Math.exp(-x) : 0, constants);
        theta[r * rowSize + j] = base[i]! + zi * groupGate * w[i]!;
      }
    }
    return sigmaSumOf(logAlpha, shift);
  }
  let sum = 0;
  if (beta === 1 && shift === 0) {
    // The hot path, a loop per noise source (a per-entry `=== undefined` test costs ~3 ns/entry).
    const { u } = noise;
    if (u !== undefined) {
      for (let i = 0; i < n; i++) {
        const e = Math.exp(-logAlpha[i]!);
        sum += 1 / (1 + e);
        const ui = Math.min(Math.max(u[i]!, uLow), uHigh);
        const positive = relu((ui / (ui + (1 - ui) * e)) * scale + left);
        theta[i] = base[i]! + (positive - relu(positive - 1)) * groupGate * w[i]!;
      }
    } else {
      const { a, b } = noise.key;
      for (let i = 0; i < n; i++) {
        const e = Math.exp(-logAlpha[i]!);
        sum += 1 / (1 + e);
        const ui = Math.min(Math.max(uniformAt(i, a, b), uLow), uHigh);
        const positive = relu((ui / (ui + (1 - ui) * e)) * scale + left);
        theta[i] = base[i]! + (positive - relu(positive - 1)) * groupGate * w[i]!;
      }
    }
    return sum;
  }
  for (let i = 0; i < n; i++) {
    const x = logAlpha[i]!;
    sum += 1 / (1 + Math.exp(shift - x));
    const zi = gateOf(noiseAt(noise, i, uLow, uHigh), x, beta === 1 ? Math.exp(-x) : 0, constants);
    theta[i] = base[i]! + zi * groupGate * w[i]!;
  }
  return sum;
}

/**
 * dlogα's gate term of one entry from its z (as float32, as the unfused backward reads the saved z):
 * gatedDiffBackwardInto's formula; `factor` = z_g·(r − l)/β.
 */
const gateTerm = (zi: number, dyw: number, factor: number, left: number, inverseScale: number): number => {
  const s = (zi - left) * inverseScale;
  return (+(zi > 0) & +(zi < 1)) * dyw * factor * s * (1 - s);
};

/**
 * One tensor's backward: writes dW and dlogα for every entry (dlogα = the gate's term + `penaltyScale`·
 * σ(1 − σ), where penaltyScale = dPenalty·(σ_g for `product`, else 1)) and returns Σ dy·w·z and
 * S = Σσ, both float64. With `rows`, dy holds those rows only: every entry gets the penalty term, then each
 * row's gate terms are added (rows may repeat; their gradients add up). z is recomputed from logα and the
 * noise exactly as the forward computes it.
 */
export function gatedDiffsBackwardInto(
  dW: Float32Array,
  dLogAlpha: Float32Array,
  dy: Float32Array,
  w: Float32Array,
  logAlpha: Float32Array,
  noise: Noise,
  rows: Int32Array | undefined,
  groupGate: number,
  penaltyScale: number,
  constants: GateConstants,
): { groupDot: number; sigmaSum: number } {
  const { beta, left, right, uLow, uHigh, shift } = constants;
  const scale = right - left;
  const inverseScale = 1 / scale;
  const factor = (groupGate * scale) / beta;
  const n = logAlpha.length;
  let groupDot = 0;
  let sigmaSum = 0;
  if (rows !== undefined) {
    for (let i = 0; i < n; i++) {
      const sigma = 1 / (1 + Math.exp(shift - logAlpha[i]!));
      sigmaSum += sigma;
      dLogAlpha[i] = penaltyScale * sigma * (1 - sigma);
      dW[i] = 0;
    }
    const rowSize = rows.length === 0 ? 0 : dy.length / rows.length;
    for (let r = 0; r < rows.length; r++) {
      const first = rows[r]! * rowSize;
      for (let j = 0; j < rowSize; j++) {
        const i = first + j;
        const x = logAlpha[i]!;
        const ui = noiseAt(noise, i, uLow, uHigh);
        const zi = Math.fround(gateOf(ui, x, beta === 1 ? Math.exp(-x) : 0, constants));
        const dyi = dy[r * rowSize + j]!;
        const dyw = dyi * w[i]!;
        dW[i] = dW[i]! + dyi * zi * groupGate;
        groupDot += dyw * zi;
        dLogAlpha[i] = dLogAlpha[i]! + gateTerm(zi, dyw, factor, left, inverseScale);
      }
    }
    return { groupDot, sigmaSum };
  }
  if (beta === 1 && shift === 0) {
    const { u } = noise;
    const { a, b } = noise.key;
    // One loop per noise source, as in the forward.
    if (u !== undefined) {
      for (let i = 0; i < n; i++) {
        const e = Math.exp(-logAlpha[i]!);
        const sigma = 1 / (1 + e);
        sigmaSum += sigma;
        const ui = Math.min(Math.max(u[i]!, uLow), uHigh);
        const positive = relu((ui / (ui + (1 - ui) * e)) * scale + left);
        const zi = Math.fround(positive - relu(positive - 1));
        const dyi = dy[i]!;
        const dyw = dyi * w[i]!;
        dW[i] = dyi * zi * groupGate;
        groupDot += dyw * zi;
        const s = (zi - left) * inverseScale;
        dLogAlpha[i] =
          Math.fround((+(zi > 0) & +(zi < 1)) * dyw * factor * s * (1 - s)) +
          penaltyScale * sigma * (1 - sigma);
      }
    } else {
      for (let i = 0; i < n; i++) {
        const e = Math.exp(-logAlpha[i]!);
        const sigma = 1 / (1 + e);
        sigmaSum += sigma;
        const ui = Math.min(Math.max(uniformAt(i, a, b), uLow), uHigh);
        const positive = relu((ui / (ui + (1 - ui) * e)) * scale + left);
        const zi = Math.fround(positive - relu(positive - 1));
        const dyi = dy[i]!;
        const dyw = dyi * w[i]!;
        dW[i] = dyi * zi * groupGate;
        groupDot += dyw * zi;
        const s = (zi - left) * inverseScale;
        dLogAlpha[i] =
          Math.fround((+(zi > 0) & +(zi < 1)) * dyw * factor * s * (1 - s)) +
          penaltyScale * sigma * (1 - sigma);
      }
    }
    return { groupDot, sigmaSum };
  }
  for (let i = 0; i < n; i++) {
    const x = logAlpha[i]!;
    const sigma = 1 / (1 + Math.exp(shift - x));
    sigmaSum += sigma;
    const ui = noiseAt(noise, i, uLow, uHigh);
    const zi = Math.fround(gateOf(ui, x, beta === 1 ? Math.exp(-x) : 0, constants));
    const dyi = dy[i]!;
    const dyw = dyi * w[i]!;
    dW[i] = dyi * zi * groupGate;
    groupDot += dyw * zi;
    dLogAlpha[i] =
      Math.fround(gateTerm(zi, dyw, factor, left, inverseScale)) + penaltyScale * sigma * (1 - sigma);
  }
  return { groupDot, sigmaSum };
}

/** A float32 input's view (an `InvalidArgumentError` naming the kernel and input otherwise). */
function float32View(
  view: unknown,
  info: TensorInfo | undefined,
  name: string,
  kernel: string,
): Float32Array {
  if (!(view instanceof Float32Array)) {
    throw new InvalidArgumentError({
      argument: name,
      expected: 'a float32 tensor',
      found: info?.dtype ?? 'nothing',
      context: kernel,
    });
  }
  return view;
}

/** An int32 input's view (rows). */
function int32View(view: unknown, info: TensorInfo | undefined, name: string, kernel: string): Int32Array {
  if (!(view instanceof Int32Array)) {
    throw new InvalidArgumentError({
      argument: name,
      expected: 'an int32 tensor',
      found: info?.dtype ?? 'nothing',
      context: kernel,
    });
  }
  return view;
}

const rowsShape = (shape: number[], rows: number) => [rows, ...shape.slice(1)];

/** The penalty term of one tensor from S: S, S + σ_g (`sum`) or S·σ_g (`product`). */
function penaltyTerm(attributes: GatedDiffsAttributes, t: number, sigmaSum: number): number {
  if ((attributes.layout[t]! & layoutHasGroup) === 0) return sigmaSum;
  const groupSigma = attributes.groupSigmas[t]!;
  return attributes.groupPenalty === 'product' ? sigmaSum * groupSigma : sigmaSum + groupSigma;
}

const noiseOf = (u: Float32Array | undefined, seed: number, kernel: string): Noise => ({
  u,
  key: uniformKey(u === undefined ? seed : 0, kernel),
});

const forwardKernel = (backendName: string, memory: Memory): KernelConfig => ({
  kernelName: gatedDiffsKernelName,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const attributes = attrs as unknown as GatedDiffsAttributes;
    const list = Object.values(inputs) as TensorInfo[];
    const roles = gatedDiffsInputRoles(attributes.layout);
    if (roles.length !== list.length) {
      throw new InvalidArgumentError({
        argument: 'inputs',
        expected: `${roles.length} tensors (the layout's)`,
        found: list.length,
        context: gatedDiffsKernelName,
      });
    }
    const named = new Map(roles.map(({ t, role }, k) => [`${role}${t}`, k]));
    const outputShapes = attributes.layout.map((flags, t) => {
      const baseShape = list[named.get(`base${t}`)!]!.shape;
      if ((flags & layoutHasRows) === 0) return baseShape;
      return rowsShape(baseShape, size(list[named.get(`rows${t}`)!]!.shape));
    });
    // Every output first (on wasm an allocation may move the heap), then every view.
    const { outputs, outputViews, inputViews } = memory.run(backend, [...outputShapes, []], list);
    const view = (name: string, t: number) => {
      const k = named.get(`${name}${t}`);
      return k === undefined
        ? undefined
        : float32View(inputViews[k], list[k], `${name}${t}`, gatedDiffsKernelName);
    };
    let penalty = 0;
    attributes.layout.forEach((flags, t) => {
      const rowsAt = named.get(`rows${t}`);
      const rows =
        rowsAt === undefined
          ? undefined
          : int32View(inputViews[rowsAt], list[rowsAt], `rows${t}`, gatedDiffsKernelName);
      const sigmaSum = gatedDiffsForwardInto(
        outputViews[t]!,
        view('base', t)!,
        view('w', t)!,
        view('logAlpha', t)!,
        noiseOf(
          (flags & layoutHasU) === 0 ? undefined : view('u', t),
          attributes.seeds[t] ?? 0,
          gatedDiffsKernelName,
        ),
        rows,
        attributes.groupGates[t] ?? 1,
        attributes,
      );
      penalty += penaltyTerm(attributes, t, sigmaSum);
    });
    outputViews[attributes.layout.length]![0] = penalty;
    return outputs;
  },
});

const backwardKernel = (backendName: string, memory: Memory): KernelConfig => ({
  kernelName: gatedDiffsGradKernelName,
  backendName,
  kernelFunc: ({ inputs, backend, attrs }) => {
    const attributes = attrs as unknown as GatedDiffsAttributes;
    const named = inputs as Record<string, TensorInfo | undefined>;
    const names = Object.keys(named);
    const list = names.map((name) => named[name]);
    const position = new Map(names.map((name, k) => [name, k]));
    const count = attributes.layout.length;
    const outputShapes: number[][] = [];
    for (let t = 0; t < count; t++) {
      const w = named[`w${t}`];
      if (w === undefined) {
        throw new InvalidArgumentError({
          argument: `w${t}`,
          expected: 'a tensor',
          found: 'nothing',
          context: gatedDiffsGradKernelName,
        });
      }
      outputShapes.push(w.shape, w.shape);
    }
    const grouped = attributes.layout.flatMap((flags, t) => ((flags & layoutHasGroup) === 0 ? [] : [t]));
    for (const t of grouped) outputShapes.push(named[`groupLogAlpha${t}`]?.shape ?? []);
    const { outputs, outputViews, inputViews } = memory.run(backend, outputShapes, list);
    const view = (name: string) => {
      const k = position.get(name);
      return k === undefined
        ? undefined
        : float32View(inputViews[k], list[k], name, gatedDiffsGradKernelName);
    };
    const dPenalty = view('dPenalty')?.[0] ?? 0;
    const groupGradients = new Map<number, number>();
    attributes.layout.forEach((flags, t) => {
      const product = (flags & layoutHasGroup) !== 0 && attributes.groupPenalty === 'product';
      const groupSigma = attributes.groupSigmas[t] ?? 0;
      const rowsAt = position.get(`rows${t}`);
      const { groupDot, sigmaSum } = gatedDiffsBackwardInto(
        outputViews[2 * t]!,
        outputViews[2 * t + 1]!,
        view(`dy${t}`)!,
        view(`w${t}`)!,
        view(`logAlpha${t}`)!,
        noiseOf(
          (flags & layoutHasU) === 0 ? undefined : view(`u${t}`),
          attributes.seeds[t] ?? 0,
          gatedDiffsGradKernelName,
        ),
        (flags & layoutHasRows) === 0 || rowsAt === undefined
          ? undefined
          : int32View(inputViews[rowsAt], list[rowsAt], `rows${t}`, gatedDiffsGradKernelName),
        attributes.groupGates[t] ?? 1,
        product ? dPenalty * groupSigma : dPenalty,
        attributes,
      );
      if ((flags & layoutHasGroup) !== 0) {
        const fromPenalty = dPenalty * (product ? sigmaSum : 1) * groupSigma * (1 - groupSigma);
        groupGradients.set(t, groupDot * attributes.groupSlopes[t]! + fromPenalty);
      }
    });
    grouped.forEach((t, k) => {
      outputViews[2 * count + k]![0] = groupGradients.get(t)!;
    });
    return outputs;
  },
});

/**
 * The backends on which our JS kernels are registered: those where they made the whole training step
 * faster than the per-tensor ops (measured, see the README). Any backend's own registration under the
 * same names (e.g. @diffprune/native's compiled kernels) is used instead, everywhere.
 *
 * `cpu` only. On `wasm` they made a BERT-Tiny diff-pruning step slower (~340 → ~420 ms): the per-tensor
 * ops take the penalty's σ of every entry from the backend's vectorised Sigmoid and touch only the
 * batch's rows of the token embedding with JS loops, whereas these loops pay a JS `Math.exp` (~10 ns)
 * per entry of every tensor in each pass. The loops are written against `Memory`, so they run on wasm's
 * heap views as they are, should a faster exp make them pay off there.
 */
export const gatedDiffsJsBackends: readonly string[] = ['cpu'];

/**
 * True when the active backend has both fused kernels; registers ours first (lazily, never at import)
 * on the backends of `gatedDiffsJsBackends` that lack them.
 */
export function ensureGatedDiffsKernels(): boolean {
  const backendName = tf.getBackend();
  const memory = memories[backendName];
  const has = (name: string) => tf.getKernel(name, backendName) !== undefined;
  if (memory !== undefined && gatedDiffsJsBackends.includes(backendName)) {
    if (!has(gatedDiffsKernelName)) tf.registerKernel(forwardKernel(backendName, memory));
    if (!has(gatedDiffsGradKernelName)) tf.registerKernel(backwardKernel(backendName, memory));
  }
  return has(gatedDiffsKernelName) && has(gatedDiffsGradKernelName);
}
