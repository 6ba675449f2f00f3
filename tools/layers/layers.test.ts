import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { checkPackage, type PackageInfo, referencesIn, type Violation, workspacePackages } from './layers.js';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Known violations being removed by other work, each narrowed to a file (or package.json) and a
 * rule. Issue #14: the runtime package takes `initBackend`, the wasm kernel patches and
 * `describeEachBackend` (with its tfjs-node/native loading) out of core; delete these lines then.
 */
// Violations known and scheduled for removal (none now: the runtime left core).
const pending: { file: string; rule: Violation['rule'] }[] = [];

const isPending = (v: Violation) =>
  pending.some((p) => v.rule === p.rule && v.file.slice(root.length).startsWith(p.file));

describe('the layer rule (tools/layers/layers.ts)', () => {
  const packages = workspacePackages(root);

  it('finds the workspace: every package and app', () => {
    const names = packages.map((p) => p.name);
    for (const name of ['@diffprune/core', '@diffprune/training', '@diffprune/trainer', '@diffprune/bench'])
      expect(names).toContain(name);
  });

  it('holds: no package imports an app, no library imports a backend, every import is in the table', () => {
    const violations = packages.flatMap((p) => checkPackage(p, root)).filter((v) => !isPending(v));
    expect(violations.map((v) => v.message)).toEqual([]);
  });

  const synthetic = (name: string, path: string, text: string, manifest: PackageInfo['manifest'] = {}) =>
    checkPackage(
      {
        name,
        directory: `${root}packages/x`,
        manifest,
        files: [{ path: `${root}packages/x/${path}`, text }],
      },
      root,
    );

  it('fails on a package importing an app, by name or by path', () => {
    const byName = synthetic(
      '@diffprune/glue',
      'src/a.ts',
      "import { startBackend } from '@diffprune/trainer';\n",
    );
    expect(byName.map((v) => v.rule)).toEqual(['imports-app']);
    expect(byName[0]!.message).toContain('packages/x/src/a.ts:1');
    const byPath = synthetic(
      '@diffprune/native',
      'bench/b.ts',
      "// a comment\nimport { median } from '../../../apps/bench/src/step/measure.js';\n",
    );
    expect(byPath.map((v) => [v.rule, v.line])).toEqual([['imports-app', 2]]);
    const createRequire = synthetic(
      '@diffprune/bert',
      'bench/c.ts',
      "const r = createRequire(new URL('../../../apps/trainer/package.json', import.meta.url));",
    );
    expect(createRequire.map((v) => v.rule)).toEqual(['imports-app']);
    const manifest = synthetic('@diffprune/training', 'src/d.ts', '', {
      devDependencies: { '@diffprune/bench': 'workspace:^' },
    });
    expect(manifest.map((v) => v.rule)).toEqual(['imports-app']);
  });

  it("fails on a library's source importing a backend, but not on its tests and benches", () => {
    const source = synthetic(
      '@diffprune/hard-concrete',
      'src/gate.ts',
      "import '@tensorflow/tfjs-backend-cpu';\nconst n = await import('@diffprune/native');\n",
    );
    expect(source.map((v) => v.rule)).toEqual(['library-imports-backend', 'library-imports-backend']);
    const dependency = synthetic('@diffprune/glue', 'src/e.ts', '', {
      dependencies: { '@tensorflow/tfjs': '4.22.0' },
    });
    expect(dependency.map((v) => v.rule)).toEqual(['library-imports-backend']);
    expect(synthetic('@diffprune/hard-concrete', 'src/gate.test.ts', "import '@diffprune/native';")).toEqual(
      [],
    );
    expect(
      synthetic('@diffprune/training', 'bench/step.ts', "import '@tensorflow/tfjs-backend-cpu';"),
    ).toEqual([]);
    // A backend package is not a library: native builds on tfjs-backend-cpu.
    expect(synthetic('@diffprune/native', 'src/k.ts', "import '@tensorflow/tfjs-backend-cpu';")).toEqual([]);
  });

  it('fails on an import the table does not allow (a lower layer importing a higher one) and on an unknown package', () => {
    const upward = synthetic('@diffprune/core', 'src/f.ts', "export { loadBert } from '@diffprune/bert';");
    expect(upward.map((v) => v.rule)).toEqual(['not-in-layer']);
    const sideways = synthetic(
      '@diffprune/glue',
      'src/g.ts',
      "import { BertBackbone } from '@diffprune/bert/test';",
    );
    expect(sideways.map((v) => v.rule)).toEqual(['not-in-layer']);
    expect(synthetic('@diffprune/unknown', 'src/h.ts', '')[0]!.message).toContain('not in the layer table');
    expect(
      synthetic('@diffprune/training', 'src/i.ts', "import { loadBert } from '@diffprune/bert';"),
    ).toEqual([]);
  });

  it('reads imports, not prose: comments and strings that are not module specifiers are ignored', () => {
    const text = [
      "/** Loads `@diffprune/native` like import('@diffprune/native') would. */",
      "// import x from '@diffprune/trainer';",
      "const message = 'see @tensorflow/tfjs-node';",
      "const url = 'https://example.com/x'; import { y } from './y.js';",
    ].join('\n');
    expect(referencesIn('f.ts', text, false).map((r) => [r.specifier, r.line])).toEqual([['./y.js', 4]]);
  });
});

describe('docs/architecture.md', () => {
  it('shows the layer table exactly as tools/layers/layers.ts holds it', async () => {
    const { readFileSync } = await import('node:fs');
    const { layers } = await import('./layers.js');
    const doc = readFileSync(`${root}docs/architecture.md`, 'utf8');
    const short = (s: string) => `\`${s.replace('@diffprune/', '')}\``;
    const list = (names: readonly string[] | undefined) =>
      names?.length ? names.map(short).join(', ') : '—';
    const expected = Object.entries(layers).map(
      ([name, l]) => `| ${short(name)} | ${l.kind} | ${list(l.imports)} | ${list(l.testImports)} |`,
    );
    const rows = doc.split('\n').filter((line) => /^\| `[a-z-]+` \| (library|backend|app) \|/.test(line));
    expect(rows).toEqual(expected);
  });
});
