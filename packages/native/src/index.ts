export type { NativeAddon } from './addon.js';
export type { NativeBackendRegistration, RegisterNativeBackendOptions } from './backend.js';
export { defaultPoolMegabytes, NativeBackend, nativeAddon, registerNativeBackend } from './backend.js';
export type { NativeScatterAdd } from './scatter.js';
export { nativeScatterAdd } from './scatter.js';
