import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

/**
 * The layer diagram, as data: which workspace package may import which. This table is the single
 * source of the diagram in docs/architecture.md; `layers.test.ts` checks every package against it.
 *
 * - `library`: published, takes tfjs as a peer, never chooses a backend (no backend import outside
 *   its tests, test helpers and benches).
 * - `backend`: a compute backend or the runtime that picks one.
 * - `app`: private CLIs, the only place a backend is chosen. No package imports an app.
 *
 * `imports` holds what the package's source may import; `testImports` what its tests, test helpers
 * (`src/test/`) and benches may import besides.
 */
export interface Layer {
  kind: 'library' | 'backend' | 'app';
  imports: readonly string[];
  testImports?: readonly string[];
}

const core = '@diffprune/core';
const hardConcrete = '@diffprune/hard-concrete';
const sparseDiff = '@diffprune/sparse-diff';
const bert = '@diffprune/bert';
const glue = '@diffprune/glue';
const datasets = '@diffprune/datasets';
const tokenizers = '@diffprune/tokenizers';
const backbones = '@diffprune/backbones';
const training = '@diffprune/training';
const serving = '@diffprune/serving';
const native = '@diffprune/native';
const runtime = '@diffprune/runtime';
const libraries = [
  core,
  hardConcrete,
  sparseDiff,
  tokenizers,
  bert,
  backbones,
  glue,
  datasets,
  training,
  serving,
];

export const layers: Record<string, Layer> = {
  [core]: { kind: 'library', imports: [] },
  [hardConcrete]: { kind: 'library', imports: [core], testImports: [native, runtime] },
  [sparseDiff]: { kind: 'library', imports: [core], testImports: [native] },
  [tokenizers]: { kind: 'library', imports: [core] },
  [bert]: { kind: 'library', imports: [core, tokenizers], testImports: [sparseDiff, native, runtime] },
  [backbones]: { kind: 'library', imports: [core, tokenizers, bert], testImports: [sparseDiff, runtime] },
  [glue]: { kind: 'library', imports: [core] },
  [datasets]: { kind: 'library', imports: [core] },
  [training]: {
    kind: 'library',
    imports: [core, hardConcrete, sparseDiff, tokenizers, bert, backbones, glue, datasets],
    testImports: [native, runtime],
  },
  [serving]: {
    kind: 'library',
    imports: [core, sparseDiff, tokenizers, bert, backbones, glue, training],
    testImports: [native, runtime],
  },
  // native's tests and benches run on the backend the runtime registers.
  [native]: { kind: 'backend', imports: [core], testImports: [runtime] },
  [runtime]: { kind: 'backend', imports: [core, native] },
  '@diffprune/trainer': { kind: 'app', imports: [...libraries, native, runtime] },
  '@diffprune/bench': { kind: 'app', imports: [...libraries, native, runtime, '@diffprune/trainer'] },
  // The browser page: libraries' browser entries only; its Node-side test compares with training.
  '@diffprune/web': {
    kind: 'app',
    imports: [core, sparseDiff, tokenizers, bert],
    testImports: [training],
  },
};

/** Modules that choose or are a backend: a library's source never imports them. */
export const backendModules = [
  '@tensorflow/tfjs',
  '@tensorflow/tfjs-node',
  '@tensorflow/tfjs-node-gpu',
  '@tensorflow/tfjs-backend-cpu',
  '@tensorflow/tfjs-backend-wasm',
  '@tensorflow/tfjs-backend-webgl',
  '@tensorflow/tfjs-backend-webgpu',
  native,
  runtime,
];

/** One import found in a file (or a dependency in a package.json). */
export interface Reference {
  file: string;
  line: number;
  specifier: string;
  /** Test files, test helpers (`src/test/`), benches and scripts. */
  test: boolean;
}

export interface Violation {
  file: string;
  line: number;
  rule: 'imports-app' | 'not-in-layer' | 'library-imports-backend';
  message: string;
}

/** A package as the check sees it: its name, directory, package.json and source files. */
export interface PackageInfo {
  name: string;
  directory: string;
  manifest: {
    dependencies?: Record<string, string>;
    peerDependencies?: Record<string, string>;
    optionalDependencies?: Record<string, string>;
    devDependencies?: Record<string, string>;
  };
  files: { path: string; text: string }[];
}

// import … from 'x', export … from 'x', import 'x', import('x'), require('x') (any require-like
// function, e.g. a createRequire result), and new URL('x', import.meta.url).
const patterns = [
  /\bfrom\s*['"]([^'"\n]+)['"]/g,
  /\bimport\s*['"]([^'"\n]+)['"]/g,
  /\bimport\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
  /\b[rR]equire\w*(?:\.resolve)?\s*\(\s*['"]([^'"\n]+)['"]\s*\)/g,
  /\bnew\s+URL\(\s*['"]([^'"\n]+)['"]\s*,\s*import\.meta\.url/g,
];

/** Blanks out comments (keeping line numbers) so that prose mentioning a module is not an import. */
function stripComments(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, (block) => block.replace(/[^\n]/g, ' '))
    .replace(/(^|[^:'"`\\])\/\/[^\n]*/g, (_, before: string) => before);
}

/** The module specifiers a TypeScript file references, with line numbers. */
export function referencesIn(path: string, text: string, test: boolean): Reference[] {
  const code = stripComments(text);
  const out: Reference[] = [];
  for (const pattern of patterns) {
    for (const match of code.matchAll(pattern)) {
      const line = code.slice(0, match.index).split('\n').length;
      out.push({ file: path, line, specifier: match[1]!, test });
    }
  }
  return out;
}

/** The workspace package a specifier names (`@diffprune/bert/test` → `@diffprune/bert`), if any. */
function packageOf(specifier: string): string | undefined {
  const match = /^(@[^/]+\/[^/]+|[^./][^/]*)/.exec(specifier);
  return match?.[1];
}

const isTestFile = (path: string) =>
  /\.test\.ts$/.test(path) || /(^|[\\/])(bench|scripts|test)[\\/]/.test(path);

/** Checks one package against the table; `root` is the repository root (to spot paths into apps/). */
export function checkPackage(info: PackageInfo, root: string, table = layers): Violation[] {
  const layer = table[info.name];
  if (!layer) {
    return [
      {
        file: join(info.directory, 'package.json'),
        line: 1,
        rule: 'not-in-layer',
        message: `${info.name} is not in the layer table (tools/layers/layers.ts): add it with what it may import`,
      },
    ];
  }
  const apps = Object.entries(table)
    .filter(([, l]) => l.kind === 'app')
    .map(([name]) => name);
  const appsDirectory = join(root, 'apps') + sep;
  const references: Reference[] = info.files.flatMap((f) =>
    referencesIn(f.path, f.text, isTestFile(relative(info.directory, f.path))),
  );
  const manifest = join(info.directory, 'package.json');
  for (const [field, deps] of Object.entries(info.manifest)) {
    if (!field.endsWith('ependencies') || !deps) continue;
    for (const name of Object.keys(deps)) {
      references.push({ file: manifest, line: 1, specifier: name, test: field === 'devDependencies' });
    }
  }
  const violations: Violation[] = [];
  for (const ref of references) {
    const where = `${relative(root, ref.file)}:${ref.line}`;
    if (ref.specifier.startsWith('.')) {
      // A relative path out of the package: into an app is an upward import; into another
      // package's files bypasses its exports.
      const target = resolve(dirname(ref.file), ref.specifier);
      if (layer.kind !== 'app' && (target + sep).startsWith(appsDirectory)) {
        violations.push({
          file: ref.file,
          line: ref.line,
          rule: 'imports-app',
          message: `${where}: ${info.name} reaches into an app (${ref.specifier}); import a package instead`,
        });
      }
      continue;
    }
    const name = packageOf(ref.specifier);
    if (!name || name === info.name) continue;
    if (layer.kind !== 'app' && apps.includes(name)) {
      violations.push({
        file: ref.file,
        line: ref.line,
        rule: 'imports-app',
        message: `${where}: ${info.name} imports the app ${name}; no package imports an app`,
      });
      continue;
    }
    if (layer.kind === 'library' && !ref.test && backendModules.includes(name)) {
      violations.push({
        file: ref.file,
        line: ref.line,
        rule: 'library-imports-backend',
        message: `${where}: the library ${info.name} imports the backend ${name}; libraries take tfjs-core as a peer and never choose a backend (apps do)`,
      });
      continue;
    }
    if (name.startsWith('@diffprune/')) {
      const allowed = [...layer.imports, ...(ref.test ? (layer.testImports ?? []) : [])];
      if (!allowed.includes(name)) {
        violations.push({
          file: ref.file,
          line: ref.line,
          rule: 'not-in-layer',
          message: `${where}: ${info.name} imports ${name}, which the layer table does not allow${ref.test ? ' (even in tests and benches)' : ''}: ${allowed.join(', ') || 'nothing'}`,
        });
      }
    }
  }
  return violations;
}

function typescriptFiles(directory: string): string[] {
  if (!existsSync(directory)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(directory)) {
    if (entry === 'node_modules' || entry === 'dist') continue;
    const path = join(directory, entry);
    if (statSync(path).isDirectory()) out.push(...typescriptFiles(path));
    else if (/\.(ts|mts|js|mjs)$/.test(entry)) out.push(path);
  }
  return out;
}

/** Every workspace package under packages/ and apps/, with its src, test, bench and scripts files. */
export function workspacePackages(root: string): PackageInfo[] {
  const out: PackageInfo[] = [];
  for (const group of ['packages', 'apps']) {
    const groupDirectory = join(root, group);
    if (!existsSync(groupDirectory)) continue;
    for (const entry of readdirSync(groupDirectory)) {
      const directory = join(groupDirectory, entry);
      const manifestPath = join(directory, 'package.json');
      if (!existsSync(manifestPath)) continue;
      const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as PackageInfo['manifest'] & {
        name: string;
      };
      const files = ['src', 'test', 'bench', 'scripts'].flatMap((sub) =>
        typescriptFiles(join(directory, sub)),
      );
      out.push({
        name: manifest.name,
        directory,
        manifest,
        files: files.map((path) => ({ path, text: readFileSync(path, 'utf8') })),
      });
    }
  }
  return out;
}
