import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FormatError, InvalidArgumentError, MissingResourceError } from './errors.js';
import { checkShardFileName, readLocalFile, readShardIndex } from './files.js';

const where = { path: '/models/m/model.safetensors.index.json', tensor: 'w' };

describe('shard index names (issue #15)', () => {
  it('accepts plain file names in the index directory', () => {
    for (const name of ['model-00001-of-00002.safetensors', 'a b.safetensors', 'x..y.safetensors'])
      expect(checkShardFileName(name, where)).toBe(name);
  });

  it('refuses traversal, absolute paths, separators, hidden, control characters and non-strings', () => {
    const hostile: unknown[] = [
      '../../etc/passwd',
      '..',
      '.',
      '/etc/passwd',
      'sub/model.safetensors',
      'sub\\model.safetensors',
      '.hidden.safetensors',
      'C:model.safetensors',
      'a\u0000b',
      'a\nb',
      '',
      12,
      null,
      ['model.safetensors'],
      { file: 'model.safetensors' },
    ];
    for (const name of hostile) {
      expect(() => checkShardFileName(name, where), String(name)).toThrow(FormatError);
      expect(() => checkShardFileName(name, where), String(name)).toThrow(/weight_map\["w"\]/);
    }
  });

  it('readShardIndex lists each shard once and names the index file in its errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-shards-'));
    const index = join(dir, 'model.safetensors.index.json');
    await writeFile(
      index,
      JSON.stringify({ weight_map: { a: 's1.safetensors', b: 's2.safetensors', c: 's1.safetensors' } }),
    );
    expect(await readShardIndex(index)).toEqual(['s1.safetensors', 's2.safetensors']);
    await writeFile(index, JSON.stringify({ weight_map: { a: '../../etc/passwd' } }));
    await expect(readShardIndex(index)).rejects.toThrow(`${index}: weight_map["a"]`);
    await writeFile(index, JSON.stringify({ weight_map: { a: 7 } }));
    await expect(readShardIndex(index)).rejects.toThrow(FormatError);
    await writeFile(index, 'not json');
    await expect(readShardIndex(index)).rejects.toThrow(/expected valid JSON/);
    await expect(readShardIndex(join(dir, 'absent.json'))).rejects.toThrow(MissingResourceError);
  });
});

describe('readLocalFile', () => {
  it('turns ENOENT and EISDIR into typed errors naming the path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-read-'));
    await mkdir(join(dir, 'd'));
    await expect(readLocalFile(join(dir, 'none'), { what: 'config' })).rejects.toThrow(MissingResourceError);
    await expect(readLocalFile(join(dir, 'd'), { what: 'config' })).rejects.toThrow(InvalidArgumentError);
    await writeFile(join(dir, 'f'), 'x');
    expect((await readLocalFile(join(dir, 'f'))).toString()).toBe('x');
  });
});
