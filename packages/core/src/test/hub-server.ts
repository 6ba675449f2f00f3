import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** One hub repository: a local directory per commit, branches naming commits. */
export interface LocalHubRepository {
  commits: Record<string, string>;
  refs: Record<string, string>;
  /** Serve wrong bytes for this file (the LFS ETag keeps the true sha256). */
  corrupt?: string;
  /** A mirror that sends no `X-Repo-Commit` header. */
  noCommitHeader?: boolean;
}

/**
 * An HF hub look-alike on 127.0.0.1 for tests of real downloads: `/{id}/resolve/{revision}/{file}`
 * answers with `X-Repo-Commit`; `.safetensors` files are LFS (a 302 to `/cdn/…` carrying
 * `X-Linked-Etag` = sha256 and `X-Linked-Size`); plain files carry their git blob sha1 as ETag, as
 * on the hub; missing files are 404 `EntryNotFound`; Range requests are honoured. Every request is
 * recorded in `requests` (with its Range header).
 */
export class LocalHub {
  readonly repositories = new Map<string, LocalHubRepository>();
  readonly requests: { method: string; url: string; range: string | undefined }[] = [];
  endpoint = '';
  private server: Server | undefined;

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      this.handle(request, response).catch((error: unknown) => {
        response.statusCode = 500;
        response.end(String(error));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = decodeURIComponent(request.url ?? '');
    this.requests.push({ method: request.method ?? '', url, range: request.headers.range });
    const cdn = /^\/cdn\/(.+)\/([0-9a-f]{40})\/([^/]+)$/.exec(url);
    if (cdn) return this.serve(request, response, cdn[1]!, cdn[2]!, cdn[3]!);
    const match = /^\/(.+)\/resolve\/([^/]+)\/([^/]+)$/.exec(url);
    const repository = match ? this.repositories.get(match[1]!) : undefined;
    if (!match || !repository) {
      response.writeHead(401, { 'x-error-code': 'RepoNotFound' }).end('Repository not found');
      return;
    }
    const [, id, revision, file] = match as unknown as [string, string, string, string];
    const commit = repository.refs[revision] ?? (repository.commits[revision] ? revision : undefined);
    if (!commit) {
      response.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end();
      return;
    }
    const path = join(repository.commits[commit]!, file);
    if (!existsSync(path)) {
      response.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': commit }).end();
      return;
    }
    if (file.endsWith('.safetensors')) {
      const bytes = await readFile(path);
      response
        .writeHead(302, {
          location: `/cdn/${id}/${commit}/${file}`,
          ...(repository.noCommitHeader ? {} : { 'x-repo-commit': commit }),
          'x-linked-etag': `"${createHash('sha256').update(bytes).digest('hex')}"`,
          'x-linked-size': String(bytes.byteLength),
          etag: '"git-blob-id"',
        })
        .end();
      return;
    }
    return this.serve(request, response, id, commit, file);
  }

  private async serve(
    request: IncomingMessage,
    response: ServerResponse,
    id: string,
    commit: string,
    file: string,
  ): Promise<void> {
    const repository = this.repositories.get(id)!;
    let bytes = await readFile(join(repository.commits[commit]!, file));
    if (repository.corrupt === file) {
      bytes = Buffer.from(bytes);
      bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    }
    const blob = createHash('sha1').update(`blob ${bytes.byteLength}\0`).update(bytes).digest('hex');
    const headers: Record<string, string> = {
      ...(repository.noCommitHeader ? {} : { 'x-repo-commit': commit }),
      'accept-ranges': 'bytes',
      etag: `"${blob}"`,
    };
    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    if (start >= bytes.byteLength && range) {
      response.writeHead(416, headers).end();
      return;
    }
    response.writeHead(range ? 206 : 200, {
      ...headers,
      'content-length': String(bytes.byteLength - start),
      ...(range ? { 'content-range': `bytes ${start}-${bytes.byteLength - 1}/${bytes.byteLength}` } : {}),
    });
    response.end(request.method === 'HEAD' ? undefined : bytes.subarray(start));
  }
}
