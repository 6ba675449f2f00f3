// The Node entry: the browser entry plus what needs Node (files, downloads to a cache, atomic writes).

export { temporaryPathFor, writeDirectoryAtomic, writeFileAtomic } from './atomic.js';
export * from './browser.js';
export type { DownloadOptions, DownloadResult } from './download.js';
export {
  defaultCacheDirectory,
  defaultMaxDownloadBytes,
  defaultReadTimeoutMs,
  downloadFile,
  fetchWithRedirects,
} from './download.js';
export {
  checkShardFileName,
  parseJsonFile,
  readJsonFileSync,
  readLocalFile,
  readShardIndex,
  shardPaths,
  typedFileError,
} from './files.js';
export { readSafetensors, writeSafetensors } from './safetensors-files.js';
