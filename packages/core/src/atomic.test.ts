import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeDirectoryAtomic, writeFileAtomic } from './atomic.js';

describe('atomic writes', () => {
  it('replaces a file whole and leaves no temporary files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-atomic-'));
    const path = join(dir, 'a.json');
    await writeFile(path, 'old');
    await writeFileAtomic(path, [new Uint8Array([110, 101]), new Uint8Array([119])]);
    expect(await readFile(path, 'utf8')).toBe('new');
    expect(await readdir(dir)).toEqual(['a.json']);
  });

  it('leaves the old directory in place when building the new one fails', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-atomic-'));
    const target = join(dir, 'out');
    await writeDirectoryAtomic(target, async (d) => writeFile(join(d, 'x'), '1'));
    await expect(
      writeDirectoryAtomic(target, async (d) => {
        await writeFile(join(d, 'x'), '2');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await readFile(join(target, 'x'), 'utf8')).toBe('1');
    expect(await readdir(dir)).toEqual(['out']);
  });
});
