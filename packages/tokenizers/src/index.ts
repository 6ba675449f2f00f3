export type { PaddedBatch } from './batch.js';
export { encodePairs, padEncoded, toEncodedBatch } from './batch.js';
export { ByteLevelBpeTokenizer } from './byte-level-bpe.js';
export type { AnyTokenizer, TokenizerKind } from './load.js';
export { checkVocabularyFits, loadTokenizer, tokenizerJsonKind } from './load.js';
export type { PairTruncation } from './truncation.js';
export { longestFirst, longestFirstFast, truncatePair } from './truncation.js';
export type { WordPieceOptions } from './word-piece.js';
export { readTokenizerOptions, tokensInIdOrder, WordPieceTokenizer } from './word-piece.js';
