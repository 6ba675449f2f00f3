import { fileURLToPath } from 'node:url';

/** `apps/bench/results/<preset>/` (override with --out). */
export function defaultResultsDirectory(preset: string): string {
  return fileURLToPath(new URL(`../results/${preset}/`, import.meta.url));
}
