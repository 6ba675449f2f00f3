import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadFile } from './download.js';
import { DownloadError } from './errors.js';
import type { DiffpruneEvent } from './events.js';

const body = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7) % 251));
const sha = createHash('sha256').update(body).digest('hex');

describe('downloadFile (against a server on 127.0.0.1)', () => {
  let server: Server;
  let base: string;
  let cutNext = false;
  let hugeRequests = 0;
  const ranges: (string | undefined)[] = [];

  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url === '/stall') {
        response.writeHead(200, { 'content-length': '1000' });
        response.write(Buffer.alloc(10)); // headers and 10 bytes, then silence
        return;
      }
      if (request.url === '/silent') return; // not even headers
      if (request.url?.startsWith('/loop')) {
        response.writeHead(302, { location: request.url === '/loop-a' ? '/loop-b' : '/loop-a' }).end();
        return;
      }
      if (request.url === '/redirect') {
        response.writeHead(301, { location: '/file.bin' }).end();
        return;
      }
      if (request.url === '/huge') {
        hugeRequests++;
        response.writeHead(200, { 'content-length': '1000000000000000' });
        response.write(Buffer.alloc(1000));
        return;
      }
      if (request.url !== '/file.bin') {
        response.writeHead(404).end();
        return;
      }
      ranges.push(request.headers.range);
      const match = /bytes=(\d+)-/.exec(request.headers.range ?? '');
      const start = match ? Number(match[1]) : 0;
      const part = body.subarray(start);
      response.writeHead(match ? 206 : 200, { 'content-length': String(part.length) });
      if (cutNext) {
        cutNext = false;
        response.write(part.subarray(0, 30_000), () => setTimeout(() => response.destroy(), 100));
        return;
      }
      response.end(part);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );

  it('times out a stalled server with a typed error, keeping the partial file to resume (issue #15)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-dl-'));
    const destination = join(dir, 'stall.bin');
    const stalled = downloadFile({ url: `${base}/stall`, destination, readTimeoutMs: 300 });
    await expect(stalled).rejects.toThrow(DownloadError);
    expect(existsSync(`${destination}.partial`)).toBe(true);
    await expect(downloadFile({ url: `${base}/stall`, destination, readTimeoutMs: 300 })).rejects.toThrow(
      /no data from the server for 300 ms \(read timeout\)/,
    );
    await expect(downloadFile({ url: `${base}/silent`, destination, readTimeoutMs: 300 })).rejects.toThrow(
      /read timeout/,
    );
  });

  it('ends a redirect loop with "too many redirects" and follows ordinary redirects (issue #15)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-dl-'));
    const loop = downloadFile({ url: `${base}/loop-a`, destination: join(dir, 'l.bin'), maxRedirects: 5 });
    await expect(loop).rejects.toThrow(DownloadError);
    await expect(downloadFile({ url: `${base}/loop-a`, destination: join(dir, 'l.bin') })).rejects.toThrow(
      /too many redirects \(more than 10/,
    );
    const result = await downloadFile({
      url: `${base}/redirect`,
      destination: join(dir, 'r.bin'),
      sha256: sha,
    });
    expect(result.bytes).toBe(body.length);
  });

  it('refuses a Content-Length above the limit or the expected size before reading the body (issue #15)', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-dl-'));
    const destination = join(dir, 'h.bin');
    await expect(downloadFile({ url: `${base}/huge`, destination })).rejects.toThrow(
      /announces 1000000000000000 bytes, more than the limit \(maxBytes 1099511627776\)/,
    );
    await expect(downloadFile({ url: `${base}/huge`, destination, size: 5000 })).rejects.toThrow(
      /expected 5000 bytes \(the known size\); the server announces 1000000000000000 bytes/,
    );
    expect(hugeRequests).toBe(2);
    expect(existsSync(`${destination}.partial`)).toBe(false);
    // The size is also enforced while streaming, for servers that announce nothing or lie.
    await expect(
      downloadFile({ url: `${base}/file.bin`, destination: join(dir, 'f.bin'), maxBytes: 50_000 }),
    ).rejects.toThrow(/more than the limit \(maxBytes 50000\)/);
  });

  it('downloads, verifies and reports progress', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-dl-'));
    const events: DiffpruneEvent[] = [];
    const result = await downloadFile({
      url: `${base}/file.bin`,
      destination: join(dir, 'f.bin'),
      sha256: sha,
      onEvent: (e) => events.push(e),
    });
    expect(result.bytes).toBe(body.length);
    expect(Buffer.compare(await readFile(join(dir, 'f.bin')), body)).toBe(0);
    expect(events[0]?.type).toBe('download-start');
    expect(events.at(-1)).toMatchObject({ type: 'download-end', bytes: body.length, sha256: sha });
  });

  it('resumes an interrupted download with a Range request', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-dl-'));
    const destination = join(dir, 'f.bin');
    cutNext = true;
    await expect(downloadFile({ url: `${base}/file.bin`, destination, sha256: sha })).rejects.toThrow(
      DownloadError,
    );
    ranges.length = 0;
    const result = await downloadFile({ url: `${base}/file.bin`, destination, sha256: sha });
    expect(ranges[0]).toMatch(/^bytes=\d+-$/);
    expect(result.resumedFrom).toBeGreaterThan(0);
    expect(Buffer.compare(await readFile(destination), body)).toBe(0);
  });

  it('rejects a body whose sha256 differs, keeping nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-dl-'));
    const destination = join(dir, 'f.bin');
    await expect(
      downloadFile({ url: `${base}/file.bin`, destination, sha256: '0'.repeat(64) }),
    ).rejects.toThrow(/sha256 mismatch/);
    await expect(readFile(destination)).rejects.toThrow();
    await expect(readFile(`${destination}.partial`)).rejects.toThrow();
  });

  it('reports HTTP errors with their status', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-dl-'));
    const error = await downloadFile({ url: `${base}/missing`, destination: join(dir, 'x') }).catch((e) => e);
    expect(error).toBeInstanceOf(DownloadError);
    expect(error.status).toBe(404);
  });

  it('restarts when the partial file is stale and the server ignores nothing', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-dl-'));
    const destination = join(dir, 'f.bin');
    await writeFile(`${destination}.partial`, body.subarray(0, 10));
    const result = await downloadFile({ url: `${base}/file.bin`, destination, sha256: sha });
    expect(result.resumedFrom).toBe(10);
    expect(Buffer.compare(await readFile(destination), body)).toBe(0);
  });
});
