import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { layers } from '../layers/layers.js';
import { browserEntry, browserSupport, nodeImportsOf } from './browser-bundles.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const packagesDirectory = join(root, 'packages');
const directoryOf = (name: string) => join(packagesDirectory, name.slice('@diffprune/'.length));
const browserPackages = Object.entries(browserSupport)
  .filter(([, support]) => support.browser)
  .map(([name]) => name);

describe('browser entries bundle with esbuild --platform=browser, without Node builtins', () => {
  it('classifies every library of the layer table (browser entry, or Node only with a reason)', () => {
    const libraries = Object.entries(layers)
      .filter(([, layer]) => layer.kind === 'library')
      .map(([name]) => name);
    expect(Object.keys(browserSupport).sort()).toEqual(libraries.sort());
  });

  it.for(browserPackages)('%s', async (name) => {
    const { nodeImports, errors } = await nodeImportsOf(browserEntry(directoryOf(name)), packagesDirectory);
    expect(errors).toEqual([]);
    expect(nodeImports.map((i) => `${i.specifier} <- ${relative(root, i.importer)}`)).toEqual([]);
  });

  it('package.json: the browser entry under "browser" and "default", the Node entry under "node"', () => {
    for (const name of browserPackages) {
      const directory = directoryOf(name);
      const manifest = JSON.parse(readFileSync(join(directory, 'package.json'), 'utf8')) as {
        exports: Record<string, Record<string, string>>;
      };
      const built = browserEntry(directory).endsWith('browser.ts') ? './dist/browser.js' : './dist/index.js';
      const dot = manifest.exports['.']!;
      expect([name, dot.browser ?? dot.import, dot.node ?? dot.import, dot.default ?? dot.import]).toEqual([
        name,
        built,
        './dist/index.js',
        built,
      ]);
    }
  });

  describe('fails where it should', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'diffprune-browser-check-'));
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));

    it('on a browser entry reaching node:fs through a relative import', async () => {
      const source = join(scratch, 'fixture', 'src');
      mkdirSync(source, { recursive: true });
      writeFileSync(join(source, 'browser.ts'), "export { size } from './size.js';\n");
      writeFileSync(
        join(source, 'size.ts'),
        "import { statSync } from 'node:fs';\nimport path from 'path';\nexport const size = (p: string) => statSync(path.resolve(p)).size;\n",
      );
      const { nodeImports } = await nodeImportsOf(browserEntry(join(scratch, 'fixture')), packagesDirectory);
      expect(nodeImports.map((i) => [i.specifier, relative(scratch, i.importer)])).toEqual([
        ['node:fs', join('fixture', 'src', 'size.ts')],
        ['path', join('fixture', 'src', 'size.ts')],
      ]);
    });

    it("on Node's global Buffer (no import, still absent in a browser)", async () => {
      const entry = join(scratch, 'buffer.ts');
      writeFileSync(entry, "export const bytes = (s: string) => Buffer.from(s, 'utf8');\n");
      const { nodeImports } = await nodeImportsOf(entry, packagesDirectory);
      expect(nodeImports.map((i) => i.specifier)).toEqual(['Buffer']);
    });

    it("on one move reverted: core's Node entry (files, downloads, atomic writes) as a browser entry", async () => {
      const entry = join(scratch, 'reverted.ts');
      writeFileSync(entry, `export * from '${join(packagesDirectory, 'core', 'src', 'index.ts')}';\n`);
      const { nodeImports } = await nodeImportsOf(entry, packagesDirectory);
      const importers = new Set(nodeImports.map((i) => relative(root, i.importer)));
      expect([...importers].sort()).toEqual(
        ['atomic.ts', 'download.ts', 'files.ts'].map((f) => join('packages', 'core', 'src', f)),
      );
    });

    it('on a browser entry importing what only the Node entry exports', async () => {
      const entry = join(scratch, 'missing.ts');
      writeFileSync(
        entry,
        "import { writeFileAtomic } from '@diffprune/core';\nexport const write = writeFileAtomic;\n",
      );
      const { errors } = await nodeImportsOf(entry, packagesDirectory);
      expect(errors.join('\n')).toContain('No matching export');
      expect(errors.join('\n')).toContain('writeFileAtomic');
    });
  });
});
