export type { GatedTensorAlphas, GroupPenalty, GroupPenaltyOptions } from './expected-l0.js';
export {
  defaultGroupPenalty,
  expectedL0,
  expectedL0Penalty,
  groupExpectedL0,
  groupPenalties,
  probabilityNonzero,
} from './expected-l0.js';
export type { GatedDiffParameterInputs } from './gated-diff-parameter.js';
export { gatedDiffParameter } from './gated-diff-parameter.js';
export type {
  GatedDiffParametersImplementation,
  GatedDiffParametersOptions,
  GatedDiffParametersResult,
  GatedTensor,
} from './gated-diff-parameters.js';
export {
  gatedDiffParameters,
  gatedDiffParametersWith,
  gatedDiffsKernelsRegistered,
} from './gated-diff-parameters.js';
export type { GatedDiffRowsInputs } from './gated-diff-rows.js';
export { gatedDiffParameterRows } from './gated-diff-rows.js';
export type { GroupUniformSource, SampleGroupedGateOptions } from './group-gate.js';
export { combineGroupGate, sampleGroupedGate } from './group-gate.js';
export type { GateOptions, StretchLimits, UniformOptions } from './options.js';
export { defaultBeta, defaultLimits, defaultUBounds } from './options.js';
export type { SampleGateOptions, UniformSource } from './sample-gate.js';
export { deterministicGate, sampleGate, sampleUniform } from './sample-gate.js';
