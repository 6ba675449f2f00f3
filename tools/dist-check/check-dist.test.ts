import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  exportTargets,
  importedSpecifiers,
  missingFromPack,
  packageOfSpecifier,
  undeclaredImports,
} from './check-dist.mjs';

// The script itself runs after `pnpm build` in .ci/run; these pin the pure parts it relies on.
describe('check-dist helpers', () => {
  const bert = JSON.parse(readFileSync(new URL('../../packages/bert/package.json', import.meta.url), 'utf8'));

  it('lists every exports target with its conditions (a real package.json)', () => {
    const targets = exportTargets(bert.exports);
    expect(targets).toContainEqual({ conditions: ['.', 'browser'], target: './dist/browser.js' });
    expect(targets).toContainEqual({ conditions: ['.', 'node'], target: './dist/index.js' });
    expect(targets).toContainEqual({ conditions: ['./test', 'types'], target: './dist/test/index.d.ts' });
    expect(targets.map((t) => t.target)).toContain('./package.json');
  });

  it('reports files the exports name but the pack leaves out', () => {
    const packed = ['package.json', 'dist/index.js', 'dist/index.d.ts', 'dist/browser.js'];
    expect(missingFromPack(bert, packed).sort()).toEqual(['dist/test/index.d.ts', 'dist/test/index.js']);
    expect(missingFromPack(bert, [...packed, 'dist/test/index.js', 'dist/test/index.d.ts'])).toEqual([]);
  });

  it('finds static, side-effect, re-export and dynamic imports, and maps them to package names', () => {
    const source = [
      'import { a } from "@scope/pkg/sub";',
      'import "side-effect";',
      'export { b } from "./chunk-X.js";',
      'const m = await import("lazy-dep");',
      'import * as tf from "@tensorflow/tfjs-core";',
    ].join('\n');
    expect(importedSpecifiers(source).sort()).toEqual(
      ['./chunk-X.js', '@scope/pkg/sub', '@tensorflow/tfjs-core', 'lazy-dep', 'side-effect'].sort(),
    );
    expect(packageOfSpecifier('@scope/pkg/sub')).toBe('@scope/pkg');
    expect(packageOfSpecifier('csv-parse/sync')).toBe('csv-parse');
    expect(packageOfSpecifier('./chunk.js')).toBeUndefined();
  });

  it('flags bare imports that are not declared, but not builtins or declared peers', () => {
    const manifest = { name: 'x', dependencies: { a: '1' }, peerDependencies: { vitest: '>=3' } };
    expect(
      undeclaredImports(manifest, ['a', 'a/deep', 'vitest', 'fs', 'node:path', 'missing', './local.js']),
    ).toEqual(['missing']);
  });
});
