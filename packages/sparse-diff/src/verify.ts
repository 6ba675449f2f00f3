import { checkBaseFiles } from './base-files.js';
import { own, sameShape } from './checks.js';
import { checkDiff } from './file.js';
import { fingerprintTensorArrays } from './fingerprint.js';
import type { BaseFilesHashes, SparseDiff, TensorArrays } from './types.js';

export interface VerifyDiffOptions {
  /** The expected base fingerprint (e.g. from `fingerprintCheckpoint(dir)`). */
  baseFingerprint?: string;
  /** The base parameters: checks names and shapes, and (without `baseFingerprint`) their F32 fingerprint. */
  base?: TensorArrays;
  /** The base's config and tokenizer hashes (`fingerprintBaseFiles(dir)`), checked when the diff records them. */
  baseFiles?: BaseFilesHashes;
}

export interface VerifyDiffResult {
  /** True when the fingerprint matches and there are no problems. */
  ok: boolean;
  /** The diff's recorded base fingerprint. */
  expectedFingerprint: string;
  /** The fingerprint of the base given (null when only names and shapes were checked). */
  foundFingerprint: string | null;
  fingerprintMatches: boolean | null;
  /** Each structural problem, in words. */
  problems: string[];
}

/**
 * Does the diff belong to this base? Checks the fingerprint and the structure: the diff's own
 * consistency, and (given `base`) that every sparse or replaced tensor exists with its shape and
 * that added tensors do not.
 */
export function verifyDiff(diff: SparseDiff, options: VerifyDiffOptions): VerifyDiffResult {
  const problems: string[] = [];
  try {
    checkDiff(diff);
  } catch (error) {
    problems.push((error as Error).message);
  }
  const expected = diff.provenance.baseFingerprint;
  const found = options.baseFingerprint ?? (options.base ? fingerprintTensorArrays(options.base) : null);
  if (found !== null && found !== expected)
    problems.push(
      `base fingerprint: expected ${expected}; found ${found} (the diff was made for another base)`,
    );
  try {
    checkBaseFiles(diff, options.baseFiles, 'base');
  } catch (error) {
    problems.push((error as Error).message);
  }
  if (options.base) {
    for (const t of diff.tensors) {
      const b = own(options.base, t.name);
      if (t.kind === 'add') {
        if (b) problems.push(`${t.name}: expected absent from the base (the diff adds it); found it present`);
      } else if (!b) {
        problems.push(
          `${t.name}: expected in the base with shape [${t.shape.join(', ')}]; found no such tensor`,
        );
      } else if (!sameShape(b.shape, t.shape)) {
        problems.push(`${t.name}: expected shape [${t.shape.join(', ')}]; found [${b.shape.join(', ')}]`);
      }
    }
  }
  if (found === null && !options.base)
    problems.push('nothing to verify against: give baseFingerprint or base');
  return {
    ok: problems.length === 0,
    expectedFingerprint: expected,
    foundFingerprint: found,
    fingerprintMatches: found === null ? null : found === expected,
    problems,
  };
}
