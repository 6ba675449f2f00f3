import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeBackboneConformance } from '@diffprune/core/test';
import { describe, it } from 'vitest';
import { loadBert } from './load.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const models = [
  {
    name: 'forward fixture model (classifier in the checkpoint)',
    path: `${shared}fixtures/forward-model`,
    numLabels: 3,
  },
  {
    name: 'bert-tiny-mlm-offline (MLM head ignored, classifier created)',
    path: `${shared}models/bert-tiny-mlm-offline`,
    numLabels: 2,
  },
  {
    name: 'bert-tiny-mlm-offline as a regression model',
    path: `${shared}models/bert-tiny-mlm-offline`,
    numLabels: 1,
  },
];

for (const model of models) {
  if (existsSync(model.path)) {
    describeBackboneConformance(`bert: ${model.name}`, {
      load: () => loadBert(model.path, { head: { numLabels: model.numLabels }, seed: 3 }),
      head: { numLabels: model.numLabels },
    });
  } else {
    describe(`bert conformance: ${model.name}`, () => {
      it.skip(`skipped: ${model.path} is absent`, () => {});
    });
  }
}
