export type { BackendInfo, BackendName, InitBackendOptions, NativeBackendModule } from './backend.js';
export { activeBackend, backendNames, initBackend, parseBackendName } from './backend.js';
export { scatterAddSegments } from './scatter-add.js';
