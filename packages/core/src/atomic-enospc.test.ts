import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as fsPromises from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type * as Atomic from './atomic.js';
import type * as Errors from './errors.js';

// Issue #15, disk full: a write that fails with ENOSPC is a typed WriteError naming the file (not a
// raw stack), and the file it was replacing survives. No tiny filesystem is available here, so the
// failure is injected into the file handle's write.
const failing = { write: false };
vi.mock('node:fs/promises', async (importOriginal) => {
  const original = await importOriginal<typeof fsPromises>();
  return {
    ...original,
    open: async (...args: Parameters<typeof original.open>) => {
      const handle = await original.open(...args);
      if (!failing.write) return handle;
      return new Proxy(handle, {
        get(target, property) {
          if (property === 'write')
            return async () => {
              throw Object.assign(new Error('ENOSPC: no space left on device, write'), {
                code: 'ENOSPC',
                errno: -28,
                syscall: 'write',
              });
            };
          const value = Reflect.get(target, property);
          return typeof value === 'function' ? value.bind(target) : value;
        },
      });
    },
  };
});

// The test setup loaded core before this mock: import fresh copies that see it.
let writeFileAtomic: typeof Atomic.writeFileAtomic;
let writeDirectoryAtomic: typeof Atomic.writeDirectoryAtomic;
let WriteError: typeof Errors.WriteError;
let DiffpruneError: typeof Errors.DiffpruneError;
beforeAll(async () => {
  vi.resetModules();
  ({ writeFileAtomic, writeDirectoryAtomic } = await import('./atomic.js'));
  ({ WriteError, DiffpruneError } = await import('./errors.js'));
});

afterEach(() => {
  failing.write = false;
});

describe('a full disk (ENOSPC) during an atomic write (issue #15)', () => {
  it('writeFileAtomic: a WriteError naming the file and what to do; the old file survives, no temporary is left', async () => {
    const directory = await fsPromises.mkdtemp(join(tmpdir(), 'dp-enospc-'));
    try {
      const path = join(directory, 'state.json');
      await writeFileAtomic(path, 'old\n');
      failing.write = true;
      const error = await writeFileAtomic(path, 'new\n').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(WriteError);
      expect(DiffpruneError.isInstance(error) && error.code).toBe('write');
      expect((error as Errors.WriteError).path).toBe(path);
      expect((error as Error).message).toMatch(/no space left on the device \(ENOSPC\).*free/);
      expect(readFileSync(path, 'utf8')).toBe('old\n');
      expect(readdirSync(directory)).toEqual(['state.json']);
    } finally {
      await fsPromises.rm(directory, { recursive: true, force: true });
    }
  });

  it('writeDirectoryAtomic: the same typed error; the old directory survives', async () => {
    const directory = await fsPromises.mkdtemp(join(tmpdir(), 'dp-enospc-'));
    try {
      const target = join(directory, 'checkpoint');
      await writeDirectoryAtomic(target, (d) => writeFileAtomic(join(d, 'a.txt'), 'old\n'));
      failing.write = true;
      await expect(
        writeDirectoryAtomic(target, (d) => writeFileAtomic(join(d, 'a.txt'), 'new\n')),
      ).rejects.toBeInstanceOf(WriteError);
      expect(readFileSync(join(target, 'a.txt'), 'utf8')).toBe('old\n');
      expect(readdirSync(directory)).toEqual(['checkpoint']);
      expect(existsSync(join(target, 'a.txt'))).toBe(true);
    } finally {
      await fsPromises.rm(directory, { recursive: true, force: true });
    }
  });
});
