/**
 * Recycles the Float32Arrays of disposed tensors for the next kernel outputs of a similar size, so a
 * training step, which allocates the same shapes every time, stops allocating (no page faults, far
 * less garbage collection of large external buffers).
 *
 * Arrays are allocated in size classes (`capacityFor`: at most 1/8 above the size asked for) and
 * handed out as a view of the first `n` elements. Batches padded to their longest example change the
 * sequence length from batch to batch (MRPC: any of 60–128), so pooling by exact size missed almost
 * every time on those tasks and each [batch, length, 4·hidden] output was a fresh, page-faulting
 * allocation: measured, most of a training step's time on MRPC.
 *
 * Safe by construction: only arrays this pool allocated are ever recycled, only when no data entry
 * of the backend refers to their buffer any more (a view such as a cpu `Slice` counts), and never
 * once their values were handed out (`readSync`/`read`, i.e. `dataSync()`/`data()`: the caller may
 * keep that array). Arrays from users (`tf.tensor(values)`) are never touched.
 */
export class BufferPool {
  private readonly free = new Map<number, Float32Array[]>();
  private readonly owners = new Map<ArrayBufferLike, number>();
  private readonly ours = new WeakSet<ArrayBufferLike>();
  private readonly exposed = new WeakSet<ArrayBufferLike>();
  private freeBytes = 0;

  constructor(
    private readonly options: {
      /** Arrays below this many elements are left to V8 (cheap to allocate). */
      minElements: number;
      /** At most this many bytes kept for reuse; the rest goes to the garbage collector. */
      maxFreeBytes: number;
      /** Fill recycled arrays with NaN (tests: a kernel that relies on zeroed output fails loudly). */
      poison: boolean;
    },
  ) {}

  /**
   * A Float32Array of `n` elements: recycled where one of its size class is free (contents undefined
   * unless `zeroed`). It may be a view on a larger buffer (byteOffset 0, length `n`).
   */
  take(n: number, zeroed = false): Float32Array {
    if (n < this.options.minElements) return new Float32Array(n);
    const capacity = capacityFor(n);
    const recycled = this.free.get(capacity)?.pop();
    if (recycled) {
      this.freeBytes -= recycled.byteLength;
      const array = n === capacity ? recycled : recycled.subarray(0, n);
      if (zeroed) array.fill(0);
      return array;
    }
    const fresh = new Float32Array(capacity);
    this.ours.add(fresh.buffer);
    return n === capacity ? fresh : fresh.subarray(0, n);
  }

  /** True for an array of this pool that is a view on part of its buffer (see `take`). */
  isPartialView(values: unknown): boolean {
    return (
      values instanceof Float32Array &&
      this.ours.has(values.buffer) &&
      values.byteLength < values.buffer.byteLength
    );
  }

  /** A data entry now refers to `values`. */
  adopt(values: unknown): void {
    const buffer = bufferOf(values);
    if (buffer && this.ours.has(buffer)) this.owners.set(buffer, (this.owners.get(buffer) ?? 0) + 1);
  }

  /** `values` left the backend (read by a caller): never recycle its buffer. */
  expose(values: unknown): void {
    const buffer = bufferOf(values);
    if (buffer) this.exposed.add(buffer);
  }

  /** A data entry that referred to `values` was deleted. */
  release(values: unknown): void {
    const buffer = bufferOf(values);
    if (!buffer || !this.ours.has(buffer)) return;
    const remaining = (this.owners.get(buffer) ?? 1) - 1;
    if (remaining > 0) {
      this.owners.set(buffer, remaining);
      return;
    }
    this.owners.delete(buffer);
    if (this.exposed.has(buffer) || this.freeBytes + buffer.byteLength > this.options.maxFreeBytes) return;
    const array = new Float32Array(buffer);
    if (this.options.poison) array.fill(Number.NaN);
    const list = this.free.get(array.length);
    if (list) list.push(array);
    else this.free.set(array.length, [array]);
    this.freeBytes += buffer.byteLength;
  }

  /** Bytes held for reuse (for tests and diagnostics). */
  get heldBytes(): number {
    return this.freeBytes;
  }
}

/**
 * The size class of an array of `n` elements: `n` rounded up to a multiple of 2^(⌊log2 n⌋ − 3), i.e.
 * 8 classes per doubling, at most 1/8 above `n`. [32, T, 512] for T = 65…128 falls into 8 classes
 * (T rounded up to a multiple of 8 or 16), not 64 sizes.
 */
export function capacityFor(n: number): number {
  if (n <= 16) return n;
  const step = 2 ** (Math.floor(Math.log2(n)) - 3);
  return Math.ceil(n / step) * step;
}

function bufferOf(values: unknown): ArrayBufferLike | undefined {
  return ArrayBuffer.isView(values) ? values.buffer : undefined;
}
