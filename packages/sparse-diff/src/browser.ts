// The browser entry (package.json `exports` condition "browser"): the diff format, apply, revert,
// compose, fingerprints of tensors in memory. The Node entry (index.ts) adds files and checkpoints.
export type { ApplyDiffOptions, RevertDiffOptions, ScatterAdd } from './apply.js';
export { applyDiff, revertDiff, scatterAddLoop } from './apply.js';
export type { ApplyDiffToParametersOptions } from './apply-parameters.js';
export { applyDiffToParameters } from './apply-parameters.js';
export type { BaseFileContents } from './base-files.js';
export {
  checkBaseFiles,
  fingerprintBaseFileContents,
  fingerprintConfig,
  functionalConfigFields,
  tokenizerFiles,
  tokenizerSettings,
} from './base-files.js';
export type { ComposeDiffsOptions, ComposeOverlap } from './compose.js';
export { composeDiffs } from './compose.js';
export type { CreateDiffFromMaskOptions, CreateDiffOptions, MaskedEntries } from './create.js';
export { createDiff, createDiffFromMask } from './create.js';
export { describeDiff, escapeControlCharacters } from './describe.js';
export { indexEncodings } from './encodings.js';
export { BaseFilesMismatchError, BaseMismatchError } from './errors.js';
export type { DiffTableEntry, ReadDiffOptions } from './file.js';
export { decodeDiff, encodeDiff, maxDiffHeaderBytes } from './file.js';
export type { FingerprintInput } from './fingerprint.js';
export {
  fingerprintTensorArrays,
  fingerprintTensors,
} from './fingerprint.js';
export type { ReencodeDiffOptions } from './reencode.js';
export { reencodeDiff } from './reencode.js';
export type { DiffStats, TensorStats } from './stats.js';
export { diffStats, log2Binomial } from './stats.js';
export type {
  BaseFilesHashes,
  DenseDiffTensor,
  DiffProvenance,
  DiffProvenanceRecord,
  DiffTensor,
  IndexEncoding,
  SparseDiff,
  SparseDiffTensor,
  TensorArrays,
  ValueDtype,
} from './types.js';
export { parseValueDtype, valueDtypes } from './values.js';
export type { VerifyDiffOptions, VerifyDiffResult } from './verify.js';
export { verifyDiff } from './verify.js';
export { formatMinorVersion, formatName, formatVersion, libraryVersion } from './version.js';
