import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DownloadError,
  defaultCacheDirectory,
  downloadFile,
  type EventListener,
  InvalidArgumentError,
  MissingResourceError,
  type ModelFiles,
  type ModelSource,
  writeFileAtomic,
} from '@diffprune/core';
import { readShardIndex } from './checkpoint.js';

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
  /** The files the model family needs besides the weights; default `bertModelFiles`. */
  files?: ModelFiles;
}

/** What a file's HEAD says. */
interface FileMetadata {
  commit: string | undefined;
  sha256: string | undefined;
  size: number | undefined;
}

const hubIdPattern = /^[A-Za-z0-9][\w.-]*(\/[A-Za-z0-9][\w.-]*)?$/;
const commitPattern = /^[0-9a-f]{40}$/;
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
  const revision = options.revision ?? 'main';
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
    commit = (await readFile(ref, 'utf8')).trim();
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

async function head(url: string, signal: AbortSignal | undefined): Promise<Response> {
  try {
    // Not following redirects: the hub answers LFS files with a redirect to its CDN, and the
    // redirect itself carries X-Linked-Etag / X-Linked-Size.
    const response = await fetch(url, { method: 'HEAD', redirect: 'manual', signal: signal ?? null });
    await response.body?.cancel();
    return response;
  } catch (error) {
    throw new DownloadError({ url, reason: (error as Error).message, cause: error });
  }
}

const metadataOf = (response: Response): FileMetadata => {
  const linkedSize = response.headers.get('x-linked-size');
  const length =
    response.status >= 300 && response.status < 400 ? null : response.headers.get('content-length');
  const size = Number(linkedSize ?? length ?? Number.NaN);
  return {
    commit: response.headers.get('x-repo-commit') ?? undefined,
    sha256: etagSha256(response.headers.get('x-linked-etag')) ?? etagSha256(response.headers.get('etag')),
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
  // 1. Resolve the revision to a commit with config.json's HEAD.
  const configUrl = hubUrl(endpoint, id, revision, 'config.json');
  const configHead = await head(configUrl, signal);
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
  if (!/^[\w.-]+$/.test(commit)) {
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
    const response = file === 'config.json' ? configHead : await head(url, signal);
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
    if (existsSync(destination) && (metadata.size === undefined || fileSize(destination) === metadata.size))
      return true;
    await downloadFile({
      url,
      destination,
      ...(metadata.sha256 ? { sha256: metadata.sha256 } : {}),
      ...(metadata.size !== undefined ? { size: metadata.size } : {}),
      ...(onEvent ? { onEvent } : {}),
      ...(signal ? { signal } : {}),
    });
    return true;
  };

  await fetchFile('config.json', true);
  if (!(await fetchFile('model.safetensors', false))) {
    if (!(await fetchFile('model.safetensors.index.json', false))) {
      const pickled = (await head(hubUrl(endpoint, id, commit, 'pytorch_model.bin'), signal)).status !== 404;
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
  if (revision !== commit) await writeFileAtomic(join(repository, 'refs', revision), commit);
  return { id, revision: commit, directory };
}
