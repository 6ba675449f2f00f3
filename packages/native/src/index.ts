export type { NativeAddon } from './addon.js';
export type { NativeBackendRegistration, RegisterNativeBackendOptions } from './backend.js';
export { defaultPoolMegabytes, NativeBackend, nativeAddon, registerNativeBackend } from './backend.js';
export type { AdamKernelAttrs } from './kernels/adam.js';
export {
  adamKernelName,
  sumSigmoidGradKernelName,
  sumSigmoidKernelName,
  sumSquaresKernelName,
} from './kernels/adam.js';
export {
  gatedDiffGradKernelName,
  gatedDiffKernelName,
  gatedDiffsGradKernelName,
  gatedDiffsKernelName,
} from './kernels/gate.js';
export type { NativeScatterAdd } from './scatter.js';
export { nativeScatterAdd } from './scatter.js';
