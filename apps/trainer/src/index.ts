// The CLI's pieces other apps reuse (apps/bench): backend start, interruption, event rendering.
// The library (training, models, prediction) is @diffprune/training.
export { fastScatterAdd, startBackend } from './backend.js';
export { stopOnInterrupt } from './cli-support.js';
export { fanOut, jsonlEventLog } from './events-log.js';
export { progressRenderer } from './progress.js';
