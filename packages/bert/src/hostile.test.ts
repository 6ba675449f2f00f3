// Hostile model directories (issue #15): each test here fails on the code before the fix.
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  FormatError,
  fromFloat32,
  InvalidArgumentError,
  NonFiniteValueError,
  serializeSafetensors,
} from '@diffprune/core';
import { describe, expect, it } from 'vitest';
import { checkpointFiles, readBertConfig, readCheckpointTensors } from './checkpoint-files.js';
import { bertConfigLimits, bertParameterCount, parseBertConfig } from './config.js';
import { loadBert } from './load.js';
import { bertParameterSpecs } from './parameters.js';

const tinyConfig = {
  model_type: 'bert',
  vocab_size: 12,
  hidden_size: 8,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  intermediate_size: 16,
  max_position_embeddings: 16,
  type_vocab_size: 2,
};

/** A tiny BERT directory whose tensors are small finite values, with `poison` planted in one tensor. */
async function tinyModel(poison?: { tensor: string; index: number; value: number }) {
  const dir = await mkdtemp(join(tmpdir(), 'dp-hostile-bert-'));
  await writeFile(join(dir, 'config.json'), JSON.stringify(tinyConfig));
  const specs = bertParameterSpecs(parseBertConfig(tinyConfig), { numLabels: 2 }).filter((s) => !s.head);
  const tensors = specs.map((spec) => {
    const values = Float32Array.from(
      { length: spec.shape.reduce((a, b) => a * b, 1) },
      (_, i) => ((i % 7) - 3) * 0.01,
    );
    if (poison?.tensor === spec.name) values[poison.index] = poison.value;
    return {
      name: spec.name,
      dtype: 'F32' as const,
      shape: [...spec.shape],
      data: fromFloat32(values, 'F32'),
    };
  });
  await writeFile(join(dir, 'model.safetensors'), Buffer.concat(serializeSafetensors(tensors)));
  return dir;
}

describe('config.json is bounded before anything is allocated (issue #15)', () => {
  it('refuses huge sizes with a FormatError naming the field, instead of running out of memory', () => {
    for (const [key, value] of [
      ['num_hidden_layers', 1e7],
      ['hidden_size', 1_048_576],
      ['vocab_size', 1e9],
      ['intermediate_size', 1e8],
      ['max_position_embeddings', 1e9],
      ['num_attention_heads', 4096],
      ['type_vocab_size', 1e6],
      ['num_labels', 1e7],
    ] as const) {
      const config = {
        ...tinyConfig,
        [key]: value,
        ...(key === 'hidden_size' ? { num_attention_heads: 2 } : {}),
      };
      expect(() => parseBertConfig(config, 'c.json'), key).toThrow(FormatError);
      expect(() => parseBertConfig(config, 'c.json'), key).toThrow(
        new RegExp(
          `c.json: ${key}: expected an integer in \\[1, ${(bertConfigLimits as Record<string, number>)[key]}\\]`,
        ),
      );
    }
  });

  it('refuses sizes each within bounds whose model would still be too large', () => {
    const config = { ...tinyConfig, vocab_size: 2 ** 20, hidden_size: 16_384, num_attention_heads: 16 };
    expect(() => parseBertConfig(config)).toThrow(/sizes: expected a model of at most 2147483648 parameters/);
    expect(() => parseBertConfig({ ...tinyConfig, pad_token_id: 12 })).toThrow(
      /pad_token_id: expected an id below vocab_size/,
    );
    expect(() => parseBertConfig({ ...tinyConfig, hidden_size: 10, num_attention_heads: 4 })).toThrow(
      /a divisor of hidden_size/,
    );
  });

  it('bertParameterCount agrees with the parameter specs (a second count)', () => {
    for (const config of [
      tinyConfig,
      { model_type: 'bert' },
      { ...tinyConfig, num_hidden_layers: 3, vocab_size: 99 },
    ]) {
      const parsed = parseBertConfig(config);
      const specs = bertParameterSpecs(parsed, { numLabels: 2 }).filter((s) => !s.head);
      const fromSpecs = specs.reduce((sum, s) => sum + s.shape.reduce((a, b) => a * b, 1), 0);
      expect(bertParameterCount(parsed)).toBe(fromSpecs);
    }
  });

  it('not-JSON config.json and a directory named config.json are typed errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-hostile-bert-'));
    await writeFile(join(dir, 'config.json'), '{"hidden_size": 12,');
    await expect(readBertConfig(dir)).rejects.toThrow(FormatError);
    const other = await mkdtemp(join(tmpdir(), 'dp-hostile-bert-'));
    await mkdir(join(other, 'config.json'));
    await expect(readBertConfig(other)).rejects.toThrow(InvalidArgumentError);
  });
});

describe('base checkpoints with NaN or Infinity (issue #15)', () => {
  it('loading refuses them, naming the tensor and the position', async () => {
    const tensor = 'bert.encoder.layer.0.attention.self.query.weight';
    for (const value of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const dir = await tinyModel({ tensor, index: 5, value });
      await expect(readCheckpointTensors(dir)).rejects.toThrow(NonFiniteValueError);
      await expect(loadBert(dir, { head: { numLabels: 2 } })).rejects.toMatchObject({
        tensor,
        position: 5,
        path: join(dir, 'model.safetensors'),
      });
    }
    const clean = await tinyModel();
    const loaded = await loadBert(clean, { head: { numLabels: 2 } });
    expect(Object.keys(loaded.params)).toContain(tensor);
    for (const t of Object.values(loaded.params)) t.dispose();
  });
});

describe('shard index and directories (issue #15)', () => {
  it('the loader uses the shared shard-name check', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-hostile-bert-'));
    for (const file of ['../model.safetensors', '/etc/passwd', 42, 'C:x']) {
      await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { w: file } }));
      await expect(checkpointFiles(dir), String(file)).rejects.toThrow(
        /weight_map\["w"\]: expected the name of a .safetensors file/,
      );
    }
  });

  it('a directory named model.safetensors is an InvalidArgumentError', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dp-hostile-bert-'));
    await mkdir(join(dir, 'model.safetensors'));
    await expect(readCheckpointTensors(dir)).rejects.toThrow(InvalidArgumentError);
  });
});

describe('a vocabulary that does not fit the embeddings (issue #15)', () => {
  const vocab = (count: number) =>
    `${['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', ...Array.from({ length: count - 5 }, (_, i) => `w${i}`)].join('\n')}\n`;

  it('more tokens than vocab_size (word-embedding rows) is a FormatError at load, naming both sizes', async () => {
    const dir = await tinyModel();
    await writeFile(join(dir, 'vocab.txt'), vocab(20));
    const error = await loadBert(dir, { head: { numLabels: 2 }, offline: true }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toMatch(/20 tokens/);
    expect((error as Error).message).toMatch(/vocab_size 12/);
  });

  it('as many tokens as vocab_size, or fewer (padded embeddings, as HF allows), loads', async () => {
    for (const count of [12, 10]) {
      const dir = await tinyModel();
      await writeFile(join(dir, 'vocab.txt'), vocab(count));
      const loaded = await loadBert(dir, { head: { numLabels: 2 }, offline: true });
      for (const t of Object.values(loaded.params)) t.dispose();
    }
  });
});
