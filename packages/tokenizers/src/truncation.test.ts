import { describe, expect, it } from 'vitest';
import { longestFirst, longestFirstFast, truncatePair } from './truncation.js';

/**
 * HF's behaviour measured with transformers 5.18 (fast tokenizers) and written down as the Rust
 * code states it (tokenizers/src/utils/truncation.rs, `LongestFirst`), step by step: a second
 * implementation to hold the closed form to.
 */
const rustLongestFirst = (lengthA: number, lengthB: number, budget: number, maxLength: number) => {
  if (lengthA + lengthB <= budget) return [lengthA, lengthB];
  const swap = lengthA > lengthB;
  let n1 = swap ? lengthB : lengthA;
  let n2 = swap ? lengthA : lengthB;
  if (n1 >= maxLength) {
    n2 = n1;
  } else {
    n2 = Math.max(n1, budget - n1);
  }
  if (n1 + n2 > budget) {
    const half = Math.floor(budget / 2);
    // Measured: the longer keeps the odd token unless the shorter alone reached maxLength.
    if (n1 >= maxLength) return [half, budget - half];
    n1 = half;
    n2 = budget - half;
  }
  return swap ? [n2, n1] : [n1, n2];
};

/** The slow tokenizers' loop: one token at a time from the longer, the second on ties. */
const slowLongestFirst = (lengthA: number, lengthB: number, budget: number) => {
  let a = lengthA;
  let b = lengthB;
  while (a + b > budget) {
    if (a > b) a--;
    else b--;
  }
  return [a, b];
};

describe('pair truncation', () => {
  it('longestFirstFast agrees with the step-by-step rule for every small case', () => {
    for (const specials of [3, 4])
      for (let a = 0; a <= 16; a++)
        for (let b = 0; b <= 16; b++)
          for (let budget = 1; budget <= 12; budget++)
            expect(longestFirstFast(a, b, budget, budget + specials), `${a} ${b} ${budget}`).toEqual(
              rustLongestFirst(a, b, budget, budget + specials),
            );
  });
  it('longestFirst agrees with the slow tokenizers loop', () => {
    for (let a = 0; a <= 16; a++)
      for (let b = 0; b <= 16; b++)
        for (let budget = 0; budget <= 12; budget++)
          expect(longestFirst(a, b, budget)).toEqual(slowLongestFirst(a, b, budget));
  });
  it('the two differ on odd budgets when the first is not longer', () => {
    expect(longestFirstFast(6, 6, 5, 8)).toEqual([2, 3]);
    expect(longestFirst(6, 6, 5)).toEqual([3, 2]);
  });
  it('truncatePair keeps a single text head and refuses a maxLength without room for specials', () => {
    expect(truncatePair([1, 2, 3, 4], null, { maxLength: 4, specials: 2, context: 'test' })).toEqual([
      [1, 2],
      null,
    ]);
    expect(() => truncatePair([1], null, { maxLength: 1, specials: 2, context: 'test' })).toThrow(
      /maxLength/,
    );
  });
});
