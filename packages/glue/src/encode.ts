import { type EncodedText, InvalidArgumentError, type TextPairEncoder } from '@diffprune/core';
import type { GlueExample } from './read.js';

/** An example with its token ids: what batching and the model need. */
export interface EncodedGlueExample extends EncodedText {
  id: string;
  /** Class index, score, or null (test splits). */
  label: number | null;
}

/** Any encoder: a backbone's `TextPairEncoder`, or a function of (textA, textB). */
export type ExampleEncoder = TextPairEncoder | ((textA: string, textB: string | null) => EncodedText);

/**
 * Encodes examples once, up front, with the caller's tokenizer (glue never imports one). With a
 * `TextPairEncoder`, `maxLength` is required and passed on; a plain function truncates itself.
 * The result's `inputIds.length` is the length to bucket by:
 * `bucketByLength: { length: (i) => encoded[i].inputIds.length }`.
 */
export function encodeExamples(
  examples: readonly GlueExample[],
  encoder: ExampleEncoder,
  options: { maxLength?: number } = {},
): EncodedGlueExample[] {
  const encode =
    typeof encoder === 'function'
      ? encoder
      : (textA: string, textB: string | null) => {
          if (options.maxLength === undefined) {
            throw new InvalidArgumentError({
              argument: 'options.maxLength',
              expected: 'a number of tokens when encoding with a TextPairEncoder',
              found: options.maxLength,
              context: 'encodeExamples',
            });
          }
          return encoder.encode(textA, textB, { maxLength: options.maxLength });
        };
  return examples.map((example) => {
    const { inputIds, tokenTypeIds } = encode(example.textA, example.textB);
    return { id: example.id, label: example.label, inputIds, tokenTypeIds };
  });
}
