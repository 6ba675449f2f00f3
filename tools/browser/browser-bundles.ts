import { existsSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import * as esbuild from 'esbuild';

/**
 * Which library packages have a browser entry, and why the others are Node only. A package with a
 * Node-only part has `src/browser.ts` (package.json `exports["."]` condition `"browser"`, also
 * `"default"`) beside its Node entry `src/index.ts` (condition `"node"`), which re-exports the browser
 * entry and adds files, downloads, hashing with node:crypto and atomic writes. A package without a
 * Node part has one entry, `src/index.ts`, for both. docs/architecture.md ("Browser and Node
 * entries") shows this table.
 */
export const browserSupport: Record<string, { browser: true } | { browser: false; reason: string }> = {
  '@diffprune/core': { browser: true },
  '@diffprune/hard-concrete': { browser: true },
  '@diffprune/sparse-diff': { browser: true },
  '@diffprune/tokenizers': { browser: true },
  '@diffprune/bert': { browser: true },
  '@diffprune/backbones': { browser: true },
  '@diffprune/glue': { browser: false, reason: 'GLUE files on disk and their download' },
  '@diffprune/datasets': { browser: false, reason: "a user's data files on disk" },
  '@diffprune/training': { browser: false, reason: 'training runs: checkpoints, resumable runs, files' },
  '@diffprune/serving': {
    browser: false,
    reason:
      "built on training (loadWithDiff); apps/web applies diffs with sparse-diff's applyDiffToParameters",
  },
};

/** The file a package's browser entry starts from: `src/browser.ts`, else its only entry `src/index.ts`. */
export function browserEntry(packageDirectory: string): string {
  const browser = join(packageDirectory, 'src', 'browser.ts');
  return existsSync(browser) ? browser : join(packageDirectory, 'src', 'index.ts');
}

export interface NodeImport {
  /** The specifier as written (`node:fs`, `path`), or `Buffer` (Node's global, absent in browsers). */
  specifier: string;
  /** The file that imports it. */
  importer: string;
}

const builtins = new Set(builtinModules);
const isNodeBuiltin = (specifier: string) =>
  specifier.startsWith('node:') || builtins.has(specifier.split('/')[0]!);

/**
 * Bundles `entry` as esbuild does for a page (`platform: 'browser'`), resolving `@diffprune/<name>`
 * to that package's browser entry (as the `"browser"` export condition does once built), and returns
 * every import of a Node builtin reached from it, with its importer, and every use of Node's global
 * `Buffer` in the bundled code (with the file it comes from); `errors` holds anything else
 * that fails (an export the browser entry lacks). tfjs packages are peers the page chooses, left
 * external; other dependencies are bundled, so a Node-only dependency is found too.
 */
export async function nodeImportsOf(
  entry: string,
  packagesDirectory: string,
): Promise<{ nodeImports: NodeImport[]; errors: string[] }> {
  const nodeImports: NodeImport[] = [];
  const plugin: esbuild.Plugin = {
    name: 'diffprune-browser-check',
    setup(build) {
      build.onResolve({ filter: /^@diffprune\/[^/]+$/ }, (args) => ({
        path: browserEntry(join(packagesDirectory, args.path.slice('@diffprune/'.length))),
      }));
      build.onResolve({ filter: /.*/ }, (args) => {
        if (!isNodeBuiltin(args.path)) return undefined;
        nodeImports.push({ specifier: args.path, importer: args.importer });
        return { path: args.path, external: true };
      });
    },
  };
  try {
    const result = await esbuild.build({
      entryPoints: [entry],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      write: false,
      logLevel: 'silent',
      external: ['@tensorflow/*'],
      plugins: [plugin],
    });
    // esbuild marks each input file's code with a `// path` comment line in the (unminified) bundle.
    let file = entry;
    for (const line of result.outputFiles[0]!.text.split('\n')) {
      const source = /^\/\/ (\S+\.[cm]?[jt]s)$/.exec(line);
      if (source) file = source[1]!;
      else if (/\bBuffer\.|\bnew Buffer\b/.test(line))
        nodeImports.push({ specifier: 'Buffer', importer: file });
    }
    return { nodeImports, errors: [] };
  } catch (error) {
    const failure = error as { errors?: esbuild.Message[] };
    const errors = (failure.errors ?? [{ text: String(error), location: null }]).map((m) =>
      m.location ? `${m.location.file}:${m.location.line}: ${m.text}` : m.text,
    );
    return { nodeImports, errors };
  }
}
