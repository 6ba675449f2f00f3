import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { bertLoader, parametersFromCheckpoint } from '@diffprune/bert';
import {
  type BackboneLoader,
  backboneSpecificationVersion,
  CheckpointMismatchError,
  disposeParameters,
  readSafetensors,
} from '@diffprune/core';
import { afterAll, describe, expect, it } from 'vitest';
import { backboneLoaders, headSizeOf, loadBackbone } from './registry.js';

const fixtures = fileURLToPath(new URL('../../../fixtures/', import.meta.url));
const work = await mkdtemp(join(tmpdir(), 'diffprune-registry-'));
afterAll(() => rm(work, { recursive: true, force: true }));

describe('the backbone registry', () => {
  it('has one loader per model_type, each naming its own type and files', () => {
    expect(Object.keys(backboneLoaders).sort()).toEqual(['bert', 'distilbert', 'electra', 'roberta']);
    for (const [modelType, loader] of Object.entries(backboneLoaders)) {
      expect(loader.modelType).toBe(modelType);
      expect(loader.files?.required).toContain('config.json');
    }
  });

  it('reads the head size of each family from its output tensor', async () => {
    for (const family of Object.keys(backboneLoaders)) {
      const { tensors } = await readSafetensors(`${fixtures}models/${family}/model.safetensors`);
      expect(headSizeOf(family, tensors), family).toBe(3);
      expect(
        headSizeOf(
          family,
          tensors.filter((t) => !t.name.includes('classifier')),
        ),
        family,
      ).toBeUndefined();
    }
  });

  it('refuses an unknown model_type, naming the known ones', async () => {
    const directory = join(work, 'unknown');
    await mkdir(directory, { recursive: true });
    await writeFile(join(directory, 'config.json'), JSON.stringify({ model_type: 'gpt2' }));
    await expect(loadBackbone(directory, { head: { numLabels: 2 } })).rejects.toThrow(
      /one of bert, distilbert, roberta, electra.*gpt2/s,
    );
  });

  it('upgrades what a v1 loader returns to the current specification', async () => {
    const v1: BackboneLoader = {
      modelType: 'bert',
      load: async (source, options) => {
        const loaded = await bertLoader.load(source, options);
        // As a v1 package built it: no v2 fields.
        const { backbone } = loaded;
        const old = {
          specificationVersion: 'v1',
          modelType: backbone.modelType,
          config: backbone.config,
          hiddenSize: backbone.hiddenSize,
          encoder: backbone.encoder,
          parameterSpecs: backbone.parameterSpecs.bind(backbone),
          forward: backbone.forward.bind(backbone),
          classify: backbone.classify.bind(backbone),
          gatedParameterNames: backbone.gatedParameterNames.bind(backbone),
        };
        return { ...loaded, backbone: old as never };
      },
    };
    const loaded = await loadBackbone(`${fixtures}models/bert`, { head: { numLabels: 3 } }, { bert: v1 });
    expect(loaded.backbone.specificationVersion).toBe(backboneSpecificationVersion);
    expect(loaded.backbone.headParameterNames({ numLabels: 3 })).toEqual([
      'classifier.weight',
      'classifier.bias',
    ]);
    expect(loaded.backbone.maxPositions).toBe(64);
    disposeParameters(loaded.params);
  });

  it('names every missing, unexpected and mis-shaped key at once', async () => {
    const directory = join(work, 'roberta');
    await mkdir(directory, { recursive: true });
    for (const file of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json'])
      await copyFile(`${fixtures}models/roberta/${file}`, join(directory, file));
    // One more layer than the checkpoint has, and 4 labels for a 3-label head.
    const config = JSON.parse(await readFile(`${fixtures}models/roberta/config.json`, 'utf8'));
    await writeFile(join(directory, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 3 }));
    const error = await loadBackbone(directory, { head: { numLabels: 4 } }).catch((e) => e);
    expect(CheckpointMismatchError.isInstance(error)).toBe(true);
    expect(error.missing).toContain('roberta.encoder.layer.2.attention.self.query.weight');
    expect(error.mismatched.map((m: { name: string }) => m.name)).toEqual(
      ['classifier.out_proj.bias', 'classifier.out_proj.weight'].filter((n) =>
        error.mismatched.some((m: { name: string }) => m.name === n),
      ),
    );
    expect(error.mismatched.length).toBe(2);
  });

  it('creates a missing head as HF initialises it: weights N(0, range²), biases 0', () => {
    const specs = [
      { name: 'a.weight', shape: [4, 4], kind: 'weight', block: 'layer.0', head: false },
      { name: 'h.weight', shape: [200, 50], kind: 'weight', block: 'head', head: true },
      { name: 'h.bias', shape: [200], kind: 'bias', block: 'head', head: true },
    ] as const;
    const { params, created } = parametersFromCheckpoint(
      [{ name: 'a.weight', shape: [4, 4], values: new Float32Array(16) }],
      specs.map((s) => ({ ...s, shape: [...s.shape] })),
      { canonicalName: (key) => key, source: 'test', initializerRange: 0.02, seed: 1 },
    );
    expect(created).toEqual(['h.weight', 'h.bias']);
    const w = Array.from(params['h.weight']!.dataSync());
    const std = Math.sqrt(w.reduce((a, b) => a + b * b, 0) / w.length);
    expect(Math.abs(std - 0.02)).toBeLessThan(0.001);
    expect(Array.from(params['h.bias']!.dataSync()).every((v) => v === 0)).toBe(true);
    disposeParameters(params);
  });
});
