import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { WriteError } from './errors.js';

/** A temporary path beside `path` (same directory, so the final rename is atomic). */
export function temporaryPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Writes `data` to `path` atomically: to a temporary file beside it, fsync, then rename. A crash
 * leaves either the old file or the new one, never a partial one.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array | readonly Uint8Array[],
): Promise<void> {
  const temporary = temporaryPathFor(path);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    await mkdir(dirname(path), { recursive: true });
    handle = await open(temporary, 'w');
    const chunks = typeof data === 'string' || data instanceof Uint8Array ? [data] : data;
    for (const chunk of chunks) await handle.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(temporary, path);
  } catch (error) {
    await handle?.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw WriteError.from(error, path);
  }
}

/**
 * Builds a directory atomically: `build` fills a temporary directory beside `path`, which then
 * replaces `path` by rename. On failure the temporary directory is removed and `path` is untouched.
 */
export async function writeDirectoryAtomic(
  path: string,
  build: (directory: string) => Promise<void>,
): Promise<void> {
  const temporary = temporaryPathFor(path);
  try {
    await mkdir(dirname(path), { recursive: true });
    await mkdir(temporary, { recursive: true });
    await build(temporary);
    await rm(path, { recursive: true, force: true });
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { recursive: true, force: true });
    throw WriteError.from(error, path);
  }
}
