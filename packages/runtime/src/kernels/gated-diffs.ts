import {
  type GatedDiffsAttributes,
  gatedDiffsGradKernelName,
  gatedDiffsInputRoles,
  gatedDiffsKernelName,
  InvalidArgumentError,
  layoutHasGroup,
  layoutHasRows,
  layoutHasU,
  type UniformKey,
  uniformAt,
  uniformKey,
} from '@diffprune/core';
import type { KernelConfig, TensorInfo } from '@tensorflow/tfjs-core';
import { type Memory, sizeOf } from './memory.js';

/**
 * The whole-model gate in JS — `DiffpruneGatedDiffs` / `DiffpruneGatedDiffsGrad`, contract (inputs,
 * attributes, outputs, formulas) in @diffprune/core's kernel-names.ts — for backends whose tensors JS
 * can address (`Memory`). Registered by the runtime on `cpu` and `wasm`, where they make the training step
 * faster than @diffprune/hard-concrete's composite. On wasm e^(−logα) comes from the backend's vectorised
 * Neg/Exp (`Memory.expNegative`): a JS `Math.exp` (~10 ns) per entry of every tensor in each pass made
 * an earlier version slower than the per-tensor ops there (a BERT-Tiny step measured ~340 → ~420 ms).
 * @diffprune/native compiles the same arithmetic (double, same order) for `native`.
 */

/** max(x, 0) without a branch (x + |x| = 2x or 0 exactly), so random signs cost no mispredictions. */
const relu = (x: number): number => (x + Math.abs(x)) * 0.5;

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

/**
 * z of one entry from its clamped noise u: min(1, max(0, s·(r − l) + l)) with s = σ((logit u + logα)/β).
 * For β = 1, s = u/(u + (1 − u)·e) with e = e^(−logα) (shared with the penalty's σ: one exp per entry);
 * otherwise from logα itself. The clamp relu(s̄) − relu(relu(s̄) − 1) is exact and branch-free.
 */
function gateOf(ui: number, logAlpha: number, e: number, constants: GateConstants): number {
  const s =
    constants.beta === 1
      ? ui / (ui + (1 - ui) * e)
      : 1 / (1 + Math.exp(-(Math.log(ui / (1 - ui)) + logAlpha) / constants.beta));
  const positive = relu(s * (constants.right - constants.left) + constants.left);
  return positive - relu(positive - 1);
}

/** σ(logα − shift) from e = e^(−logα) when the shift is 0 (the default limits), else with its own exp. */
const sigmaOf = (logAlpha: number, e: number, shift: number): number =>
  shift === 0 ? 1 / (1 + e) : 1 / (1 + Math.exp(shift - logAlpha));

/** A group gate as the kernels use it: z_g, dz_g/dlogα_g and σ(logα_g − shift), each a float32 value. */
export interface GroupGate {
  gate: number;
  slope: number;
  sigma: number;
}

/** No group gate: z_g = 1 (and no slope or σ_g). */
const noGroupGate: GroupGate = { gate: 1, slope: 0, sigma: 0 };

/**
 * A tensor's group gate from its logα_g and noise u_g (one element each), like any entry's gate
 * (`gateOf`, `sigmaOf` in float64; e = e^(−logα_g) as a float32, as the entries read it), each value
 * rounded to float32; the slope from z_g: 1[0 < z_g < 1]·(r − l)·s(1 − s)/β with s = (z_g − l)/(r − l).
 */
export function groupGateOf(logAlpha: number, u: number, constants: GateConstants): GroupGate {
  const { beta, left, right, uLow, uHigh, shift } = constants;
  const e = Math.fround(Math.exp(-logAlpha));
  const gate = Math.fround(gateOf(Math.min(Math.max(u, uLow), uHigh), logAlpha, e, constants));
  const scale = right - left;
  const s = (gate - left) / scale;
  const slope = gate > 0 && gate < 1 ? Math.fround((scale * s * (1 - s)) / beta) : 0;
  return { gate, slope, sigma: Math.fround(sigmaOf(logAlpha, e, shift)) };
}

/**
 * dlogα's gate term of one entry from its z (as float32, as a saved z would be):
 * dy·w·z_g·1[0 < z < 1]·(r − l)·s(1 − s)/β with s = (z − l)/(r − l); `factor` = z_g·(r − l)/β.
 */
const gateTerm = (zi: number, dyw: number, factor: number, left: number, inverseScale: number): number => {
  const s = (zi - left) * inverseScale;
  // 1[0 < z < 1] as a number, without a branch (`&` of two comparisons).
  return (+(zi > 0) & +(zi < 1)) * dyw * factor * s * (1 - s);
};

/** The clamped noise of entry i (for the rows paths, which touch few entries). */
const noiseAt = (noise: Noise, i: number, uLow: number, uHigh: number): number =>
  Math.min(
    Math.max(noise.u === undefined ? uniformAt(i, noise.key.a, noise.key.b) : noise.u[i]!, uLow),
    uHigh,
  );

let scratch = new Float32Array(0);
/**
 * Every entry's noise as one array: u itself, or the key's uniforms drawn into a reused buffer. The
 * full-tensor loops then have one shape for both sources (a per-entry `=== undefined` test in the loop
 * costs ~3 ns/entry; drawing first costs one store and one load).
 */
function noiseArray(noise: Noise, n: number): Float32Array {
  if (noise.u !== undefined) return noise.u;
  if (scratch.length < n) scratch = new Float32Array(n);
  const out = scratch.subarray(0, n);
  const { a, b } = noise.key;
  for (let i = 0; i < n; i++) out[i] = uniformAt(i, a, b);
  return out;
}

let exponentials = new Float32Array(0);

/**
 * e^(−logα) of every entry as one float32 array (as @diffprune/native's kernels take it from their
 * vectorised exp): the backend's own when given (wasm's Neg/Exp, see `Memory.expNegative`), else
 * `Math.exp` into a reused buffer. The loops then read e for the gate (β = 1: s = u/(u + (1 − u)·e)) and
 * for σ = 1/(1 + e) (shift 0), with no exp of their own.
 */
function exponentialArray(logAlpha: Float32Array, given: Float32Array | undefined): Float32Array {
  if (given !== undefined) return given;
  const n = logAlpha.length;
  if (exponentials.length < n) exponentials = new Float32Array(n);
  const out = exponentials.subarray(0, n);
  for (let i = 0; i < n; i++) out[i] = Math.exp(-logAlpha[i]!);
  return out;
}

/**
 * One tensor's forward: writes θ (every entry, or the entries of `rows` only, row by row) and returns
 * S = Σ_i σ(logα_i − shift) over every entry (float64).
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
  expNegative?: Float32Array,
): number {
  const { uLow, uHigh, shift } = constants;
  const n = logAlpha.length;
  const e = exponentialArray(logAlpha, expNegative);
  let sum = 0;
  if (rows !== undefined) {
    const rowSize = rows.length === 0 ? 0 : theta.length / rows.length;
    for (let r = 0; r < rows.length; r++) {
      const first = rows[r]! * rowSize;
      for (let j = 0; j < rowSize; j++) {
        const i = first + j;
        const zi = gateOf(noiseAt(noise, i, uLow, uHigh), logAlpha[i]!, e[i]!, constants);
        theta[r * rowSize + j] = base[i]! + zi * groupGate * w[i]!;
      }
    }
    for (let i = 0; i < n; i++) sum += sigmaOf(logAlpha[i]!, e[i]!, shift);
    return sum;
  }
  const u = noiseArray(noise, n);
  for (let i = 0; i < n; i++) {
    const x = logAlpha[i]!;
    const ei = e[i]!;
    sum += sigmaOf(x, ei, shift);
    const zi = gateOf(Math.min(Math.max(u[i]!, uLow), uHigh), x, ei, constants);
    theta[i] = base[i]! + zi * groupGate * w[i]!;
  }
  return sum;
}

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
  expNegative?: Float32Array,
): { groupDot: number; sigmaSum: number } {
  const { beta, left, right, uLow, uHigh, shift } = constants;
  const e = exponentialArray(logAlpha, expNegative);
  const scale = right - left;
  const inverseScale = 1 / scale;
  const factor = (groupGate * scale) / beta;
  const n = logAlpha.length;
  let groupDot = 0;
  let sigmaSum = 0;
  if (rows !== undefined) {
    for (let i = 0; i < n; i++) {
      const sigma = sigmaOf(logAlpha[i]!, e[i]!, shift);
      sigmaSum += sigma;
      dLogAlpha[i] = penaltyScale * sigma * (1 - sigma);
      dW[i] = 0;
    }
    const rowSize = rows.length === 0 ? 0 : dy.length / rows.length;
    for (let r = 0; r < rows.length; r++) {
      const first = rows[r]! * rowSize;
      for (let j = 0; j < rowSize; j++) {
        const i = first + j;
        const ui = noiseAt(noise, i, uLow, uHigh);
        const zi = Math.fround(gateOf(ui, logAlpha[i]!, e[i]!, constants));
        const dyi = dy[r * rowSize + j]!;
        const dyw = dyi * w[i]!;
        dW[i] = dW[i]! + dyi * zi * groupGate;
        groupDot += dyw * zi;
        dLogAlpha[i] = dLogAlpha[i]! + gateTerm(zi, dyw, factor, left, inverseScale);
      }
    }
    return { groupDot, sigmaSum };
  }
  const u = noiseArray(noise, n);
  for (let i = 0; i < n; i++) {
    const x = logAlpha[i]!;
    const ei = e[i]!;
    const sigma = sigmaOf(x, ei, shift);
    sigmaSum += sigma;
    const zi = Math.fround(gateOf(Math.min(Math.max(u[i]!, uLow), uHigh), x, ei, constants));
    const dyi = dy[i]!;
    const dyw = dyi * w[i]!;
    dW[i] = dyi * zi * groupGate;
    groupDot += dyw * zi;
    dLogAlpha[i] =
      Math.fround(gateTerm(zi, dyw, factor, left, inverseScale)) + penaltyScale * sigma * (1 - sigma);
  }
  return { groupDot, sigmaSum };
}

/** An input's view as `type` (float32 data, int32 rows): an `InvalidArgumentError` naming the kernel and input otherwise. */
function typedView<T extends Float32Array | Int32Array>(
  view: unknown,
  type: { new (length: number): T; name: string },
  info: TensorInfo | undefined,
  name: string,
  kernel: string,
): T {
  if (!(view instanceof type)) {
    throw new InvalidArgumentError({
      argument: name,
      expected: type === (Int32Array as unknown) ? 'an int32 tensor' : 'a float32 tensor',
      found: info?.dtype ?? 'nothing',
      context: kernel,
    });
  }
  return view;
}

const float32View = (view: unknown, info: TensorInfo | undefined, name: string, kernel: string) =>
  typedView(view, Float32Array, info, name, kernel);
const int32View = (view: unknown, info: TensorInfo | undefined, name: string, kernel: string) =>
  typedView(view, Int32Array, info, name, kernel);

const rowsShape = (shape: number[], rows: number) => [rows, ...shape.slice(1)];

/** The penalty term of one tensor from S: S, S + σ_g (`sum`) or S·σ_g (`product`). */
function penaltyTerm(
  attributes: GatedDiffsAttributes,
  t: number,
  sigmaSum: number,
  group: GroupGate,
): number {
  if ((attributes.layout[t]! & layoutHasGroup) === 0) return sigmaSum;
  return attributes.groupPenalty === 'product' ? sigmaSum * group.sigma : sigmaSum + group.sigma;
}

/** Tensor t's group gate from its `groupLogAlpha` and `groupU` views (`noGroupGate` without them). */
function groupOf(
  flags: number,
  view: (role: 'groupLogAlpha' | 'groupU') => Float32Array | undefined,
  constants: GateConstants,
): GroupGate {
  if ((flags & layoutHasGroup) === 0) return noGroupGate;
  return groupGateOf(view('groupLogAlpha')![0]!, view('groupU')![0]!, constants);
}

const noiseOf = (u: Float32Array | undefined, seed: number, kernel: string): Noise => ({
  u,
  key: uniformKey(u === undefined ? seed : 0, kernel),
});

export const gatedDiffsKernel = (backendName: string, memory: Memory): KernelConfig => ({
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
      return rowsShape(baseShape, sizeOf(list[named.get(`rows${t}`)!]!.shape));
    });
    // e^(−logα) by the backend where it is faster (temporaries), then every output (on wasm an
    // allocation may move the heap), then every view.
    const exponentials = attributes.layout.map((_, t) =>
      memory.expNegative?.(backend, list[named.get(`logAlpha${t}`)!]!),
    );
    const { outputs, outputViews, inputViews } = memory.run(
      backend,
      [...outputShapes, []],
      [...list, ...exponentials],
    );
    const exponentialOf = (t: number) => {
      const view = inputViews[list.length + t];
      return view === undefined
        ? undefined
        : float32View(view, exponentials[t], `e${t}`, gatedDiffsKernelName);
    };
    const view = (name: string, t: number) => {
      const k = named.get(`${name}${t}`);
      return k === undefined
        ? undefined
        : float32View(inputViews[k], list[k], `${name}${t}`, gatedDiffsKernelName);
    };
    let penalty = 0;
    attributes.layout.forEach((flags, t) => {
      const group = groupOf(flags, (role) => view(role, t), attributes);
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
        group.gate,
        attributes,
        exponentialOf(t),
      );
      penalty += penaltyTerm(attributes, t, sigmaSum, group);
    });
    outputViews[attributes.layout.length]![0] = penalty;
    for (const info of exponentials) if (info) memory.release?.(backend, info);
    return outputs;
  },
});

export const gatedDiffsGradKernel = (backendName: string, memory: Memory): KernelConfig => ({
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
    const exponentials = attributes.layout.map((_, t) => {
      const logAlpha = named[`logAlpha${t}`];
      return logAlpha === undefined ? undefined : memory.expNegative?.(backend, logAlpha);
    });
    const { outputs, outputViews, inputViews } = memory.run(backend, outputShapes, [
      ...list,
      ...exponentials,
    ]);
    const exponentialOf = (t: number) => {
      const view = inputViews[list.length + t];
      return view === undefined
        ? undefined
        : float32View(view, exponentials[t], `e${t}`, gatedDiffsGradKernelName);
    };
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
      const group = groupOf(flags, (role) => view(`${role}${t}`), attributes);
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
        group.gate,
        product ? dPenalty * group.sigma : dPenalty,
        attributes,
        exponentialOf(t),
      );
      if ((flags & layoutHasGroup) !== 0) {
        const fromPenalty = dPenalty * (product ? sigmaSum : 1) * group.sigma * (1 - group.sigma);
        groupGradients.set(t, groupDot * group.slope + fromPenalty);
      }
    });
    grouped.forEach((t, k) => {
      outputViews[2 * count + k]![0] = groupGradients.get(t)!;
    });
    for (const info of exponentials) if (info) memory.release?.(backend, info);
    return outputs;
  },
});
