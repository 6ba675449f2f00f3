/** The tokenizer moved to @diffprune/tokenizers; re-exported here for compatibility. */
export type { PaddedBatch, WordPieceOptions } from '@diffprune/tokenizers';
export {
  encodePairs,
  longestFirst,
  padEncoded,
  toEncodedBatch,
  WordPieceTokenizer,
} from '@diffprune/tokenizers';
