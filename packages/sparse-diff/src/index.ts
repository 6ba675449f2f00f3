// The Node entry: the browser entry plus files (readDiff by path, writeDiff), checkpoints and base
// files (config, tokenizer) on disk.
export { fingerprintBaseFiles } from './base-files-node.js';
export * from './browser.js';
export { readDiff, writeDiff } from './file-node.js';
export {
  checkpointWeightFiles,
  fingerprintCheckpoint,
  readCheckpointTensors,
} from './fingerprint-checkpoint.js';
