import { createRng, InvalidArgumentError } from '@diffprune/core';

export interface BatchOptions {
  /** Examples per batch (the last batch may be smaller unless `dropLast`). */
  batchSize: number;
  /** Shuffle the order each epoch (training); false keeps file order (evaluation). Default false. */
  shuffle?: boolean;
  /** Seed of the shuffle and of the `maxExamples` subset. Default 0. */
  seed?: number;
  /** Epoch number: the same seed and epoch give the same batches; each epoch a new order. Default 0. */
  epoch?: number;
  /**
   * Group examples of similar length to cut padding: the (shuffled) order is cut into windows of
   * `batchSize × bucketWindow` examples, each window is sorted by length and cut into batches, and
   * (when shuffling) the batches are shuffled. Lengths come from the caller (token counts from any
   * tokenizer, or characters), so batching stays tokenizer-agnostic.
   */
  bucketByLength?: { length: (index: number) => number; bucketWindow?: number };
  /**
   * Use at most this many examples (for quick runs): a seeded subset, the same in every epoch, chosen
   * with `seed` only (see `selectSubset`).
   */
  maxExamples?: number;
  /** Drop a final batch smaller than `batchSize`. Default false. */
  dropLast?: boolean;
}

const checkPositiveInteger = (argument: string, value: unknown) => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
    throw new InvalidArgumentError({ argument, expected: 'a positive integer', found: value });
  }
};

const checkNonNegativeInteger = (argument: string, value: unknown) => {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new InvalidArgumentError({ argument, expected: 'a non-negative integer', found: value });
  }
};

/**
 * Indices of a seeded subset of `count` examples, at most `maxExamples` of them, in ascending order.
 * Depends only on `count`, `maxExamples` and `seed`, so a capped training set is the same subset in
 * every epoch and every run with the same seed. Without a cap (or a cap ≥ count), every index.
 */
export function selectSubset(count: number, maxExamples: number | undefined, seed = 0): number[] {
  checkNonNegativeInteger('count', count);
  const all = Array.from({ length: count }, (_, i) => i);
  if (maxExamples === undefined || maxExamples >= count) return all;
  checkPositiveInteger('maxExamples', maxExamples);
  const chosen = createRng(seed).fork('glue-subset').shuffle(all).slice(0, maxExamples);
  return chosen.sort((a, b) => a - b);
}

/**
 * Batches of example indices in `[0, count)`: deterministic for the same options, seed and epoch.
 * See `BatchOptions`. `batchExamples` is the same over an array of examples.
 */
export function batchIndices(count: number, options: BatchOptions): number[][] {
  checkNonNegativeInteger('count', count);
  checkPositiveInteger('batchSize', options.batchSize);
  const seed = options.seed ?? 0;
  const epoch = options.epoch ?? 0;
  checkNonNegativeInteger('epoch', epoch);
  if (options.maxExamples !== undefined) checkPositiveInteger('maxExamples', options.maxExamples);
  const { batchSize } = options;

  const order = selectSubset(count, options.maxExamples, seed);
  // createRng validates the seed (an integer in [0, 2^32)).
  const epochRng = createRng(seed).fork(`glue-epoch:${epoch}`);
  if (options.shuffle) epochRng.shuffle(order);

  let batches: number[][] = [];
  const bucket = options.bucketByLength;
  if (bucket) {
    const window = bucket.bucketWindow ?? 50;
    checkPositiveInteger('bucketByLength.bucketWindow', window);
    const lengths = new Map<number, number>();
    for (const index of order) {
      const length = bucket.length(index);
      if (!Number.isFinite(length)) {
        throw new InvalidArgumentError({
          argument: `bucketByLength.length(${index})`,
          expected: 'a finite number',
          found: length,
        });
      }
      lengths.set(index, length);
    }
    const span = batchSize * window;
    for (let start = 0; start < order.length; start += span) {
      // Stable sort: equal lengths keep their (shuffled) order.
      const chunk = order
        .slice(start, start + span)
        .sort((a, b) => (lengths.get(a) as number) - (lengths.get(b) as number));
      for (let i = 0; i < chunk.length; i += batchSize) batches.push(chunk.slice(i, i + batchSize));
    }
  } else {
    for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  }
  if (options.dropLast) batches = batches.filter((batch) => batch.length === batchSize);
  // With buckets, the short batch can sit anywhere; shuffling batches keeps epochs unbiased by length.
  if (bucket && options.shuffle) epochRng.fork('batches').shuffle(batches);
  return batches;
}

/**
 * Batches of examples (see `BatchOptions`). `bucketByLength.length` receives the example's index;
 * for example `(i) => encoded[i].inputIds.length`.
 */
export function batchExamples<T>(examples: readonly T[], options: BatchOptions): T[][] {
  return batchIndices(examples.length, options).map((batch) => batch.map((index) => examples[index] as T));
}

/** Number of batches per epoch for the options (handy for learning-rate schedules). */
export function batchCount(
  count: number,
  options: Pick<BatchOptions, 'batchSize' | 'maxExamples' | 'dropLast'>,
): number {
  checkPositiveInteger('batchSize', options.batchSize);
  const used = options.maxExamples === undefined ? count : Math.min(count, options.maxExamples);
  return options.dropLast ? Math.floor(used / options.batchSize) : Math.ceil(used / options.batchSize);
}
