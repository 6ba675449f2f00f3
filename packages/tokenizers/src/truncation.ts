import { InvalidArgumentError } from '@diffprune/core';

/**
 * How a pair is cut when it is too long. Both are HF's `longest_first`, which differ on odd budgets:
 * - `longest-first` — the `tokenizers` (Rust) library, used by every fast tokenizer and so by all of
 *   transformers ≥ 5 and by tokenizer.json (`longestFirstFast`).
 * - `longest-first-slow` — transformers' Python (slow) tokenizers: one token at a time from the longer
 *   segment, the second on ties.
 */
export type PairTruncation = 'longest-first' | 'longest-first-slow';

/**
 * The `tokenizers` (Rust) `LongestFirst` lengths, as transformers 5.18 / tokenizers 0.23 give them
 * (`budget` = `maxLength` − special tokens). The shorter segment is kept whole when the longer one
 * can take the rest; otherwise each gets half and the odd token goes to the longer segment — except
 * when the shorter one alone is at least `maxLength` long, where it goes to the second (the Rust
 * code's `n1 > max_length` branch). Checked against HF for every length pair 1…15 and budget 1…11,
 * for WordPiece (3 specials) and RoBERTa (4): the rule table is in `truncation.test.ts`.
 */
export function longestFirstFast(
  lengthA: number,
  lengthB: number,
  budget: number,
  maxLength: number,
): [number, number] {
  if (lengthA + lengthB <= budget) return [lengthA, lengthB];
  const shorter = Math.min(lengthA, lengthB);
  // Only the longer one is cut.
  if (shorter <= budget - shorter)
    return lengthA <= lengthB ? [lengthA, budget - lengthA] : [budget - lengthB, lengthB];
  // Both are cut.
  const half = Math.floor(budget / 2);
  const rest = budget - half;
  return lengthA > lengthB && lengthB < maxLength ? [rest, half] : [half, rest];
}

/**
 * HF `longest_first` truncation lengths of the slow tokenizers: removing one token at a time from the longer segment (the
 * second on ties) until `budget` is met, computed in closed form.
 */
export function longestFirst(lengthA: number, lengthB: number, budget: number): [number, number] {
  let a = lengthA;
  let b = lengthB;
  let remove = a + b - budget;
  if (remove <= 0) return [a, b];
  const difference = Math.abs(a - b);
  const first = Math.min(remove, difference);
  if (a > b) a -= first;
  else b -= first;
  remove -= first;
  // Now equal: alternately from b (tie), then a.
  b -= Math.ceil(remove / 2);
  a -= Math.floor(remove / 2);
  return [Math.max(a, 0), Math.max(b, 0)];
}

/**
 * Truncates token ids of one text (or a pair) so that they and `specials` special tokens fit in
 * `maxLength`: a single text keeps its head; a pair loses tokens `longest_first` (HF's default) by
 * `strategy`, default `longest-first` (the tokenizers library's).
 */
export function truncatePair(
  a: number[],
  b: number[] | null,
  options: { maxLength: number; specials: number; context: string; strategy?: PairTruncation },
): [number[], number[] | null] {
  const { maxLength, specials, context } = options;
  if (!Number.isInteger(maxLength) || maxLength < specials) {
    throw new InvalidArgumentError({
      argument: 'maxLength',
      expected: `an integer >= ${specials} (room for the special tokens)`,
      found: maxLength,
      context,
    });
  }
  const budget = maxLength - specials;
  if (a.length + (b?.length ?? 0) <= budget) return [a, b];
  if (b === null) return [a.slice(0, budget), null];
  const [lengthA, lengthB] =
    options.strategy === 'longest-first-slow'
      ? longestFirst(a.length, b.length, budget)
      : longestFirstFast(a.length, b.length, budget, maxLength);
  return [a.slice(0, lengthA), b.slice(0, lengthB)];
}
