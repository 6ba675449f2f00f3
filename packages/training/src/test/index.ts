// Benchmark helpers: time the trainer's own step on a random BERT (what `diffprune-bench step` and
// packages/training/bench measure).
export type { StepMethod, StepOptions, StepTiming } from './measure-step.js';
export { measureStep, median } from './measure-step.js';
