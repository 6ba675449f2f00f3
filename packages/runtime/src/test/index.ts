export type { BackendAvailability, DescribeEachBackendOptions, TestBackendLoaders } from './backends.js';
export {
  availableBackends,
  describeEachBackend,
  setTestBackendLoaders,
  testBackendLoaders,
} from './backends.js';
