import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { DownloadError } from './errors.js';
import type { EventListener } from './events.js';

export interface DownloadOptions {
  url: string;
  /** Final path. The body is written to `${destination}.partial` and renamed when complete. */
  destination: string;
  /** Expected sha256 (hex) of the whole file; checked before the rename. */
  sha256?: string;
  /** Expected size in bytes, checked before the rename. */
  size?: number;
  headers?: Record<string, string>;
  onEvent?: EventListener;
  signal?: AbortSignal;
  /** Progress events at most this often (ms); default 200. */
  progressIntervalMs?: number;
}

export interface DownloadResult {
  path: string;
  bytes: number;
  sha256: string;
  resumedFrom: number;
}

const sha256File = async (path: string): Promise<string> => {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
};

const sizeOf = async (path: string): Promise<number> => {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
};

/**
 * Downloads a URL to a file with resume (an interrupted download continues from its `.partial`
 * file with an HTTP Range request), an integrity check (sha256 and size when given) and progress
 * events. The destination appears only when complete and verified.
 */
export async function downloadFile(options: DownloadOptions): Promise<DownloadResult> {
  const { url, destination, onEvent } = options;
  const partial = `${destination}.partial`;
  await mkdir(dirname(destination), { recursive: true });
  let offset = await sizeOf(partial);

  const headers: Record<string, string> = { ...options.headers };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  let response: Response;
  try {
    response = await fetch(url, { headers, redirect: 'follow', signal: options.signal ?? null });
  } catch (error) {
    throw new DownloadError({ url, reason: (error as Error).message, cause: error });
  }
  if (response.status === 416 && offset > 0) {
    // The partial file is already complete (or longer than the resource): start again.
    await response.body?.cancel();
    await rm(partial, { force: true });
    return downloadFile(options);
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new DownloadError({
      url,
      reason: `HTTP ${response.status} ${response.statusText}`,
      status: response.status,
    });
  }
  if (offset > 0 && response.status !== 206) offset = 0; // server ignored the range: restart
  const length = Number(response.headers.get('content-length') ?? Number.NaN);
  const totalBytes = Number.isFinite(length) ? offset + length : options.size;
  const resumedFrom = offset;
  onEvent?.({ type: 'download-start', url, file: destination, totalBytes, resumedFrom });

  const handle = await open(partial, offset > 0 ? 'a' : 'w');
  let received = offset;
  let lastEvent = 0;
  const interval = options.progressIntervalMs ?? 200;
  try {
    if (response.body) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        await handle.write(chunk);
        received += chunk.byteLength;
        const now = Date.now();
        if (now - lastEvent >= interval) {
          lastEvent = now;
          onEvent?.({
            type: 'download-progress',
            url,
            file: destination,
            receivedBytes: received,
            totalBytes,
          });
        }
      }
    }
    await handle.sync();
  } catch (error) {
    throw new DownloadError({
      url,
      reason: `interrupted after ${received} bytes (${(error as Error).message}); run again to resume`,
      cause: error,
    });
  } finally {
    await handle.close();
  }

  if (options.size !== undefined && received !== options.size) {
    await rm(partial, { force: true });
    throw new DownloadError({ url, reason: `expected ${options.size} bytes, received ${received}` });
  }
  const digest = await sha256File(partial);
  if (options.sha256 !== undefined && digest !== options.sha256.toLowerCase()) {
    await rm(partial, { force: true });
    throw new DownloadError({ url, reason: `sha256 mismatch: expected ${options.sha256}, found ${digest}` });
  }
  await rename(partial, destination);
  onEvent?.({
    type: 'download-progress',
    url,
    file: destination,
    receivedBytes: received,
    totalBytes: received,
  });
  onEvent?.({ type: 'download-end', url, file: destination, bytes: received, sha256: digest });
  return { path: destination, bytes: received, sha256: digest, resumedFrom };
}

/** The user's cache directory for diffprune: $DIFFPRUNE_CACHE, else $XDG_CACHE_HOME/diffprune, else ~/.cache/diffprune. */
export function defaultCacheDirectory(): string {
  const env = process.env;
  if (env.DIFFPRUNE_CACHE) return env.DIFFPRUNE_CACHE;
  const base =
    env.XDG_CACHE_HOME ??
    (process.platform === 'win32' && env.LOCALAPPDATA ? env.LOCALAPPDATA : join(homedir(), '.cache'));
  return join(base, 'diffprune');
}
