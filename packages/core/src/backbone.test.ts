import { describe, expect, it } from 'vitest';
import {
  type BackboneV1,
  backboneSpecificationVersion,
  headParameterNames,
  type ParameterSpec,
  upgradeBackbone,
} from './backbone.js';

const specs: ParameterSpec[] = [
  {
    name: 'bert.embeddings.word_embeddings.weight',
    shape: [10, 4],
    kind: 'embedding',
    block: 'embeddings',
    head: false,
  },
  { name: 'classifier.weight', shape: [2, 4], kind: 'weight', block: 'head', head: true },
  { name: 'classifier.bias', shape: [2], kind: 'bias', block: 'head', head: true },
];

/** A backbone as a v1 package builds it: no v2 fields. */
const v1: BackboneV1<{ maxPositionEmbeddings: number }> = {
  specificationVersion: 'v1',
  modelType: 'bert',
  config: { maxPositionEmbeddings: 64 },
  hiddenSize: 4,
  encoder: { padId: 0, encode: () => ({ inputIds: [], tokenTypeIds: [] }) },
  parameterSpecs: () => specs,
  forward: () => {
    throw new Error('not used');
  },
  classify: () => {
    throw new Error('not used');
  },
  gatedParameterNames: () => [specs[0]!.name],
};

describe('backbone specification v2', () => {
  it('upgrades a v1 backbone: head from its specs, positions from its config, token types read', () => {
    const upgraded = upgradeBackbone(v1);
    expect(upgraded.specificationVersion).toBe(backboneSpecificationVersion);
    expect(upgraded.headParameterNames({ numLabels: 2 })).toEqual(['classifier.weight', 'classifier.bias']);
    expect(upgraded.maxPositions).toBe(64);
    expect(upgraded.tokenTypes).toBe(true);
    expect(upgraded.tokenizer).toBe('word-piece');
    // Everything else is the v1 object's.
    expect(upgraded.modelType).toBe('bert');
    expect(upgraded.gatedParameterNames({ numLabels: 2 })).toEqual([specs[0]!.name]);
    expect(headParameterNames(v1, { numLabels: 2 })).toEqual(['classifier.weight', 'classifier.bias']);
  });

  it('returns a v2 backbone as is', () => {
    const upgraded = upgradeBackbone(v1);
    expect(upgradeBackbone(upgraded)).toBe(upgraded);
  });
});
