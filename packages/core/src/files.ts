import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { FormatError, InvalidArgumentError, MissingResourceError } from './errors.js';

/**
 * Reads a whole file; a missing file is a `MissingResourceError` and a directory (or anything that
 * is not a regular file) an `InvalidArgumentError`, both naming the path, instead of raw Node errors.
 */
export async function readLocalFile(
  path: string,
  options: { what?: string; hint?: string } = {},
): Promise<Buffer> {
  const what = options.what ?? 'file';
  try {
    return await readFile(path);
  } catch (error) {
    throw typedFileError(error, path, what, options.hint);
  }
}

/** Parses JSON read from `path`: malformed text is a `FormatError` naming the file, not a SyntaxError. */
export function parseJsonFile(text: string, path: string, what?: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FormatError({
      path,
      ...(what ? { what } : {}),
      expected: 'valid JSON',
      found: (error as Error).message,
    });
  }
}

/** Reads and parses a small JSON file synchronously, with `readLocalFile`'s typed errors and `parseJsonFile`'s. */
export function readJsonFileSync(path: string, what = 'file'): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw typedFileError(error, path, what);
  }
  return parseJsonFile(text, path, what);
}

/** The typed error for a failed open or read of `path` (ENOENT, EISDIR, EACCES, …); other errors as they are. */
export function typedFileError(error: unknown, path: string, what = 'file', hint?: string): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new MissingResourceError({ resource: `${what} ${path}`, ...(hint ? { hint } : {}), cause: error });
  if (code === 'EISDIR')
    return new InvalidArgumentError({
      argument: what,
      expected: 'a file (give the file inside the directory)',
      found: `the directory ${path}`,
    });
  if (code === 'EACCES' || code === 'EPERM')
    return new InvalidArgumentError({
      argument: what,
      expected: 'a readable file',
      found: `${path} (permission denied)`,
    });
  return error;
}

/**
 * Checks one shard file name of a `model.safetensors.index.json`: a plain string naming a file in the
 * index's own directory (no separators, no `..`, not absolute, not hidden, no control characters).
 */
export function checkShardFileName(file: unknown, where: { path: string; tensor: string }): string {
  const bad = (found: string): never => {
    throw new FormatError({
      path: where.path,
      what: `weight_map[${JSON.stringify(where.tensor)}]`,
      expected: 'the name of a .safetensors file in the same directory (no path separators, no "..")',
      found,
    });
  };
  if (typeof file !== 'string') return bad(`${typeof file} ${JSON.stringify(file) ?? String(file)}`);
  if (
    file === '' ||
    file.length > 255 ||
    file.includes('/') ||
    file.includes('\\') ||
    file.startsWith('.') ||
    isAbsolute(file) ||
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses
    /[\u0000-\u001f\u007f:]/.test(file)
  )
    return bad(JSON.stringify(file));
  const directory = resolve(where.path, '..');
  const rel = relative(directory, resolve(directory, file));
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) return bad(JSON.stringify(file));
  return file;
}

/**
 * The shard files of a `model.safetensors.index.json` (`weight_map`: tensor name → shard file), in
 * first-use order, each checked by `checkShardFileName`. Errors name the index file.
 */
export async function readShardIndex(indexPath: string): Promise<string[]> {
  const text = (await readLocalFile(indexPath, { what: 'shard index' })).toString('utf8');
  let index: unknown;
  try {
    index = JSON.parse(text);
  } catch (error) {
    throw new FormatError({ path: indexPath, expected: 'valid JSON', found: (error as Error).message });
  }
  const map = (index as { weight_map?: unknown } | null)?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw new FormatError({
      path: indexPath,
      what: 'weight_map',
      expected: 'an object of tensor name → file',
      found: Array.isArray(map) ? 'an array' : String(map),
    });
  }
  const files = new Set<string>();
  for (const [tensor, file] of Object.entries(map as Record<string, unknown>))
    files.add(checkShardFileName(file, { path: indexPath, tensor }));
  return [...files];
}

/** The shard paths of an index, joined to its directory. */
export async function shardPaths(
  directory: string,
  indexFile = 'model.safetensors.index.json',
): Promise<string[]> {
  return (await readShardIndex(join(directory, indexFile))).map((file) => join(directory, file));
}
