import { diffStats } from './stats.js';
import type { SparseDiff } from './types.js';

/**
 * Text safe to show in a terminal: C0/C1 control characters (escape sequences, carriage returns,
 * bells), DEL, line/paragraph separators and bidirectional overrides become `\u{…}` escapes, and
 * backslashes are doubled so an escape cannot be forged. A hostile diff cannot rewrite the screen.
 */
export function escapeControlCharacters(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters it escapes
  return text.replace(/[\\\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) =>
    c === '\\' ? '\\\\' : `\\u{${c.codePointAt(0)!.toString(16)}}`,
  );
}

/**
 * A human-readable summary of a diff (provenance and density), every field from the file escaped
 * with `escapeControlCharacters`. Lines without a trailing newline.
 */
export function describeDiff(diff: SparseDiff): string[] {
  const p = diff.provenance;
  const e = escapeControlCharacters;
  const stats = diffStats(diff);
  let settings = JSON.stringify(p.settings);
  if (settings.length > 500) settings = `${settings.slice(0, 500)}…`;
  return [
    `format version: ${diff.formatVersion}`,
    `task: ${e(p.task)}`,
    `base: ${e(p.baseModel.id)}@${e(p.baseModel.revision)} (fingerprint ${e(p.baseFingerprint)})`,
    `method: ${e(p.method)} ${e(settings)}`,
    `created: ${e(p.createdAt)} by ${e(p.library)} ${e(p.libraryVersion)}`,
    `tensors: ${stats.tensors.length}; stored entries ${stats.nnz} of ${stats.entries} (${(stats.density * 100).toFixed(3)} %)`,
  ];
}
