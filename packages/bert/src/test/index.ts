// Test and benchmark helpers: a seeded random BERT and random token batches (no checkpoint, no
// tokenizer), at google-research/bert's small sizes and BERT-base.
export type { StepShape, StepSize } from './random-bert.js';
export {
  randomBatch,
  randomBert,
  stepConfigJson,
  stepMaxPositions,
  stepNumLabels,
  stepSizes,
  stepVocabularySize,
} from './random-bert.js';
