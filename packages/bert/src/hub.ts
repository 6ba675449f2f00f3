import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DownloadError,
  defaultCacheDirectory,
  defaultReadTimeoutMs,
  downloadFile,
  type EventListener,
  InvalidArgumentError,
  MissingResourceError,
  type ModelFiles,
  type ModelSource,
  readShardIndex,
  writeFileAtomic,
} from '@diffprune/core';

/**
 * HuggingFace hub downloads into a local cache, built on core's `downloadFile` (HTTP Range resume,
 * sha256 + size check, progress events). `@huggingface/hub`'s `downloadFileToCacheDir` was
 * considered: it takes a custom hub URL, but has no byte-range resume and no progress callback,
 * which are the point here.
 *
 * Layout, as the hub's own cache: `{cache}/hub/models--{org}--{name}/refs/{revision}` holds the
 * commit a branch or tag resolved to; `snapshots/{commit}/{file}` the files of that commit. The
 * first request resolves the revision to a commit (`X-Repo-Commit`); every later file is fetched at
 * that commit, so a snapshot is never a mix of two commits. LFS files are checked against the
 * sha256 the hub sends as `X-Linked-Etag` (and `X-Linked-Size`).
 *
 * A cached file is reused only when it matches what the hub says now: the LFS sha256, else the
 * git blob sha1 of a plain file's ETag, else (a mirror that sends neither) its size. Without
 * `X-Repo-Commit` (some mirrors) the snapshot is named after the revision and `refs/{revision}`
 * still records it, so offline use finds it.
 */

export const defaultHubEndpoint = 'https://huggingface.co';

export interface HubOptions {
  /** Branch, tag or commit; default `main`. */
  revision?: string;
  /** Cache root; default `defaultCacheDirectory()` (`$DIFFPRUNE_CACHE`, else `~/.cache/diffprune`). */
  cacheDirectory?: string;
  /** Use the cache only (also when `HF_HUB_OFFLINE=1`). */
  offline?: boolean;
  /** Default `$HF_ENDPOINT`, else https://huggingface.co. */
  endpoint?: string;
  onEvent?: EventListener;
  signal?: AbortSignal;
  /** Give up on a request that sends nothing for this long (ms); default 30 s (see `downloadFile`). */
  readTimeoutMs?: number;
  /** The files the model family needs besides the weights; default `bertModelFiles`. */
  files?: ModelFiles;
}

/** What a file's HEAD says. */
interface FileMetadata {
  commit: string | undefined;
  sha256: string | undefined;
  /** The git blob sha1 a plain (non-LFS) file's ETag carries. */
  gitSha1: string | undefined;
  size: number | undefined;
}

const hubIdPattern = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;
const commitPattern = /^[0-9a-f]{40}$/;
/** A revision: branch, tag or commit, possibly with `/` (e.g. `refs/pr/1`), never `..`, `\\` or absolute. */
const revisionSegment = /^[A-Za-z0-9_][\w.+-]*$/;

/** Refuses revisions that could reach outside the cache (`../x`, absolute, backslashes, control characters). */
export function checkRevision(revision: unknown, argument = 'revision'): string {
  if (
    typeof revision !== 'string' ||
    revision.length === 0 ||
    revision.length > 255 ||
    revision.includes('..') ||
    !revision.split('/').every((segment) => revisionSegment.test(segment))
  )
    throw new InvalidArgumentError({
      argument,
      expected: 'a branch, tag or commit (letters, digits, _ . + -, segments separated by /, no "..")',
      found: revision,
    });
  return revision;
}
/**
 * Files a BERT model needs besides the weights (`model.safetensors` or an index with shards): its
 * WordPiece vocabulary as vocab.txt or tokenizer.json (transformers ≥ 5 saves only the latter).
 */
export const bertModelFiles: ModelFiles = {
  required: ['config.json'],
  oneOf: [['vocab.txt', 'tokenizer.json']],
  optional: ['tokenizer_config.json', 'special_tokens_map.json'],
};

/** True when `source` looks like a hub id (`name` or `org/name`) rather than a path. */
export function isHubId(source: string): boolean {
  return hubIdPattern.test(source) && !source.includes('..');
}

/** The cache directory of one hub model. */
export function hubModelCacheDirectory(id: string, cacheDirectory = defaultCacheDirectory()): string {
  return join(cacheDirectory, 'hub', `models--${id.replace('/', '--')}`);
}

const hubUrl = (endpoint: string, id: string, revision: string, file: string) =>
  `${endpoint.replace(/\/+$/, '')}/${id}/resolve/${encodeURIComponent(revision)}/${file}`;

const etagSha256 = (value: string | null): string | undefined => {
  if (!value) return undefined;
  const tag = value.replace(/^W\//, '').replace(/"/g, '');
  return /^[0-9a-f]{64}$/i.test(tag) ? tag.toLowerCase() : undefined;
};

const fileSize = (path: string) => (existsSync(path) ? statSync(path).size : -1);

/**
 * Finds a hub model in the cache, downloading what is missing unless offline; returns the local
 * snapshot directory and the commit it holds. Offline, a missing file is a `MissingResourceError`
 * naming the file and how to fetch it.
 */
export async function resolveHubModel(id: string, options: HubOptions = {}): Promise<ModelSource> {
  if (!isHubId(id)) {
    throw new MissingResourceError({
      resource: id,
      hint: 'It is neither a local directory nor a hub id such as bert-base-uncased or google/bert_uncased_L-2_H-128_A-2',
    });
  }
  const revision = checkRevision(options.revision ?? 'main');
  const endpoint = options.endpoint ?? process.env.HF_ENDPOINT ?? defaultHubEndpoint;
  const repository = hubModelCacheDirectory(id, options.cacheDirectory);
  const offline =
    options.offline ?? ['1', 'true', 'yes'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
  const files = options.files ?? bertModelFiles;
  if (offline) return cachedSnapshot(id, revision, repository, endpoint, files);
  try {
    return await downloadSnapshot(id, revision, repository, endpoint, { ...options, files });
  } catch (error) {
    // Unreachable network (no HTTP status): fall back to a complete cached snapshot, if any.
    if (
      DownloadError.isInstance(error) &&
      (error as DownloadError).status === undefined &&
      !options.signal?.aborted
    ) {
      try {
        const cached = await cachedSnapshot(id, revision, repository, endpoint, files);
        options.onEvent?.({
          type: 'warning-raise',
          message: `${endpoint} is unreachable (${(error as Error).message}); using the cached ${id}@${cached.revision}`,
        });
        return cached;
      } catch {
        throw error;
      }
    }
    throw error;
  }
}

const offlineHint = (id: string, revision: string, url: string) =>
  `It is not in the cache and offline mode is on. Run once online (without --offline / HF_HUB_OFFLINE) to download ${id}@${revision} into the cache, or fetch ${url} yourself and pass the model directory instead`;

async function cachedSnapshot(
  id: string,
  revision: string,
  repository: string,
  endpoint: string,
  files: ModelFiles,
): Promise<ModelSource> {
  let commit = revision;
  if (!commitPattern.test(revision)) {
    const ref = join(repository, 'refs', revision);
    if (!existsSync(ref)) {
      throw new MissingResourceError({
        resource: `${id}@${revision}: config.json`,
        hint: offlineHint(id, revision, hubUrl(endpoint, id, revision, 'config.json')),
      });
    }
    commit = checkRevision((await readFile(ref, 'utf8')).trim(), `the commit in ${ref}`);
  }
  const directory = join(repository, 'snapshots', commit);
  const needed: string[] = [...files.required];
  if (existsSync(join(directory, 'model.safetensors'))) needed.push('model.safetensors');
  else if (existsSync(join(directory, 'model.safetensors.index.json'))) {
    needed.push(...(await readShardIndex(join(directory, 'model.safetensors.index.json'))));
  } else needed.push('model.safetensors');
  for (const file of needed) {
    if (!existsSync(join(directory, file))) {
      throw new MissingResourceError({
        resource: `${id}@${revision}: ${file} (looked in ${directory})`,
        hint: offlineHint(id, revision, hubUrl(endpoint, id, commit, file)),
      });
    }
  }
  for (const group of files.oneOf) {
    if (!group.some((file) => existsSync(join(directory, file)))) {
      throw new MissingResourceError({
        resource: `${id}@${revision}: ${group.join(' or ')} (looked in ${directory})`,
        hint: offlineHint(id, revision, hubUrl(endpoint, id, commit, group[0]!)),
      });
    }
  }
  return { id, revision: commit, directory };
}

async function headRequest(
  url: string,
  signal: AbortSignal | undefined,
  timeoutMs: number,
): Promise<Response> {
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    // Not following redirects: the hub answers LFS files with a redirect to its CDN, and the
    // redirect itself carries X-Linked-Etag / X-Linked-Size.
    const response = await fetch(url, {
      method: 'HEAD',
      redirect: 'manual',
      signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
    });
    await response.body?.cancel();
    return response;
  } catch (error) {
    const reason = timeout.aborted
      ? `no answer from the server for ${timeoutMs} ms (read timeout)`
      : (error as Error).message;
    throw new DownloadError({ url, reason, cause: error });
  }
}

const hashFile = async (path: string, algorithm: 'sha256' | 'sha1', prefix?: string): Promise<string> => {
  const hash = createHash(algorithm);
  if (prefix) hash.update(prefix);
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
};

/** Does a cached file match the hub's record? sha256 (LFS), else git blob sha1 (ETag), else size. */
async function cachedFileMatches(path: string, metadata: FileMetadata): Promise<boolean> {
  const size = fileSize(path);
  if (metadata.size !== undefined && size !== metadata.size) return false;
  if (metadata.sha256) return (await hashFile(path, 'sha256')) === metadata.sha256;
  if (metadata.gitSha1) return (await hashFile(path, 'sha1', `blob ${size}\0`)) === metadata.gitSha1;
  return true;
}

const metadataOf = (response: Response): FileMetadata => {
  const linkedSize = response.headers.get('x-linked-size');
  const length =
    response.status >= 300 && response.status < 400 ? null : response.headers.get('content-length');
  const size = Number(linkedSize ?? length ?? Number.NaN);
  const linked = etagSha256(response.headers.get('x-linked-etag'));
  const etag = (response.headers.get('etag') ?? '').replace(/^W\//, '').replace(/"/g, '').toLowerCase();
  return {
    commit: response.headers.get('x-repo-commit') ?? undefined,
    sha256: linked ?? etagSha256(etag),
    gitSha1: !linked && /^[0-9a-f]{40}$/.test(etag) ? etag : undefined,
    size: Number.isFinite(size) ? size : undefined,
  };
};

async function downloadSnapshot(
  id: string,
  revision: string,
  repository: string,
  endpoint: string,
  options: HubOptions & { files: ModelFiles },
): Promise<ModelSource> {
  const { signal, onEvent, files } = options;
  const timeoutMs = options.readTimeoutMs ?? defaultReadTimeoutMs;
  const head = (url: string) => headRequest(url, signal, timeoutMs);
  // 1. Resolve the revision to a commit with config.json's HEAD.
  const configUrl = hubUrl(endpoint, id, revision, 'config.json');
  const configHead = await head(configUrl);
  if (configHead.status === 401 || configHead.status === 404) {
    const code = configHead.headers.get('x-error-code');
    const what =
      code === 'RevisionNotFound'
        ? `revision ${JSON.stringify(revision)} of ${id} was not found`
        : code === 'EntryNotFound'
          ? `${id}@${revision} has no config.json`
          : `model ${id} was not found (or needs authentication), and it is not a local directory`;
    throw new DownloadError({
      url: configUrl,
      reason: `HTTP ${configHead.status}: ${what} on ${endpoint}`,
      status: configHead.status,
    });
  }
  if (!configHead.ok && !(configHead.status >= 300 && configHead.status < 400)) {
    throw new DownloadError({
      url: configUrl,
      reason: `HTTP ${configHead.status} ${configHead.statusText}`,
      status: configHead.status,
    });
  }
  const commit = metadataOf(configHead).commit ?? revision;
  if (!/^[\w.-]+$/.test(commit) || commit.includes('..')) {
    throw new InvalidArgumentError({
      argument: 'X-Repo-Commit',
      expected: 'a commit id',
      found: commit,
      context: configUrl,
    });
  }
  const directory = join(repository, 'snapshots', commit);

  const fetchFile = async (file: string, required: boolean): Promise<boolean> => {
    const destination = join(directory, file);
    const url = hubUrl(endpoint, id, commit, file);
    const response = file === 'config.json' ? configHead : await head(url);
    if (response.status === 404) {
      if (required) {
        throw new DownloadError({ url, reason: `HTTP 404: ${id}@${commit} has no ${file}`, status: 404 });
      }
      return false;
    }
    if (!response.ok && !(response.status >= 300 && response.status < 400)) {
      throw new DownloadError({
        url,
        reason: `HTTP ${response.status} ${response.statusText}`,
        status: response.status,
      });
    }
    const metadata = metadataOf(response);
    if (existsSync(destination) && (await cachedFileMatches(destination, metadata))) return true;
    await downloadFile({
      url,
      destination,
      ...(metadata.sha256 ? { sha256: metadata.sha256 } : {}),
      ...(metadata.size !== undefined ? { size: metadata.size } : {}),
      ...(onEvent ? { onEvent } : {}),
      ...(signal ? { signal } : {}),
      readTimeoutMs: timeoutMs,
    });
    return true;
  };

  await fetchFile('config.json', true);
  if (!(await fetchFile('model.safetensors', false))) {
    if (!(await fetchFile('model.safetensors.index.json', false))) {
      const pickled = (await head(hubUrl(endpoint, id, commit, 'pytorch_model.bin'))).status !== 404;
      throw new MissingResourceError({
        resource: `${id}@${commit}: model.safetensors`,
        hint: pickled
          ? `${endpoint} has only pytorch_model.bin for this revision, and diffprune reads safetensors checkpoints only. Use a revision that has model.safetensors (the hub's safetensors conversion pull requests are revisions such as refs/pr/1), or convert it (python: AutoModel.from_pretrained("${id}").save_pretrained(DIR, safe_serialization=True)) and pass DIR`
          : `${endpoint} has neither model.safetensors nor model.safetensors.index.json for this model; only safetensors checkpoints are read`,
      });
    }
    for (const shard of await readShardIndex(join(directory, 'model.safetensors.index.json')))
      await fetchFile(shard, true);
  }
  for (const file of files.required) if (file !== 'config.json') await fetchFile(file, true);
  for (const group of files.oneOf) {
    let found = false;
    for (const file of group) found = (await fetchFile(file, false)) || found;
    if (!found) {
      const url = hubUrl(endpoint, id, commit, group[0]!);
      throw new DownloadError({
        url,
        reason: `HTTP 404: ${id}@${commit} has none of ${group.join(', ')}`,
        status: 404,
      });
    }
  }
  for (const file of files.optional) await fetchFile(file, false);
  // Always for a branch or tag, also when the server sent no X-Repo-Commit (then commit = revision),
  // so offline use finds the snapshot through refs/{revision}.
  if (!commitPattern.test(revision)) await writeFileAtomic(join(repository, 'refs', revision), commit);
  return { id, revision: commit, directory };
}
