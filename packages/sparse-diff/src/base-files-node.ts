import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, readLocalFile } from '@diffprune/core';
import { fingerprintBaseFileContents, tokenizerFiles } from './base-files.js';
import type { BaseFilesHashes } from './types.js';

// Node only: reads a base model directory's config and tokenizer files for `fingerprintBaseFileContents`.

async function readJson(path: string): Promise<unknown> {
  const text = (await readLocalFile(path, { what: 'model file' })).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new FormatError({ path, expected: 'valid JSON', found: (error as Error).message });
  }
}

/** `fingerprintBaseFileContents` of a model directory (config.json, the tokenizer files present, tokenizer_config.json). */
export async function fingerprintBaseFiles(directory: string): Promise<BaseFilesHashes> {
  const config = await readJson(join(directory, 'config.json'));
  const files: Record<string, Uint8Array> = {};
  for (const name of tokenizerFiles) {
    const path = join(directory, name);
    if (existsSync(path)) files[name] = await readLocalFile(path, { what: 'tokenizer file' });
  }
  const settingsPath = join(directory, 'tokenizer_config.json');
  const tokenizerConfig = existsSync(settingsPath) ? await readJson(settingsPath) : undefined;
  return fingerprintBaseFileContents({ config, tokenizerFiles: files, tokenizerConfig });
}
