#!/usr/bin/env node
// What a user who depends on one library package gets, checked after `pnpm build` (a CI step in
// .ci/run; plain node, no tsx, so nothing resolves to TypeScript sources):
//   1. the packed file list (`npm pack --dry-run`) holds every file the package.json `exports`, `main`
//      and `types` name (types, browser, node, default and the ./test subpaths);
//   2. every bare import in the built JavaScript is a dependency, peer or optional dependency of the
//      package (or a Node builtin), so an install of that package alone resolves it;
//   3. each built entry (Node and browser conditions) imports with plain `node`;
//   4. publint (strict) finds no problem.
// Usage: node tools/dist-check/check-dist.mjs [package-dir ...]   (default: every non-private packages/*)
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

/** Every file path an `exports` value names, with the condition path that leads to it. */
export function exportTargets(exportsField, path = []) {
  if (typeof exportsField === 'string') return [{ conditions: path, target: exportsField }];
  if (exportsField === null || typeof exportsField !== 'object') return [];
  return Object.entries(exportsField).flatMap(([key, value]) => exportTargets(value, [...path, key]));
}

/** The package name a bare module specifier names ('@scope/name/sub' -> '@scope/name'), or undefined for relative and node: ones. */
export function packageOfSpecifier(specifier) {
  if (specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('node:'))
    return undefined;
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

/** The module specifiers a built ESM file imports (static, re-export and dynamic string imports). */
export function importedSpecifiers(source) {
  const found = new Set();
  const patterns = [
    /(?:^|[;\n}])\s*(?:import|export)\s[^'"]*?\sfrom\s*['"]([^'"]+)['"]/g,
    /(?:^|[;\n}])\s*import\s*['"]([^'"]+)['"]/g,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.add(match[1]);
  return [...found];
}

/** Bare imports of `specifiers` that `manifest` does not declare (nor Node provides). */
export function undeclaredImports(manifest, specifiers) {
  const declared = new Set([
    manifest.name,
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
    ...Object.keys(manifest.optionalDependencies ?? {}),
  ]);
  const builtins = new Set(builtinModules);
  return specifiers.filter((specifier) => {
    const name = packageOfSpecifier(specifier);
    return name !== undefined && !builtins.has(name) && !declared.has(name);
  });
}

/** Files listed in `files` that the exports/main/types name but the pack leaves out. */
export function missingFromPack(manifest, packedFiles) {
  const packed = new Set(packedFiles.map((file) => file.replace(/^\.\//, '')));
  const named = [
    ...exportTargets(manifest.exports ?? {}).map(({ target }) => target),
    ...[manifest.main, manifest.types, manifest.module].filter((value) => typeof value === 'string'),
  ];
  return [...new Set(named.map((file) => file.replace(/^\.\//, '')))].filter((file) => !packed.has(file));
}

function jsFiles(dir) {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return jsFiles(path);
    return path.endsWith('.js') ? [path] : [];
  });
}

async function checkPackage(dir) {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  const problems = [];
  const packJson = execFileSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], {
    cwd: dir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const packedFiles = JSON.parse(packJson)[0].files.map((file) => file.path);
  for (const file of missingFromPack(manifest, packedFiles)) {
    problems.push(`package.json names ${file}, but \`npm pack\` does not include it (run the build first?)`);
  }
  for (const file of jsFiles(join(dir, 'dist'))) {
    for (const specifier of undeclaredImports(manifest, importedSpecifiers(readFileSync(file, 'utf8')))) {
      problems.push(
        `${file.slice(dir.length + 1)} imports '${specifier}', which is not in dependencies, peerDependencies or optionalDependencies`,
      );
    }
  }
  const entries = exportTargets(manifest.exports ?? {}).filter(
    ({ conditions, target }) => target.endsWith('.js') && !conditions.includes('types'),
  );
  for (const { conditions, target } of entries) {
    try {
      await import(pathToFileURL(join(dir, target)).href);
    } catch (error) {
      problems.push(
        `import of ${target} (${conditions.join(' > ')}) with plain node failed: ${error?.message ?? error}`,
      );
    }
  }
  const { publint } = await import('publint');
  const { formatMessage } = await import('publint/utils');
  const { messages, pkg } = await publint({ pkgDir: dir, strict: true, pack: 'npm' });
  for (const message of messages) {
    problems.push(
      `publint ${message.type}: ${formatMessage(message, pkg, { color: false }) ?? message.code}`,
    );
  }
  return { name: manifest.name, entries: entries.length, files: packedFiles.length, problems };
}

async function main() {
  const dirs = process.argv.slice(2).length
    ? process.argv.slice(2).map((dir) => resolve(dir))
    : readdirSync(join(root, 'packages'))
        .map((name) => join(root, 'packages', name))
        .filter((dir) => {
          try {
            return !JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).private;
          } catch {
            return false;
          }
        });
  let failed = 0;
  for (const dir of dirs) {
    const result = await checkPackage(dir);
    if (result.problems.length === 0) {
      process.stdout.write(
        `ok   ${result.name}: ${result.files} packed files, ${result.entries} entries import with node\n`,
      );
    } else {
      failed += 1;
      process.stderr.write(`FAIL ${result.name}:\n  ${result.problems.join('\n  ')}\n`);
    }
  }
  if (failed > 0) {
    process.stderr.write(
      `${failed} package(s) would not work for a user who installs them alone; see above\n`,
    );
    process.exit(1);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) await main();
