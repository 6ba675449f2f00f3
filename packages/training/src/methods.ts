import type { ParameterSpec, TrainingStage } from '@diffprune/core';
import type { TrainSettings } from './settings.js';

/** One stage of a method's plan. */
export interface StagePlan {
  stage: TrainingStage;
  epochs: number;
  learningRate: number;
  /** Keep the best dev checkpoint of this stage (else the last). */
  select: boolean;
}

/** Everything that differs between methods, in one place. */
export interface MethodSpec {
  /** The stages, in order. A `fixed-mask` stage is preceded by the projection (stage 2). */
  plan(settings: TrainSettings, fixedMaskEpochs: number): StagePlan[];
  /** The parameters the first stage trains, from the backbone's parameter specs. */
  trained(specs: readonly ParameterSpec[]): string[];
  /** Which tensors the diff stores whole: every one (a dense diff) or the head only. */
  storedWhole: 'all' | 'head';
  /** The method name recorded in the diff's provenance. */
  provenance(settings: TrainSettings): string;
  /** Defaults that differ from the shared ones (`defaultSettings`). */
  defaults: Partial<TrainSettings>;
}

const first = (settings: TrainSettings, stage: 'search' | 'finetune', select: boolean): StagePlan => ({
  stage,
  epochs: settings.epochs,
  learningRate: settings.learningRate,
  select,
});

const fixedMask = (settings: TrainSettings, epochs: number): StagePlan => ({
  stage: 'fixed-mask',
  epochs,
  learningRate: settings.fixedMaskLearningRate,
  select: true,
});

const topLayer = (specs: readonly ParameterSpec[]) => {
  const layers = specs.map((s) => /^layer\.(\d+)$/.exec(s.block)).filter((m) => m !== null);
  return `layer.${Math.max(...layers.map((m) => Number(m[1])))}`;
};

/** Finetuning baselines: one finetuning stage over some parameters, best dev checkpoint. */
const finetuning = (name: string, trained: MethodSpec['trained']): MethodSpec => ({
  plan: (settings) => [first(settings, 'finetune', true)],
  trained,
  storedWhole: name === 'full' ? 'all' : 'head',
  provenance: () => name,
  // A standard BERT finetuning rate.
  defaults: { learningRate: 2e-5 },
});

const all = (specs: readonly ParameterSpec[]) => specs.map((s) => s.name);

/**
 * The methods: diff pruning (search with gates and the expected-L0 penalty → projection → fixed-mask
 * finetuning), non-adaptive diff pruning (finetune → projection → fixed-mask) and the paper's
 * finetuning baselines.
 */
export const methods = {
  full: finetuning('full', all),
  'diff-pruning': {
    plan: (settings, epochs) => [first(settings, 'search', false), fixedMask(settings, epochs)],
    trained: all,
    storedWhole: 'head',
    provenance: (settings) =>
      settings.structured ? `diff-pruning-structured-${settings.groupPenalty}` : 'diff-pruning',
    // The authors' learning rate of w.
    defaults: { learningRate: 1e-5 },
  },
  'non-adaptive': {
    plan: (settings, epochs) => [first(settings, 'finetune', false), fixedMask(settings, epochs)],
    trained: all,
    storedWhole: 'head',
    provenance: () => 'non-adaptive',
    defaults: { learningRate: 2e-5 },
  },
  bitfit: finetuning('bitfit', (specs) =>
    specs.filter((s) => s.head || s.kind === 'bias' || s.kind === 'norm-bias').map((s) => s.name),
  ),
  'last-layer': finetuning('last-layer', (specs) => {
    const top = topLayer(specs);
    return specs.filter((s) => s.head || s.block === top).map((s) => s.name);
  }),
} satisfies Record<string, MethodSpec>;
