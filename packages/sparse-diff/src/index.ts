// The Node entry: the browser entry plus files (readDiff by path, writeDiff) and checkpoints on disk.
export * from './browser.js';
export { readDiff, writeDiff } from './file-node.js';
export { fingerprintCheckpoint, readCheckpointTensors } from './fingerprint-checkpoint.js';
