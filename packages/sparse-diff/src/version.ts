/** The name and version written into every diff's metadata (kept equal to package.json by a test). */
export const libraryName = '@diffprune/sparse-diff';
export const libraryVersion = '0.1.0';

/** The format identifier and the (major) version this library writes and reads. */
export const formatName = 'diffprune.sparse-diff';
export const formatVersion = 1;
/**
 * The minor version this library writes (`__metadata__.format_minor_version`): 1 adds `data_sha256`,
 * 2 the optional `base_config_sha256` and `base_tokenizer_sha256`.
 * Minor versions only add keys that older readers ignore, so `format_version` stays "1".
 */
export const formatMinorVersion = 2;
