import { existsSync } from 'node:fs';
import { adamKernelName, BackendError } from '@diffprune/core';
import { scatterAddSegments } from '@diffprune/runtime';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { addonPath, loadAddonFrom } from './addon.js';
import { nativeAddon, registerNativeBackend } from './backend.js';
import { maxRelativeError, onBackend, randomValues, runOn } from './test-helpers.js';

const built = existsSync(addonPath);
if (!built)
  console.warn(`@diffprune/native tests skipped: the addon was not built (${addonPath} is missing)`);

let seed = 1;
const random = (shape: number[]) => tf.tensor(randomValues(tf.util.sizeFromShape(shape), seed++), shape);

/** Same computation on native and on tfjs cpu (the second implementation); same outputs. */
async function expectSameAsCpu(fn: () => tf.Tensor | tf.Tensor[], tolerance = 1e-5): Promise<void> {
  const start = seed;
  const native = await runOn('native', fn);
  seed = start;
  const cpu = await runOn('cpu', fn);
  expect(native.length).toBe(cpu.length);
  native.forEach((values, i) => {
    expect(values.length).toBe(cpu[i]!.length);
    expect(maxRelativeError(values, cpu[i]!)).toBeLessThan(tolerance);
  });
}

describe('loading', () => {
  it('names the missing file when the addon was not built', () => {
    expect(() => loadAddonFrom('/nonexistent/diffprune_native.node')).toThrow(/was not built.*missing/);
  });
});

describe.skipIf(!built)('native backend', () => {
  beforeAll(async () => {
    await import('@tensorflow/tfjs-backend-cpu');
    tf.env().set('PROD', true);
    registerNativeBackend({ threads: 2 });
  });

  it('registers every cpu kernel for native, and is a MathBackendCPU', async () => {
    const cpuKernels = tf.getKernelsForBackend('cpu').map((kernel) => kernel.kernelName);
    const missing = cpuKernels.filter((name) => !tf.getKernel(name, 'native'));
    expect(missing).toEqual([]);
    expect(tf.getKernel('BatchMatMul', 'native')!.kernelFunc).not.toBe(
      tf.getKernel('BatchMatMul', 'cpu')!.kernelFunc,
    );
    const registration = registerNativeBackend({ threads: 2 });
    expect(registration).toMatchObject({ name: 'native', threads: 2 });
    expect(registration.detail).toMatch(/GEMM micro-kernel (avx2\+fma|avx512|generic)/);
    expect(() => registerNativeBackend({ threads: 0 })).toThrow(BackendError);
  });

  it('matMul: every transpose combination, odd sizes, batches and broadcast batches', async () => {
    const cases: [number[], number[]][] = [
      [
        [1, 1],
        [1, 1],
      ],
      [
        [7, 5],
        [5, 13],
      ],
      [
        [37, 300],
        [300, 45],
      ],
      [
        [130, 513],
        [513, 70],
      ],
      [
        [3, 17, 33],
        [3, 33, 9],
      ],
      [
        [2, 3, 64, 64],
        [2, 3, 64, 64],
      ],
      [
        [4, 31, 20],
        [1, 20, 19],
      ],
      [
        [1, 31, 20],
        [5, 20, 19],
      ],
      [
        [6, 8],
        [2, 8, 11],
      ],
      [
        [0, 4],
        [4, 3],
      ],
    ];
    for (const [aShape, bShape] of cases) {
      for (const transposeA of [false, true]) {
        for (const transposeB of [false, true]) {
          const swap = (shape: number[], transpose: boolean) =>
            transpose ? [...shape.slice(0, -2), shape.at(-1)!, shape.at(-2)!] : shape;
          await expectSameAsCpu(() =>
            tf.matMul(
              random(swap(aShape, transposeA)),
              random(swap(bShape, transposeB)),
              transposeA,
              transposeB,
            ),
          );
        }
      }
    }
  });

  it('matMul: the same results from every GEMM micro-kernel and thread count', async () => {
    const addon = nativeAddon();
    const initial = addon.gemmKernel();
    const reference = await runOn('native', () => {
      seed = 1000;
      return [
        tf.matMul(random([3, 150, 300]), random([3, 300, 200])),
        tf.matMul(random([257, 64]), random([257, 97]), true),
      ];
    });
    try {
      for (const kernel of ['generic', 'avx2', 'avx512']) {
        if (!addon.setGemmKernel(kernel)) continue;
        for (const threads of [1, 2, 3]) {
          addon.setThreads(threads);
          const outputs = await runOn('native', () => {
            seed = 1000;
            return [
              tf.matMul(random([3, 150, 300]), random([3, 300, 200])),
              tf.matMul(random([257, 64]), random([257, 97]), true),
            ];
          });
          outputs.forEach((values, i) => {
            expect(maxRelativeError(values, reference[i]!)).toBeLessThan(1e-5);
          });
        }
      }
    } finally {
      addon.setGemmKernel(initial === 'avx2+fma' ? 'avx2' : initial);
      addon.setThreads(2);
    }
  });

  it('the whole-model gate kernels give the same bits for any thread count (sums in block order)', () => {
    const addon = nativeAddon();
    const n = 300 * 257; // above the parallel threshold, not a multiple of the 1,024-entry block
    const values = (offset: number, scale: number, shift = 0) =>
      Float32Array.from(randomValues(n, 4000 + offset), (x) => x * scale + shift);
    const [base, w, logAlpha, dy] = [values(1, 1), values(2, 0.1), values(3, 3, 0.5), values(4, 1)];
    const rows = Int32Array.from([299, 0, 17, 17, 150]);
    const run = (threads: number) => {
      addon.setThreads(threads);
      const theta = new Float32Array(n);
      const thetaRows = new Float32Array(rows.length * 257);
      const dW = new Float32Array(n);
      const dLogAlpha = new Float32Array(n);
      const dWRows = new Float32Array(n);
      const dLogAlphaRows = new Float32Array(n);
      // rowSize, seed, z_g, β, l, r, u bounds, shift
      const scalars = [257, 12345, 0.8, 1, -1.5, 1.5, 1e-4, 0.9999, 0] as const;
      const sums = [
        addon.gatedDiffsForward(theta, base, w, logAlpha, null, null, ...scalars),
        addon.gatedDiffsForward(thetaRows, base, w, logAlpha, null, rows, ...scalars),
        ...addon.gatedDiffsBackward(dW, dLogAlpha, dy, w, logAlpha, null, null, ...scalars, 1e-3),
        ...addon.gatedDiffsBackward(
          dWRows,
          dLogAlphaRows,
          dy.subarray(0, rows.length * 257),
          w,
          logAlpha,
          null,
          rows,
          ...scalars,
          1e-3,
        ),
      ];
      return { arrays: [theta, thetaRows, dW, dLogAlpha, dWRows, dLogAlphaRows], sums };
    };
    try {
      const one = run(1);
      // The outputs are not trivial: θ moved, gates open and closed, the rows' gradients landed.
      expect(one.arrays[0]!.some((x, i) => x !== base[i])).toBe(true);
      expect(one.arrays[4]!.slice(17 * 257, 18 * 257).some((x) => x !== 0)).toBe(true);
      expect(one.arrays[4]!.slice(18 * 257, 19 * 257).every((x) => x === 0)).toBe(true);
      for (const threads of [2, 3]) {
        const other = run(threads);
        expect(other.sums).toEqual(one.sums);
        other.arrays.forEach((array, k) => {
          expect(Array.from(array)).toEqual(Array.from(one.arrays[k]!));
        });
      }
    } finally {
      addon.setThreads(2);
    }
  });

  it('fused matMul with bias and every activation', async () => {
    for (const activation of ['linear', 'relu', 'relu6', 'elu', 'sigmoid', 'leakyrelu', 'prelu'] as const) {
      await expectSameAsCpu(() =>
        tf.fused.matMul({
          a: random([2, 9, 16]),
          b: random([16, 10]),
          transposeB: false,
          bias: random([10]),
          activation,
          ...(activation === 'prelu' ? { preluActivationWeights: random([10]) } : {}),
          ...(activation === 'leakyrelu' ? { leakyreluAlpha: 0.1 } : {}),
        }),
      );
    }
  });

  it('unsortedSegmentSum and the gradient of gather (the embedding lookup)', async () => {
    const ids = [3, 0, 3, 7, 1, 3, 9, 0];
    await expectSameAsCpu(() => tf.unsortedSegmentSum(random([8, 5]), tf.tensor1d(ids, 'int32'), 10));
    await expectSameAsCpu(() => tf.unsortedSegmentSum(random([8, 2, 3]), tf.tensor1d(ids, 'int32'), 12));
    // tfjs cpu's kernel fails on 2-D segment ids (its broadcast assumes 1-D); core's scatter-add is
    // the second implementation there.
    const values = randomValues(24, 77);
    const ids2d = [1, 2, 1, 0, 0, 4, 4, 2];
    const [native2d] = await runOn('native', () =>
      tf.unsortedSegmentSum(
        tf.tensor3d(values, [2, 4, 3]),
        tf.tensor2d(ids2d, [2, 4], 'int32') as tf.Tensor as tf.Tensor1D,
        5,
      ),
    );
    expect(maxRelativeError(native2d!, scatterAddSegments(values, Int32Array.from(ids2d), 5, 3))).toBe(0);
    await expectSameAsCpu(() => {
      const table = random([50, 6]);
      const tokens = tf.tensor2d(
        [
          [1, 4, 4, 49],
          [0, 1, 2, 4],
        ],
        [2, 4],
        'int32',
      );
      const weights = random([2, 4, 6]);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, tokens), weights)))(table);
    });
  });

  it('gradients of a small transformer block match cpu', async () => {
    await expectSameAsCpu(() => {
      const x = random([10, 8]);
      const wq = random([8, 8]);
      const wk = random([8, 8]);
      const w1 = random([8, 12]);
      const b1 = random([12]);
      const gamma = random([8]);
      const f = (
        x: tf.Tensor,
        wq: tf.Tensor,
        wk: tf.Tensor,
        w1: tf.Tensor,
        b1: tf.Tensor,
        gamma: tf.Tensor,
      ) => {
        // tfjs's BatchMatMul gradient does not reduce broadcast batch dimensions: project in 2-D.
        const q = tf.reshape(tf.matMul(x, wq), [2, 5, 8]);
        const k = tf.reshape(tf.matMul(x, wk), [2, 5, 8]);
        const x3 = tf.reshape(x, [2, 5, 8]);
        const scores = tf.softmax(tf.div(tf.matMul(q, k, false, true), Math.sqrt(8)));
        const attended = tf.add(tf.matMul(scores, x3), x3);
        const { mean, variance } = tf.moments(attended, -1, true);
        const normed = tf.mul(tf.div(tf.sub(attended, mean), tf.sqrt(tf.add(variance, 1e-12))), gamma);
        const hidden = tf.add(tf.matMul(tf.reshape(normed, [10, 8]), w1), b1);
        const gelu = tf.mul(tf.mul(hidden, 0.5), tf.add(tf.erf(tf.div(hidden, Math.SQRT2)), 1));
        return tf.mean(tf.square(tf.tanh(gelu)));
      };
      return tf.grads(f as (...args: tf.Tensor[]) => tf.Tensor)([x, wq, wk, w1, b1, gamma]);
    }, 1e-4);
  });

  it('broadcasting binary ops and comparisons', async () => {
    const shapes: [number[], number[]][] = [
      [[7], [7]],
      [[2048 / 64, 128], [128]],
      [[3, 4, 5], []],
      [[], [3, 1, 5]],
      [
        [3, 1, 5],
        [1, 4, 1],
      ],
      [
        [2, 3, 4, 5],
        [3, 1, 5],
      ],
      [
        [4, 1],
        [1, 6],
      ],
      [
        [2, 1, 1, 9],
        [2, 3, 5, 9],
      ],
      [[1], [1]],
    ];
    const ops = [tf.add, tf.sub, tf.mul, tf.div, tf.maximum, tf.minimum, tf.squaredDifference];
    const comparisons = [tf.greater, tf.greaterEqual, tf.less, tf.lessEqual, tf.equal, tf.notEqual];
    for (const [aShape, bShape] of shapes) {
      for (const op of ops) await expectSameAsCpu(() => op(random(aShape), random(bShape)));
      for (const op of comparisons) {
        await expectSameAsCpu(() => {
          const a = tf.round(tf.mul(random(aShape), 2));
          return tf.cast(op(a, tf.round(tf.mul(random(bShape), 2))), 'float32');
        });
      }
    }
    // int32 goes to the cpu kernel, with the same result
    await expectSameAsCpu(() =>
      tf.cast(tf.add(tf.tensor1d([1, 2, 3], 'int32'), tf.scalar(4, 'int32')), 'float32'),
    );
  });

  it('unary ops, including the polynomial exp and erf', async () => {
    const x = () => tf.mul(random([3, 1000]), 6);
    for (const op of [tf.exp, tf.erf, tf.tanh, tf.square, tf.neg, tf.abs, tf.sigmoid, tf.relu]) {
      await expectSameAsCpu(() => op(x()), 2e-6);
    }
    await expectSameAsCpu(() => tf.exp(tf.tensor1d([-1e30, -90, -87, 0, 80, 88, 100])), 2e-6);
    for (const op of [tf.sqrt, tf.rsqrt, tf.log, tf.reciprocal]) {
      await expectSameAsCpu(() => op(tf.add(tf.abs(x()), 0.1)), 2e-6);
    }
  });

  it('sum, mean and max over any axes, softmax, transpose and gather', async () => {
    const shape = [4, 5, 6, 7];
    const axesCases: (number | number[] | undefined)[] = [
      undefined,
      0,
      1,
      3,
      -1,
      [0, 1],
      [1, 2],
      [2, 3],
      [0, 2],
      [1, 3],
      [0, 1, 2, 3],
    ];
    for (const axes of axesCases) {
      for (const keepDims of [false, true]) {
        await expectSameAsCpu(() => tf.sum(random(shape), axes, keepDims), 1e-5);
        await expectSameAsCpu(() => tf.mean(random(shape), axes, keepDims), 1e-5);
        await expectSameAsCpu(() => tf.max(random(shape), axes, keepDims));
      }
    }
    await expectSameAsCpu(() => tf.softmax(tf.mul(random([3, 2, 5, 17]), 10)), 1e-6);
    await expectSameAsCpu(
      () => tf.softmax(tf.add(random([2, 8]), tf.tensor1d([0, 0, -3.4e38, 0, 0, 0, -3.4e38, 0]))),
      1e-6,
    );
    for (const perm of [
      [1, 0],
      [0, 2, 1, 3],
      [3, 2, 1, 0],
      [2, 0, 3, 1],
      [0, 1, 2, 3],
    ]) {
      const permShape = perm.length === 2 ? [37, 70] : [3, 5, 4, 6];
      await expectSameAsCpu(() => tf.transpose(random(permShape), perm));
    }
    await expectSameAsCpu(() =>
      tf.cast(tf.transpose(tf.tensor3d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2], 'int32'), [2, 0, 1]), 'float32'),
    );
    await expectSameAsCpu(() =>
      tf.gather(random([30, 4]), tf.tensor2d([3, 0, 29, 3, 7, 7], [2, 3], 'int32')),
    );
    await expectSameAsCpu(() => tf.gather(random([5, 30, 4]), tf.tensor1d([3, 0, 29], 'int32'), 1));
    await onBackend('native', () => {
      expect(() => tf.gather(tf.zeros([3, 2]), tf.tensor1d([3], 'int32'))).toThrow(/not in \[0, 2\]/);
    });
  });

  it('the fused Adam kernel equals the tfjs op sequence it replaces, over several steps', async () => {
    await onBackend('native', async () => {
      const shape = [37, 129];
      let [p, m, v] = [random(shape), tf.zeros(shape), tf.zeros(shape)];
      let [pRef, mRef, vRef] = [p.clone(), m.clone(), v.clone()];
      const [beta1, beta2, epsilon, lr] = [0.9, 0.999, 1e-8, 0.01];
      for (let t = 1; t <= 3; t++) {
        const g = random(shape);
        const stepSize = lr / (1 - beta1 ** t);
        const sqrtCorrection2 = Math.sqrt(1 - beta2 ** t);
        const [p1, m1, v1] = tf.engine().runKernel(adamKernelName, { p, m, v, g }, {
          beta1,
          beta2,
          stepSize,
          sqrtCorrection2,
          epsilon,
        } as unknown as tf.NamedAttrMap) as tf.Tensor[];
        // The trainer's tfjs ops (apps/trainer/src/training/optimizer.ts), on the cpu kernels.
        await tf.setBackend('cpu');
        const [p2, m2, v2] = tf.tidy(() => {
          const mNext = tf.add(tf.mul(mRef, beta1), tf.mul(g, 1 - beta1));
          const vNext = tf.add(tf.mul(vRef, beta2), tf.mul(tf.square(g), 1 - beta2));
          const denominator = tf.add(tf.div(tf.sqrt(vNext), sqrtCorrection2), epsilon);
          return [tf.sub(pRef, tf.mul(tf.div(mNext, denominator), stepSize)), mNext, vNext];
        });
        await tf.setBackend('native');
        for (const [a, b] of [
          [p1, p2],
          [m1, m2],
          [v1, v2],
        ] as const) {
          expect(
            maxRelativeError(Float32Array.from(a!.dataSync()), Float32Array.from(b!.dataSync())),
          ).toBeLessThan(1e-6);
        }
        tf.dispose([p, m, v, pRef, mRef, vRef, g]);
        [p, m, v, pRef, mRef, vRef] = [p1!, m1!, v1!, p2!, m2!, v2!];
      }
      tf.dispose([p, m, v, pRef, mRef, vRef]);
      expect(() => tf.engine().runKernel(adamKernelName, { p, m, v, g: tf.zeros([2]) }, {})).toThrow();
    });
  });

  it('transpose by a layout-keeping permutation shares the input’s data; values as on cpu, no leaks', async () => {
    const cases: [number[], number[]][] = [
      [
        [300, 17],
        [0, 1],
      ],
      [
        [4, 5, 6],
        [0, 1, 2],
      ],
      [
        [3, 1, 4],
        [1, 0, 2],
      ],
      [
        [1, 7],
        [1, 0],
      ],
      [
        [2, 1, 1, 5],
        [2, 0, 1, 3],
      ],
    ];
    for (const [shape, perm] of cases) {
      await expectSameAsCpu(() => tf.transpose(random(shape), perm));
      await expectSameAsCpu(() => tf.transpose(tf.cast(tf.mul(random(shape), 100), 'int32'), perm));
    }
    await onBackend('native', () => {
      const x = random([30, 17]);
      const before = tf.memory().numTensors;
      for (const [shape, perm, shared] of [
        [[30, 17], [0, 1], true],
        [[30, 1, 17], [1, 0, 2], true],
        [[30, 17], [1, 0], false],
      ] as const) {
        const reshaped = tf.reshape(x, [...shape]); // a Reshape shares x's data too
        const y = tf.transpose(reshaped, [...perm]);
        expect(y.shape).toEqual(perm.map((d) => shape[d]));
        expect(y.dataId === x.dataId).toBe(shared);
        tf.dispose([reshaped, y]);
      }
      expect(tf.memory().numTensors).toBe(before);
      x.dispose();
    });
  });

  it('in-place Adam never writes through a tensor that shares its data (identity transpose)', async () => {
    await onBackend('native', () => {
      const shape = [64, 65];
      const attrs = {
        beta1: 0.9,
        beta2: 0.999,
        stepSize: 0.01,
        sqrtCorrection2: 0.03,
        epsilon: 1e-8,
        inPlace: true,
      };
      const step = (p: tf.Tensor, m: tf.Tensor, v: tf.Tensor, g: tf.Tensor) =>
        tf
          .engine()
          .runKernel(adamKernelName, { p, m, v, g }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor[];
      const source = random(shape);
      const sourceValues = Float32Array.from(source.dataSync());
      const shared = tf.transpose(source, [0, 1]);
      const [m, v, g] = [tf.zeros(shape), tf.zeros(shape), random(shape)];
      // Either tensor as p: the kernel sees reference count 2 and returns new tensors.
      for (const p of [shared, source]) {
        const outputs = step(p, m, v, g);
        expect(outputs).toHaveLength(3);
        expect(Array.from(source.dataSync())).toEqual(Array.from(sourceValues));
        expect(Array.from(shared.dataSync())).toEqual(Array.from(sourceValues));
        expect(maxRelativeError(Float32Array.from(outputs[0]!.dataSync()), sourceValues)).toBeGreaterThan(0);
        tf.dispose(outputs);
      }
      // Once the source is gone the transposed tensor is alone on the data: updated in place.
      source.dispose();
      expect(step(shared, m, v, g)).toHaveLength(0);
      expect(maxRelativeError(Float32Array.from(shared.dataSync()), sourceValues)).toBeGreaterThan(0);
      tf.dispose([shared, m, v, g]);
    });
  });

  it('the fused Adam kernel over a list of parameters equals one call per parameter; in place only when no data is shared', async () => {
    const previous = tf.getBackend();
    await tf.setBackend('native');
    try {
      const before = tf.memory().numTensors;
      const shapes = [[37, 129], [5], [300, 7]];
      const attrs = {
        beta1: 0.9,
        beta2: 0.999,
        stepSize: 0.02,
        sqrtCorrection2: 0.03,
        epsilon: 1e-8,
        gradScale: 0.7,
      };
      const quadruples = tf.tidy(() =>
        shapes.map((shape) => [random(shape), random(shape), tf.abs(random(shape)), random(shape)]),
      );
      // Copies with data of their own (a clone shares its source's data).
      const copies = quadruples.map((q) => q.map((t) => tf.tensor(t.dataSync().slice(), t.shape)));
      // One call for the list, new tensors (inPlace not asked).
      const listed = tf
        .engine()
        .runKernel(
          adamKernelName,
          quadruples.flat() as unknown as tf.NamedTensorMap,
          attrs as unknown as tf.NamedAttrMap,
        ) as tf.Tensor[];
      expect(listed.length).toBe(3 * shapes.length);
      quadruples.forEach(([p, m, v, g], i) => {
        const single = tf
          .engine()
          .runKernel(
            adamKernelName,
            { p: p!, m: m!, v: v!, g: g! },
            attrs as unknown as tf.NamedAttrMap,
          ) as tf.Tensor[];
        single.forEach((t, k) => {
          expect(Array.from(listed[3 * i + k]!.dataSync())).toEqual(Array.from(t.dataSync()));
        });
        tf.dispose(single);
      });
      // In place: every p, m, v updated where it is, nothing returned, equal to the listed result.
      const fresh = copies;
      const inPlace = tf
        .engine()
        .runKernel(
          adamKernelName,
          fresh.flat() as unknown as tf.NamedTensorMap,
          { ...attrs, inPlace: true } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor[];
      expect(inPlace).toEqual([]);
      fresh.forEach(([p, m, v], i) => {
        [p, m, v].forEach((t, k) => {
          expect(Array.from(t!.dataSync())).toEqual(Array.from(listed[3 * i + k]!.dataSync()));
        });
      });
      // One shared buffer (a clone of a p) makes the whole call return new tensors, and nothing moves.
      const shared = fresh[1]![0]!.clone();
      const sharedValues = Array.from(shared.dataSync());
      const outputs = tf
        .engine()
        .runKernel(
          adamKernelName,
          fresh.flat() as unknown as tf.NamedTensorMap,
          { ...attrs, inPlace: true } as unknown as tf.NamedAttrMap,
        ) as tf.Tensor[];
      expect(outputs.length).toBe(3 * shapes.length);
      expect(Array.from(shared.dataSync())).toEqual(sharedValues);
      expect(Array.from(fresh[1]![0]!.dataSync())).toEqual(sharedValues);
      tf.dispose([...quadruples.flat(), ...listed, ...fresh.flat(), shared, ...outputs]);
      expect(tf.memory().numTensors).toBe(before);
      expect(() =>
        tf
          .engine()
          .runKernel(
            adamKernelName,
            [random([2]), random([2]), random([2])] as unknown as tf.NamedTensorMap,
            attrs as unknown as tf.NamedAttrMap,
          ),
      ).toThrow(/quadruples/);
    } finally {
      await tf.setBackend(previous);
    }
  });

  it('slice, pad and casts to float32', async () => {
    await expectSameAsCpu(() => tf.slice(random([4, 6, 5]), [1, 0, 2], [2, 6, 3]));
    await expectSameAsCpu(() => tf.slice(random([32, 64, 8]), [0, 0, 0], [32, 1, 8]));
    await expectSameAsCpu(() =>
      tf.pad(random([3, 1, 4]), [
        [0, 0],
        [2, 5],
        [1, 0],
      ]),
    );
    await expectSameAsCpu(() =>
      tf.pad(
        random([2, 3]),
        [
          [1, 1],
          [0, 2],
        ],
        7.5,
      ),
    );
    await expectSameAsCpu(() => tf.cast(tf.greaterEqual(random([5, 7]), 0), 'float32'));
    await expectSameAsCpu(() => tf.mul(tf.cast(tf.less(random([5, 7]), 0.2), 'float32'), 3));
    await expectSameAsCpu(() => tf.add(tf.cast(tf.tensor1d([1, -2, 3], 'int32'), 'float32'), 0.5));
  });

  it('leaks no tensors', async () => {
    await onBackend('native', () => {
      const a = random([3, 20, 30]);
      const b = random([30, 10]);
      const table = random([40, 10]);
      const before = tf.memory().numTensors;
      for (let i = 0; i < 3; i++) {
        tf.tidy(() => {
          tf.matMul(a, b);
          tf.fused.matMul({ a, b, bias: tf.ones([10]), activation: 'relu' });
          tf.grad((t: tf.Tensor) => tf.sum(tf.gather(t, tf.tensor1d([1, 2, 2], 'int32'))))(table);
        });
      }
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([a, b, table]);
    });
  });
});
