import { existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { BackendError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import { addonPath } from './addon.js';
import { defaultPoolMegabytes, registerNativeBackend } from './backend.js';
import { BufferPool, capacityFor } from './buffer-pool.js';

const pool = (poison = false) => new BufferPool({ minElements: 16, maxFreeBytes: 1 << 20, poison });

describe('BufferPool', () => {
  it('recycles an array of its own once its last data entry is gone, poisoned where asked', () => {
    const p = pool(true);
    const a = p.take(64);
    p.adopt(a);
    a.fill(7);
    p.release(a);
    const b = p.take(64);
    expect(b.buffer).toBe(a.buffer);
    expect(Number.isNaN(b[0])).toBe(true);
    p.adopt(b);
    p.release(b);
    expect(Array.from(p.take(64, true))).toEqual(new Array(64).fill(0));
  });

  it('waits for every entry on the buffer (a view counts), and never recycles exposed or foreign arrays', () => {
    const p = pool();
    const a = p.take(64);
    p.adopt(a);
    const view = a.subarray(8, 16);
    p.adopt(view);
    p.release(a);
    expect(p.take(64).buffer).not.toBe(a.buffer);
    p.release(view);
    expect(p.take(64).buffer).toBe(a.buffer);

    const exposed = p.take(64);
    p.adopt(exposed);
    p.expose(exposed);
    p.release(exposed);
    expect(p.heldBytes).toBe(0);

    const foreign = new Float32Array(64);
    p.adopt(foreign);
    p.release(foreign);
    expect(p.heldBytes).toBe(0);
    expect(p.take(8).length).toBe(8); // below minElements: plain allocation
  });

  it('size classes: at most 1/8 above the size, 8 per doubling', () => {
    for (let n = 1; n < 300_000; n += 1 + Math.floor(n / 97)) {
      const c = capacityFor(n);
      expect(c).toBeGreaterThanOrEqual(n);
      expect(c).toBeLessThanOrEqual(n + n / 8);
      expect(capacityFor(c)).toBe(c); // a class is its own class
    }
    // [32, T, 512] for every T of 65…128 (MRPC's padded lengths): 8 arrays, not 64.
    const classes = new Set(Array.from({ length: 64 }, (_, i) => capacityFor(32 * (65 + i) * 512)));
    expect(classes.size).toBe(8);
  });

  it('hands out a view of n elements on its class’s buffer, recycled for any size of the class', () => {
    const p = pool(true);
    const a = p.take(1000); // class 1024
    expect([a.length, a.byteOffset, a.buffer.byteLength]).toEqual([1000, 0, 1024 * 4]);
    expect(p.isPartialView(a)).toBe(true);
    p.adopt(a);
    p.release(a);
    expect(p.heldBytes).toBe(1024 * 4);
    const b = p.take(970, true);
    expect(b.buffer).toBe(a.buffer);
    expect(b.length).toBe(970);
    expect(Array.from(b).every((v) => v === 0)).toBe(true);
    expect(p.isPartialView(p.take(1024))).toBe(false);
    expect(p.isPartialView(new Float32Array(8))).toBe(false);
  });

  it('keeps at most maxFreeBytes', () => {
    const p = new BufferPool({ minElements: 1, maxFreeBytes: 1024, poison: false });
    const arrays = [p.take(200), p.take(200)]; // class 208: 832 bytes each
    for (const a of arrays) p.adopt(a);
    for (const a of arrays) p.release(a);
    expect(p.heldBytes).toBe(832);
  });
});

/** The backing array of a tensor on the active native backend; undefined (after a warning) elsewhere. */
function nativeValues(): ((t: tf.Tensor) => Float32Array) | undefined {
  if (tf.getBackend() !== 'native') {
    console.warn(`skipping: the active backend is ${tf.getBackend()}, not native`);
    return undefined;
  }
  const backend = tf.backend() as unknown as { data: { get(id: unknown): { values: Float32Array } } };
  return (t) => backend.data.get(t.dataId).values;
}

describe('the native backend with its pool', () => {
  it('reuses the output array of a disposed tensor, but never one whose values were read', async () => {
    const values = nativeValues();
    if (!values) return;
    const x = tf.ones([64, 128]);
    const first = tf.add(x, x);
    const firstBuffer = values(first).buffer;
    first.dispose();
    const second = tf.mul(x, x);
    expect(values(second).buffer).toBe(firstBuffer);
    expect(second.dataSync()[0]).toBe(1); // read: this buffer now belongs to the caller
    const read = second.dataSync();
    second.dispose();
    const third = tf.sub(x, x);
    expect(values(third).buffer).not.toBe(read.buffer);
    expect(read[0]).toBe(1);
    tf.dispose([x, third]);
  });

  it('a result on part of a pooled buffer is read as a copy of its own; the buffer stays the pool’s', async () => {
    const values = nativeValues();
    if (!values) return;
    const x = tf.fill([61, 131], 3); // 7,991 elements: class 8,192
    const first = tf.add(x, x);
    const buffer = values(first).buffer;
    expect(buffer.byteLength).toBe(8192 * 4);
    const read = first.dataSync();
    expect(read.buffer.byteLength).toBe(61 * 131 * 4);
    expect(read.buffer).not.toBe(buffer);
    expect(read[7990]).toBe(6);
    first.dispose();
    const second = tf.mul(tf.fill([8000], 2), tf.fill([8000], 2)); // same class, another size
    expect(values(second).buffer).toBe(buffer);
    expect(read[7990]).toBe(6); // the copy is untouched
    expect(await second.data()).toHaveLength(8000);
    tf.dispose([x, second]);
  });

  it('identity transpose: the output keeps its values when the input is disposed; recycled after both', async () => {
    const values = nativeValues();
    if (!values) return;
    const shape = [67, 129]; // a size no other test uses, above the pool's minimum
    const a = tf.randomNormal(shape, 0, 1, 'float32', 5);
    const expected = Array.from(a.dataSync(), (value) => Math.fround(value + value));
    const x = tf.add(a, a); // a pool array
    const buffer = values(x).buffer;
    const y = tf.transpose(x, [0, 1]);
    expect(values(y).buffer).toBe(buffer);
    x.dispose();
    // Were the array released with x (and poisoned, as under test), this would take it.
    const other = tf.mul(a, a);
    expect(values(other).buffer).not.toBe(buffer);
    expect(Array.from(values(y))).toEqual(expected);
    y.dispose();
    const next = tf.sub(a, a); // the last reference is gone: recycled
    expect(values(next).buffer).toBe(buffer);
    tf.dispose([a, other, next]);
  });
});

describe('pool settings', () => {
  it('the default cap is a quarter of the machine’s memory, at most 4,096 MB', () => {
    const quarter = Math.floor(totalmem() / 4 / 2 ** 20);
    expect(defaultPoolMegabytes()).toBe(Math.min(4096, quarter));
    expect(defaultPoolMegabytes()).toBeGreaterThan(0);
  });

  it('a bad DIFFPRUNE_NATIVE_POOL or DIFFPRUNE_NATIVE_POOL_MB is a BackendError that names both', () => {
    if (!existsSync(addonPath)) return;
    const saved = { mode: process.env.DIFFPRUNE_NATIVE_POOL, mb: process.env.DIFFPRUNE_NATIVE_POOL_MB };
    try {
      process.env.DIFFPRUNE_NATIVE_POOL = 'sometimes';
      expect(() => registerNativeBackend({ threads: 1 })).toThrow(BackendError);
      process.env.DIFFPRUNE_NATIVE_POOL = 'on';
      process.env.DIFFPRUNE_NATIVE_POOL_MB = 'lots';
      expect(() => registerNativeBackend({ threads: 1 })).toThrow(/DIFFPRUNE_NATIVE_POOL_MB.*lots/);
    } finally {
      for (const [key, value] of [
        ['DIFFPRUNE_NATIVE_POOL', saved.mode],
        ['DIFFPRUNE_NATIVE_POOL_MB', saved.mb],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});
