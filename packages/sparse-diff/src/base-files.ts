import { BaseFilesMismatchError } from './errors.js';
import { createSha256 } from './sha256.js';
import type { BaseFilesHashes, SparseDiff } from './types.js';

/**
 * The config.json fields that change a base's function, over every family diffprune loads (BERT,
 * DistilBERT, RoBERTa, ELECTRA): sizes, activation, layer norm eps, positions, padding id. Dropout,
 * labels, architectures, dtype and version fields are left out (they do not change θ's forward).
 */
export const functionalConfigFields = [
  'activation',
  'dim',
  'embedding_size',
  'hidden_act',
  'hidden_dim',
  'hidden_size',
  'intermediate_size',
  'layer_norm_eps',
  'max_position_embeddings',
  'model_type',
  'n_heads',
  'n_layers',
  'num_attention_heads',
  'num_hidden_layers',
  'pad_token_id',
  'position_embedding_type',
  'sinusoidal_pos_embds',
  'type_vocab_size',
  'vocab_size',
] as const;

/** The tokenizer files a family may load (WordPiece: tokenizer.json or vocab.txt; BPE: tokenizer.json, vocab.json + merges.txt). */
export const tokenizerFiles = ['merges.txt', 'tokenizer.json', 'vocab.json', 'vocab.txt'] as const;

/** tokenizer_config.json settings that change the ids a text gets. */
export const tokenizerSettings = [
  'add_prefix_space',
  'do_lower_case',
  'strip_accents',
  'tokenize_chinese_chars',
] as const;

const sha256 = (data: string | Uint8Array) =>
  createSha256()
    .update(typeof data === 'string' ? new TextEncoder().encode(data) : data)
    .hex();

/** JSON with object keys sorted at every level (one spelling per value). */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

const pick = (json: unknown, keys: readonly string[]): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return out;
  for (const key of keys) if (Object.hasOwn(json, key)) out[key] = (json as Record<string, unknown>)[key];
  return out;
};

/** sha256 (hex) of the canonical JSON of a parsed config.json's `functionalConfigFields` (absent ones omitted). */
export function fingerprintConfig(json: unknown): string {
  return sha256(canonicalJson(pick(json, functionalConfigFields)));
}

/** A base's config.json (parsed), its present `tokenizerFiles` (bytes by name) and tokenizer_config.json (parsed, if any). */
export interface BaseFileContents {
  config: unknown;
  tokenizerFiles: Readonly<Record<string, Uint8Array>>;
  tokenizerConfig?: unknown;
}

/**
 * The provenance hashes of a base beside its weights' fingerprint: its config.json
 * (`fingerprintConfig`) and its tokenizer (sha256 of the canonical JSON of each present
 * `tokenizerFiles` entry's sha256 by name, plus tokenizer_config.json's `tokenizerSettings`).
 * Spelled out in docs/format.md §5. `fingerprintBaseFiles(directory)` (Node entry) reads them from disk.
 */
export function fingerprintBaseFileContents(contents: BaseFileContents): BaseFilesHashes {
  const files: Record<string, string> = {};
  for (const name of tokenizerFiles) {
    const bytes = contents.tokenizerFiles[name];
    if (bytes !== undefined) files[name] = sha256(bytes);
  }
  const settings =
    contents.tokenizerConfig === undefined ? {} : pick(contents.tokenizerConfig, tokenizerSettings);
  return {
    config: fingerprintConfig(contents.config),
    tokenizer: sha256(canonicalJson({ files, settings })),
  };
}

/**
 * Refuses a base whose config or tokenizer differs from the one the diff was made with
 * (`BaseFilesMismatchError` naming which). A diff without these hashes (written before format 1.2)
 * or no `found` passes: the weights' fingerprint is then the only check.
 */
export function checkBaseFiles(diff: SparseDiff, found: BaseFilesHashes | undefined, context: string): void {
  const expected = diff.provenance.baseFiles;
  if (!expected || !found) return;
  for (const which of ['config', 'tokenizer'] as const)
    if (expected[which] !== found[which])
      throw new BaseFilesMismatchError({ which, expected: expected[which], found: found[which], context });
}
