import { tsupConfig } from '../../tsup.base.js';

export default tsupConfig({
  entry: ['src/index.ts', 'src/cli.ts'],
  dts: { entry: 'src/index.ts' },
  // Optional: loaded at run time where it installed.
  external: ['@tensorflow/tfjs-node', '@diffprune/native'],
});
