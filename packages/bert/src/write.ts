import { existsSync } from 'node:fs';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  fromFloat32,
  InvalidArgumentError,
  type ParameterMap,
  type SafetensorsTensor,
  serializeSafetensors,
  writeDirectoryAtomic,
} from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { type BertConfig, bertConfigToJson } from './config.js';

/** A tensor as plain float32 values (the exchange format with sparse-diff). */
export interface Float32Tensor {
  shape: readonly number[];
  values: Float32Array;
}

/** The tokenizer files copied from a base model directory when they exist. */
export const tokenizerFileNames = [
  'vocab.txt',
  'tokenizer_config.json',
  'tokenizer.json',
  'special_tokens_map.json',
] as const;

export interface WriteBertCheckpointOptions {
  /** A parsed config (written with HF names) or a config.json object as is. */
  config: BertConfig | Record<string, unknown>;
  /** Tensors keyed by HF names, in the order to write them. */
  tensors: Record<string, Float32Tensor>;
  /** Sets `num_labels`/`id2label` when `config` is a parsed config. */
  head?: { numLabels: number };
  /** vocab.txt contents (one token per line), or … */
  vocabulary?: readonly string[];
  /** … a model directory whose tokenizer files (vocab.txt, tokenizer_config.json, …) are copied. */
  tokenizerFrom?: string;
  /** Storage dtype of model.safetensors; default F32. */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** safetensors `__metadata__` (`format: pt` is always set, as HF writes it). */
  metadata?: Record<string, string>;
}

const isParsedConfig = (config: BertConfig | Record<string, unknown>): config is BertConfig =>
  (config as BertConfig).raw !== undefined && typeof (config as BertConfig).hiddenSize === 'number';

/**
 * Writes an HF-layout BERT directory — config.json, model.safetensors and the tokenizer files —
 * atomically: the directory appears complete or not at all (an existing one is replaced).
 */
export async function writeBertCheckpoint(
  directory: string,
  options: WriteBertCheckpointOptions,
): Promise<void> {
  const dtype = options.dtype ?? 'F32';
  const tensors: SafetensorsTensor[] = Object.entries(options.tensors).map(([name, tensor]) => {
    const size = tensor.shape.reduce((a, b) => a * b, 1);
    if (tensor.values.length !== size) {
      throw new InvalidArgumentError({
        argument: `tensors[${JSON.stringify(name)}].values`,
        expected: `${size} values for shape [${tensor.shape.join(', ')}]`,
        found: `${tensor.values.length} values`,
        context: 'writeBertCheckpoint',
      });
    }
    return { name, dtype, shape: [...tensor.shape], data: fromFloat32(tensor.values, dtype) };
  });
  const config = isParsedConfig(options.config)
    ? bertConfigToJson(options.config, options.head)
    : options.config;
  await writeDirectoryAtomic(directory, async (temporary) => {
    await writeFile(join(temporary, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
    const chunks = serializeSafetensors(tensors, { format: 'pt', ...options.metadata });
    await writeFile(join(temporary, 'model.safetensors'), Buffer.concat(chunks));
    if (options.tokenizerFrom) {
      for (const file of tokenizerFileNames) {
        const source = join(options.tokenizerFrom, file);
        if (existsSync(source)) await copyFile(source, join(temporary, file));
      }
    }
    if (options.vocabulary)
      await writeFile(join(temporary, 'vocab.txt'), `${options.vocabulary.join('\n')}\n`);
  });
}

/** Reads a parameter map's values into float32 arrays (for writing or for sparse-diff). */
export async function parametersToArrays(params: ParameterMap): Promise<Record<string, Float32Tensor>> {
  const out: Record<string, Float32Tensor> = {};
  for (const [name, tensor] of Object.entries(params)) {
    const float = tensor.dtype === 'float32' ? tensor : tf.cast(tensor, 'float32');
    const values = (await float.data()) as Float32Array;
    if (float !== tensor) float.dispose();
    out[name] = { shape: [...tensor.shape], values };
  }
  return out;
}

/** Float32 arrays to a parameter map of tensors (the caller disposes them). */
export function arraysToParameters(arrays: Record<string, Float32Tensor>): ParameterMap {
  const params: ParameterMap = {};
  for (const [name, { shape, values }] of Object.entries(arrays))
    params[name] = tf.tensor(values, [...shape], 'float32');
  return params;
}
