// Types of the pure helpers of check-dist.mjs (a plain-node script, so it stays JavaScript).
export interface ExportTarget {
  conditions: string[];
  target: string;
}
export function exportTargets(exportsField: unknown, path?: string[]): ExportTarget[];
export function packageOfSpecifier(specifier: string): string | undefined;
export function importedSpecifiers(source: string): string[];
export function undeclaredImports(
  manifest: {
    name?: string;
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
  },
  specifiers: string[],
): string[];
export function missingFromPack(
  manifest: { exports?: unknown; main?: string; types?: string; module?: string },
  packedFiles: string[],
): string[];
