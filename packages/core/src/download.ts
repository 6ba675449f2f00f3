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
  /**
   * Give up when the server sends nothing (no headers, no body bytes) for this long (ms); default
   * `defaultReadTimeoutMs` (30 s). The partial file is kept, so running again resumes.
   */
  readTimeoutMs?: number;
  /** Redirects followed before giving up with "too many redirects"; default 10. */
  maxRedirects?: number;
  /** Refuse bodies larger than this (bytes), before downloading when Content-Length says so; default 1 TiB. */
  maxBytes?: number;
}

/** The default read timeout of `downloadFile` (ms). */
export const defaultReadTimeoutMs = 30_000;
/** The default `maxBytes` of `downloadFile`: 1 TiB. */
export const defaultMaxDownloadBytes = 2 ** 40;

/**
 * `fetch` following redirects by hand (so a loop ends in a clear "too many redirects", not undici's
 * "fetch failed"), with the read timeout applied to the wait for each response's headers.
 */
export async function fetchWithRedirects(
  url: string,
  init: { method?: string; headers?: Record<string, string>; signal: AbortSignal; maxRedirects?: number },
  describeFailure: (error: unknown) => string,
): Promise<{ response: Response; url: string }> {
  const maxRedirects = init.maxRedirects ?? 10;
  let current = url;
  for (let hop = 0; ; hop++) {
    let response: Response;
    try {
      response = await fetch(current, {
        method: init.method ?? 'GET',
        headers: init.headers ?? {},
        redirect: 'manual',
        signal: init.signal,
      });
    } catch (error) {
      throw new DownloadError({ url: current, reason: describeFailure(error), cause: error });
    }
    const location = response.headers.get('location');
    if (response.status < 300 || response.status >= 400 || response.status === 304 || !location)
      return { response, url: current };
    await response.body?.cancel();
    if (hop >= maxRedirects)
      throw new DownloadError({
        url,
        reason: `too many redirects (more than ${maxRedirects}; the last to ${new URL(location, current).href}): the server redirects in a loop; check the URL or the mirror's configuration`,
        status: response.status,
      });
    current = new URL(location, current).href;
  }
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
  const { url, destination } = options;
  const partial = `${destination}.partial`;
  await mkdir(dirname(destination), { recursive: true });
  const offset = await sizeOf(partial);

  const headers: Record<string, string> = { ...options.headers };
  if (offset > 0) headers.range = `bytes=${offset}-`;
  // One controller for the whole transfer: the caller's signal, or the read timeout (re-armed on
  // every chunk), aborts it.
  const readTimeoutMs = options.readTimeoutMs ?? defaultReadTimeoutMs;
  const controller = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, readTimeoutMs);
  };
  const forward = () => controller.abort(options.signal?.reason);
  if (options.signal?.aborted) forward();
  options.signal?.addEventListener('abort', forward, { once: true });
  const failure = (error: unknown) =>
    timedOut
      ? `no data from the server for ${readTimeoutMs} ms (read timeout); run again to resume, or raise the timeout`
      : describeFetchError(error);
  try {
    arm();
    const { response } = await fetchWithRedirects(
      url,
      {
        headers,
        signal: controller.signal,
        ...(options.maxRedirects !== undefined ? { maxRedirects: options.maxRedirects } : {}),
      },
      failure,
    );
    return await receive(options, response, offset, { arm, failure, partial });
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', forward);
  }
}

/** Undici hides the cause behind "fetch failed": say it. */
const describeFetchError = (error: unknown): string => {
  const message = (error as Error)?.message ?? String(error);
  const cause = (error as { cause?: { message?: string; code?: string } })?.cause;
  return cause?.message && cause.message !== message
    ? `${message} (${cause.code ?? cause.message})`
    : message;
};

async function receive(
  options: DownloadOptions,
  response: Response,
  startOffset: number,
  io: { arm: () => void; failure: (error: unknown) => string; partial: string },
): Promise<DownloadResult> {
  const { url, destination, onEvent } = options;
  const { partial } = io;
  let offset = startOffset;
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
  const maxBytes = options.maxBytes ?? defaultMaxDownloadBytes;
  const limit = Math.min(maxBytes, options.size ?? Number.POSITIVE_INFINITY);
  const tooLarge = (bytes: number, how: string) =>
    new DownloadError({
      url,
      reason:
        options.size !== undefined && options.size <= maxBytes
          ? `expected ${options.size} bytes (the known size); ${how} ${bytes} bytes, so it is refused`
          : `${how} ${bytes} bytes, more than the limit (maxBytes ${maxBytes}); refusing it`,
      status: response.status,
    });
  if (totalBytes !== undefined && totalBytes > limit) {
    await response.body?.cancel();
    throw tooLarge(totalBytes, 'the server announces');
  }
  const resumedFrom = offset;
  onEvent?.({ type: 'download-start', url, file: destination, totalBytes, resumedFrom });

  const handle = await open(partial, offset > 0 ? 'a' : 'w');
  let received = offset;
  let lastEvent = 0;
  const interval = options.progressIntervalMs ?? 200;
  try {
    if (response.body) {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
        io.arm();
        if (received + chunk.byteLength > limit)
          throw tooLarge(received + chunk.byteLength, 'the body has at least');
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
    if (DownloadError.isInstance(error)) {
      await rm(partial, { force: true });
      throw error;
    }
    throw new DownloadError({
      url,
      reason: `interrupted after ${received} bytes (${io.failure(error)}); run again to resume`,
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
