// The browser entry (package.json `exports` condition "browser"): the tokenizers and batching. The
// Node entry (index.ts) adds loading them from a model directory.
export type { PaddedBatch } from './batch.js';
export { encodePairs, padEncoded, toEncodedBatch } from './batch.js';
export { ByteLevelBpeTokenizer } from './byte-level-bpe.js';
export type { TokenizerKind } from './kind.js';
export { tokenizerJsonKind } from './kind.js';
export type { PairTruncation } from './truncation.js';
export { longestFirst, longestFirstFast, truncatePair } from './truncation.js';
export type { WordPieceOptions } from './word-piece.js';
export { tokenizerOptionsFromJson, tokensInIdOrder, WordPieceTokenizer } from './word-piece.js';
