import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// The page's data, served by the Vite dev server and `vite preview` (a plugin in vite.config.ts), read
// by path and never copied into the repo: the base model directory and a directory of task diffs.
//   GET /data/catalog.json       the base's files (name, bytes) and the diffs (task, file, bytes)
//   GET /data/base/<file>        config.json, vocab.txt, model.safetensors, tokenizer(_config).json
//   GET /data/diffs/<file>       a *.diff.safetensors of the diffs directory

const repositoryRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The base model directory: $DIFFPRUNE_WEB_MODEL, else ../shared/models/bert-tiny-mlm-offline. */
export const defaultModelDirectory = () =>
  resolve(
    process.env.DIFFPRUNE_WEB_MODEL ??
      join(repositoryRoot, '..', 'shared', 'models', 'bert-tiny-mlm-offline'),
  );

/** The task diffs: $DIFFPRUNE_WEB_DIFFS, else apps/web/diffs (gitignored; `train-diffs` fills it). */
export const defaultDiffsDirectory = () =>
  resolve(process.env.DIFFPRUNE_WEB_DIFFS ?? fileURLToPath(new URL('../diffs', import.meta.url)));

export const baseFileNames = [
  'config.json',
  'vocab.txt',
  'model.safetensors',
  'tokenizer_config.json',
  'tokenizer.json',
] as const;
const diffSuffix = '.diff.safetensors';

export interface Catalog {
  base: { name: string; files: { name: string; bytes: number }[] };
  diffs: { task: string; file: string; bytes: number }[];
  /** Why the page cannot run (no base model, no diffs), with what to do. */
  problems: string[];
}

export function readCatalog(modelDirectory: string, diffsDirectory: string): Catalog {
  const problems: string[] = [];
  const files = baseFileNames
    .filter((name) => existsSync(join(modelDirectory, name)))
    .map((name) => ({ name, bytes: statSync(join(modelDirectory, name)).size }));
  for (const required of ['config.json', 'vocab.txt', 'model.safetensors'])
    if (!files.some((f) => f.name === required))
      problems.push(
        `the base model has no ${required} in ${modelDirectory}: set DIFFPRUNE_WEB_MODEL to an HF-layout BERT directory (config.json, vocab.txt, model.safetensors)`,
      );
  const diffs = existsSync(diffsDirectory)
    ? readdirSync(diffsDirectory)
        .filter((f) => f.endsWith(diffSuffix))
        .sort()
        .map((file) => ({
          task: file.slice(0, -diffSuffix.length),
          file,
          bytes: statSync(join(diffsDirectory, file)).size,
        }))
    : [];
  if (diffs.length === 0)
    problems.push(
      `no task diffs (*${diffSuffix}) in ${diffsDirectory}: run \`npx pnpm --filter @diffprune/web train-diffs\` or set DIFFPRUNE_WEB_DIFFS`,
    );
  return { base: { name: basename(modelDirectory), files }, diffs, problems };
}

type Next = () => void;

/** A connect middleware (Vite's `server.middlewares`) serving the catalog, the base and the diffs. */
export function dataMiddleware(
  modelDirectory = defaultModelDirectory(),
  diffsDirectory = defaultDiffsDirectory(),
) {
  return (request: IncomingMessage, response: ServerResponse, next: Next): void => {
    const url = new URL(request.url ?? '/', 'http://localhost');
    if (!url.pathname.startsWith('/data/')) {
      next();
      return;
    }
    const send = (status: number, type: string, body: string) => {
      response.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    if (url.pathname === '/data/catalog.json') {
      send(200, 'application/json', JSON.stringify(readCatalog(modelDirectory, diffsDirectory)));
      return;
    }
    const [, , group, encoded, ...rest] = url.pathname.split('/');
    const name = rest.length === 0 && encoded ? decodeURIComponent(encoded) : '';
    const plainName = name !== '' && !/[\\/]/.test(name) && !name.includes('..');
    const path =
      plainName && group === 'base' && (baseFileNames as readonly string[]).includes(name)
        ? join(modelDirectory, name)
        : plainName && group === 'diffs' && name.endsWith(diffSuffix)
          ? join(diffsDirectory, name)
          : undefined;
    if (!path || !existsSync(path)) {
      send(404, 'text/plain', `not found: ${url.pathname}\n`);
      return;
    }
    response.writeHead(200, {
      'content-type': 'application/octet-stream',
      'content-length': String(statSync(path).size),
      'cache-control': 'no-store',
    });
    createReadStream(path).pipe(response);
  };
}
