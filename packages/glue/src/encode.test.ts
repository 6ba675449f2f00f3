import type { TextPairEncoder } from '@diffprune/core';
import { InvalidArgumentError } from '@diffprune/core';
import { describe, expect, it } from 'vitest';
import { batchIndices } from './batching.js';
import { encodeExamples } from './encode.js';
import type { GlueExample } from './read.js';

// A stand-in tokenizer: one id per word, [CLS]=1 … [SEP]=2, segment ids 0/1, truncation.
const words = (text: string) => text.split(' ').map((word) => 100 + word.length);
const encoder: TextPairEncoder = {
  padId: 0,
  encode(textA, textB, { maxLength }) {
    const a = [1, ...words(textA), 2];
    const b = textB === null ? [] : [...words(textB), 2];
    const inputIds = [...a, ...b].slice(0, maxLength);
    const tokenTypeIds = [...a.map(() => 0), ...b.map(() => 1)].slice(0, maxLength);
    return { inputIds, tokenTypeIds };
  },
};

const examples: GlueExample[] = [
  { id: '0', textA: 'a bb', textB: 'ccc', label: 1 },
  { id: '1', textA: 'dddd', textB: null, label: null },
  { id: '2', textA: 'e f g h i j', textB: 'k', label: 0 },
];

describe('encodeExamples', () => {
  it('encodes with a TextPairEncoder, keeping ids and labels (null for test)', () => {
    const encoded = encodeExamples(examples, encoder, { maxLength: 6 });
    expect(encoded[0]).toEqual({
      id: '0',
      label: 1,
      inputIds: [1, 101, 102, 2, 103, 2],
      tokenTypeIds: [0, 0, 0, 0, 1, 1],
    });
    expect(encoded[1]).toEqual({ id: '1', label: null, inputIds: [1, 104, 2], tokenTypeIds: [0, 0, 0] });
    expect(encoded[2]?.inputIds).toHaveLength(6);
    const lengths = batchIndices(3, {
      batchSize: 1,
      bucketByLength: { length: (i) => encoded[i]!.inputIds.length },
    });
    expect(lengths.flat()).toEqual([1, 0, 2]);
  });

  it('accepts a plain function, and asks for maxLength with a TextPairEncoder', () => {
    const encoded = encodeExamples(examples.slice(0, 1), (a, b) => ({
      inputIds: [a.length, b?.length ?? -1],
      tokenTypeIds: [0, 1],
    }));
    expect(encoded).toEqual([{ id: '0', label: 1, inputIds: [4, 3], tokenTypeIds: [0, 1] }]);
    expect(() => encodeExamples(examples, encoder)).toThrow(InvalidArgumentError);
  });
});
