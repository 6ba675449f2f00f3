export type { NativeAddon } from './addon.js';
export type { NativeBackendRegistration, RegisterNativeBackendOptions } from './backend.js';
export { NativeBackend, nativeAddon, registerNativeBackend } from './backend.js';
