/** The name and version written into every diff's metadata (kept equal to package.json by a test). */
export const libraryName = '@diffprune/sparse-diff';
export const libraryVersion = '0.1.0';

/** The format identifier and the version this library writes and reads. */
export const formatName = 'diffprune.sparse-diff';
export const formatVersion = 1;
