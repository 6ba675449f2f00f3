import { defineConfig, type Options } from 'tsup';

/**
 * The one tsup configuration of every package and app (ESM for Node 20, declarations, source maps);
 * a package's tsup.config.ts passes only what differs: its entries, externals, and which entries
 * get declarations.
 */
export function tsupConfig(options: Pick<Options, 'entry' | 'external' | 'dts'> = {}) {
  return defineConfig({
    entry: ['src/index.ts'],
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    ...options,
  });
}
