import { join, resolve } from 'node:path';
import { defaultCacheDirectory } from '@diffprune/core';

/** The environment variable naming the GLUE data directory. */
export const glueDataDirectoryVariable = 'DIFFPRUNE_GLUE_DIR';

/**
 * The GLUE data directory: the given option (the CLI's `--data`), else `$DIFFPRUNE_GLUE_DIR`, else
 * `<defaultCacheDirectory()>/glue` (e.g. `~/.cache/diffprune/glue`). Always an absolute path.
 */
export function resolveDataDirectory(option?: string | null): string {
  const fromEnvironment = process.env[glueDataDirectoryVariable];
  if (option) return resolve(option);
  if (fromEnvironment) return resolve(fromEnvironment);
  return resolve(join(defaultCacheDirectory(), 'glue'));
}
