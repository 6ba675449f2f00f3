import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  MissingResourceError,
  parseJsonFile,
  readLocalFile,
  readSafetensors,
  readShardIndex,
} from '@diffprune/core';
import { type CheckpointTensor, decodeCheckpointTensor } from './checkpoint.js';
import { type BertConfig, parseBertConfig } from './config.js';

// Node only: a model directory's config.json and safetensors files. Decoding and checking the
// tensors (decodeCheckpointTensor, bertParametersFromCheckpoint) is browser-safe, in checkpoint.ts.

/** Reads and validates `config.json` from a model directory. */
export async function readBertConfig(directory: string): Promise<BertConfig> {
  const path = join(directory, 'config.json');
  if (!existsSync(path)) {
    throw new MissingResourceError({
      resource: path,
      hint: 'A BERT model directory holds config.json, model.safetensors and vocab.txt (HuggingFace layout)',
    });
  }
  const text = (await readLocalFile(path, { what: 'config.json' })).toString('utf8');
  return parseBertConfig(parseJsonFile(text, path), path);
}

/**
 * The safetensors files of a model directory: `model.safetensors`, or the shards listed in
 * `model.safetensors.index.json` (`weight_map`: tensor name → shard file).
 */
export async function checkpointFiles(directory: string): Promise<string[]> {
  const single = join(directory, 'model.safetensors');
  if (existsSync(single)) return [single];
  const indexPath = join(directory, 'model.safetensors.index.json');
  if (existsSync(indexPath)) return (await readShardIndex(indexPath)).map((file) => join(directory, file));
  const hint = existsSync(join(directory, 'pytorch_model.bin'))
    ? 'Only safetensors checkpoints are read; this directory has pytorch_model.bin: convert it (e.g. with the HF "convert to safetensors" tool, or `model.save_pretrained(dir, safe_serialization=True)`)'
    : 'Expected model.safetensors or model.safetensors.index.json with its shards (HuggingFace layout)';
  throw new MissingResourceError({ resource: single, hint });
}

/**
 * The shard file names of a `model.safetensors.index.json`, in first-use order: core's
 * `readShardIndex`, the one check shared with sparse-diff (no `..`, separators, absolute paths,
 * non-string names).
 */
export { readShardIndex };

/** Reads every tensor of a model directory's checkpoint (one file or shards) as float32. */
export async function readCheckpointTensors(directory: string): Promise<CheckpointTensor[]> {
  const out: CheckpointTensor[] = [];
  for (const path of await checkpointFiles(directory)) {
    if (!existsSync(path)) {
      throw new MissingResourceError({
        resource: path,
        hint: 'a shard listed in model.safetensors.index.json is missing',
      });
    }
    const file = await readSafetensors(path);
    for (const tensor of file.tensors) out.push(decodeCheckpointTensor(tensor, path));
  }
  return out;
}
