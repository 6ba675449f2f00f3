import '@tensorflow/tfjs-backend-cpu';
import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from './backend.js';

// Each wasm kernel against tfjs `cpu` (a second implementation), and gradients through them.
// The process's backend is restored afterwards (vitest.setup chose it).

let previous = '';
beforeAll(async () => {
  previous = tf.getBackend();
  await initBackend({ backend: 'wasm' });
});
afterAll(async () => {
  await tf.setBackend(previous);
});

/** Runs `compute` on `backend` and returns its outputs as plain arrays (nothing left allocated). */
const on = async (backend: string, compute: () => tf.Tensor | tf.Tensor[]): Promise<number[][]> => {
  await tf.setBackend(backend);
  const result = tf.tidy(compute);
  const list = Array.isArray(result) ? result : [result];
  const values = await Promise.all(list.map(async (t) => Array.from(await t.data())));
  tf.dispose(list);
  return values;
};

const expectClose = (actual: number[][], expected: number[][], tolerance = 1e-4) => {
  expect(actual.length).toBe(expected.length);
  actual.forEach((values, i) => {
    const reference = expected[i]!;
    expect(values.length).toBe(reference.length);
    let scale = 1;
    let worst = 0;
    for (let j = 0; j < values.length; j++) {
      scale = Math.max(scale, Math.abs(reference[j]!));
      worst = Math.max(worst, Math.abs(values[j]! - reference[j]!));
    }
    expect(worst / scale).toBeLessThan(tolerance);
  });
};

const both = async (compute: () => tf.Tensor | tf.Tensor[], tolerance?: number) => {
  const expected = await on('cpu', compute);
  const actual = await on('wasm', compute);
  expectClose(actual, expected, tolerance);
  return actual;
};

const normal = (shape: number[], seed: number) => tf.randomNormal(shape, 0, 1, 'float32', seed);

describe('wasm BatchMatMul (XNNPACK path) against cpu', () => {
  const cases: Array<[string, number[], number[], boolean, boolean]> = [
    ['2-D', [7, 5], [5, 3], false, false],
    ['2-D, a transposed (weight gradient)', [5, 7], [5, 3], true, false],
    ['2-D, b transposed (HF Linear)', [7, 5], [3, 5], false, true],
    ['2-D, both transposed', [5, 7], [3, 5], true, true],
    ['batch against one matrix', [4, 7, 5], [5, 3], false, false],
    ['batch against one matrix, a transposed', [4, 5, 7], [1, 5, 3], true, false],
    ['one matrix against a batch', [7, 5], [4, 5, 3], false, false],
    ['batch against batch (attention scores)', [2, 3, 6, 4], [2, 3, 6, 4], false, true],
    ['batch against batch (attention context)', [2, 3, 6, 6], [2, 3, 6, 4], false, false],
    ['batch against batch, both transposed', [3, 4, 6], [3, 5, 4], true, true],
    ['a single row and column', [1, 9], [9, 1], false, false],
  ];
  for (const [name, aShape, bShape, transposeA, transposeB] of cases) {
    it(name, async () => {
      await both(() => tf.matMul(normal(aShape, 1), normal(bShape, 2), transposeA, transposeB));
    });
  }

  it('broadcasts a batch dimension of size one (as an explicit tile)', async () => {
    // tfjs cpu pairs batch i with a's batch i mod 2 here (not numpy broadcasting), so the reference
    // is cpu on the tiled operand.
    const expected = await on('cpu', () =>
      tf.matMul(tf.tile(normal([2, 1, 6, 4], 1), [1, 3, 1, 1]), normal([2, 3, 4, 5], 2)),
    );
    const actual = await on('wasm', () => tf.matMul(normal([2, 1, 6, 4], 1), normal([2, 3, 4, 5], 2)));
    expectClose(actual, expected);
  });

  it('a larger product, as in BERT-Tiny (rows 2048 = 32·64)', async () => {
    await both(() => tf.matMul(normal([2048, 128], 3), normal([512, 128], 4), false, true), 1e-5);
  });

  it('gives the closed form on a small example', async () => {
    await tf.setBackend('wasm');
    const product = tf.matMul(
      tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]),
      tf.tensor2d([1, 0, 2, 1, 0, -1], [2, 3]),
      false,
      true,
    );
    expect(Array.from(await product.data())).toEqual([7, -2, 16, -2]);
    product.dispose();
  });

  it('gradients of a matmul graph match cpu', async () => {
    await both(() => {
      // tfjs-core's BatchMatMul gradient does not reduce broadcast batch dimensions, so the dense
      // layer is 2-D (as in the BERT package) and the attention-like products are batch against batch.
      const x = normal([12, 5], 5);
      const w = normal([4, 5], 6);
      const v = normal([2, 4, 6], 7);
      const f = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => {
        const h = tf.reshape(tf.matMul(a, b, false, true), [2, 6, 4]);
        const scores = tf.matMul(h, h, false, true); // [2, 6, 6]
        return tf.sum(tf.mul(tf.matMul(scores, c, false, true), 0.5)); // c [2, 4, 6] → [2, 6, 4]
      };
      return tf.grads(f)([x, w, v]);
    });
  });
});

describe('wasm Unpack against cpu', () => {
  for (const axis of [0, 1, 2, -1]) {
    it(`float32 and int32, axis ${axis}`, async () => {
      await both(() => tf.unstack(normal([3, 4, 5], 8), axis));
      await both(() => tf.unstack(tf.reshape(tf.range(0, 60, 1, 'int32'), [3, 4, 5]), axis));
    });
  }

  it('bool', async () => {
    await both(() => tf.unstack(tf.greater(normal([4, 3], 9), 0), 1).map((t) => t.cast('int32')));
  });

  it('gradients through unstack match cpu', async () => {
    await both(() =>
      tf.grad((x: tf.Tensor) => {
        const parts = tf.unstack(x, 1);
        return tf.addN(parts.map((p, i) => tf.mul(tf.square(p), i + 1)));
      })(normal([3, 4, 5], 10)),
    );
  });
});

describe('wasm Sum against cpu', () => {
  const cases: Array<[number[], number | number[], boolean]> = [
    [[64, 32], 0, false], // a bias gradient (leading axis: the row-adding kernel)
    [[4, 8, 16], [0, 1], false],
    [[4, 8, 16], [1, 0], true],
    [[4, 8, 16], 2, false], // last axis: the stock kernel
    [[4, 8, 16], 1, true],
    [[4, 8, 16], [0, 1, 2], false],
    [[4, 8, 16], [-3], false],
  ];
  for (const [shape, axis, keepDims] of cases) {
    it(`shape [${shape}], axis ${JSON.stringify(axis)}, keepDims ${keepDims}`, async () => {
      const [values] = await both(() => tf.sum(normal(shape, 15), axis, keepDims));
      await tf.setBackend('wasm');
      const expectedShape = tf.tidy(() => tf.sum(tf.zeros(shape), axis, keepDims).shape);
      expect(values!.length).toBe(expectedShape.reduce((a, b) => a * b, 1));
    });
  }

  it('no axis: the whole tensor', async () => {
    await both(() => tf.sum(normal([5, 7], 16)));
  });

  it('int32 goes to the stock kernel', async () => {
    await both(() => tf.sum(tf.reshape(tf.range(0, 24, 1, 'int32'), [4, 6]), 0));
  });
});

describe('wasm GatherV2 against cpu', () => {
  it('rows of a table (axis 0) for 2-D indices, float32 and int32', async () => {
    await both(() => tf.gather(normal([50, 6], 17), tf.tensor2d([3, 0, 49, 3, 7, 7], [2, 3], 'int32')));
    await both(() =>
      tf.gather(tf.reshape(tf.range(0, 60, 1, 'int32'), [10, 3, 2]), tf.tensor1d([9, 0, 4], 'int32')),
    );
  });

  it('other axes and batch dimensions (the stock kernel)', async () => {
    await both(() => tf.gather(normal([4, 5, 6], 18), tf.tensor1d([4, 0, 2], 'int32'), 1));
    await both(() => tf.gather(normal([2, 5, 3], 19), tf.tensor2d([4, 0, 1, 1], [2, 2], 'int32'), 1, 1));
  });

  it('an index out of range is an error, and nothing is left allocated', async () => {
    await tf.setBackend('wasm');
    const table = normal([5, 2], 20);
    const ids = tf.tensor1d([1, 5], 'int32');
    const before = tf.engine().backend.numDataIds();
    expect(() => tf.gather(table, ids)).toThrow(/index value 5/);
    expect(tf.engine().backend.numDataIds()).toBe(before);
    tf.dispose([table, ids]);
  });
});

describe('wasm UnsortedSegmentSum against cpu', () => {
  it('sums rows per segment, dropping out-of-range ids', async () => {
    const [out] = await both(() =>
      tf.unsortedSegmentSum(
        tf.tensor2d([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], [5, 2]),
        tf.tensor1d([2, 0, 2, 5, 0], 'int32'),
        3,
      ),
    );
    expect(out).toEqual([3 + 9, 4 + 10, 0, 0, 1 + 5, 2 + 6]);
  });

  it('the gradient of an embedding gather (the wasm package has no kernel for it)', async () => {
    await both(() => {
      const table = normal([300, 16], 11);
      const ids = tf.tensor2d([3, 7, 3, 299, 0, 3, 7, 100], [2, 4], 'int32');
      const upstream = normal([2, 4, 16], 12);
      return tf.grad((t: tf.Tensor) => tf.sum(tf.mul(tf.gather(t, ids), upstream)))(table);
    });
  });
});

describe('wasm Identity shares memory by reference count', () => {
  it('a clone outlives its source, a variable assign leaves clones alone, nothing leaks', async () => {
    await tf.setBackend('wasm');
    const before = tf.engine().backend.numDataIds();
    const source = tf.tensor1d([1, 2, 3]);
    const copy = tf.clone(source);
    source.dispose();
    expect(Array.from(await copy.data())).toEqual([1, 2, 3]);
    const initial = tf.tensor1d([4, 5, 6]);
    const next = tf.tensor1d([7, 8, 9]);
    const variable = tf.variable(initial);
    const kept = tf.clone(variable);
    variable.assign(next);
    expect(Array.from(await kept.data())).toEqual([4, 5, 6]);
    expect(Array.from(await variable.data())).toEqual([7, 8, 9]);
    tf.dispose([copy, kept, variable, initial, next]);
    expect(tf.engine().backend.numDataIds()).toBe(before);
  });

  it('gradients through clone and customGrad match cpu', async () => {
    await both(() => {
      const square = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
        const [x, save] = inputs as [tf.Tensor, tf.GradSaveFunc];
        save([x]);
        return {
          value: tf.square(x),
          gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, tf.mul(saved[0]!, 2)),
        };
      });
      return tf.grad((x: tf.Tensor) => tf.sum(square(tf.clone(tf.add(x, 1)) as tf.Tensor)))(
        normal([3, 4], 21),
      );
    });
  });
});

describe('wasm kernels keep memory flat', () => {
  it('no tensors or heap buffers are left by a training-like step', async () => {
    await tf.setBackend('wasm');
    const w = tf.variable(normal([32, 16], 13));
    const table = tf.variable(normal([50, 16], 14));
    const ids = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3], 'int32');
    const step = () =>
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => {
          const h = tf.reshape(tf.gather(table, ids), [6, 16]);
          const y = tf.reshape(tf.matMul(h, w, false, true), [2, 3, 32]);
          const scores = tf.matMul(y, y, false, true); // [2, 3, 3]
          return tf.sum(tf.stack(tf.unstack(scores, 1), 1));
        });
        return Object.values(grads).map((g) => tf.sum(g));
      });
    tf.dispose(step());
    const tensors = tf.memory().numTensors;
    const dataIds = tf.engine().backend.numDataIds();
    for (let i = 0; i < 3; i++) tf.dispose(step());
    expect(tf.memory().numTensors).toBe(tensors);
    expect(tf.engine().backend.numDataIds()).toBe(dataIds);
    tf.dispose([w, table, ids]);
  });
});
