// The Node entry: the browser entry plus loading tokenizers from a model directory.
export * from './browser.js';
export type { AnyTokenizer } from './load.js';
export { checkVocabularyFits, loadTokenizer } from './load.js';
export { readTokenizerOptions, wordPieceFromVocabularyFile } from './word-piece-files.js';
