import { readFileSync } from 'node:fs';
import { InvalidArgumentError } from '@diffprune/core';
import { describe, expect, it } from 'vitest';
import {
  accuracy,
  averageRanks,
  computeMetrics,
  f1,
  matthewsCorrelation,
  pearsonCorrelation,
  predictionsFromLogits,
  spearmanCorrelation,
} from './metrics.js';
import { getTask, headlineMetric, listTasks, selectionMetric } from './tasks.js';

interface FixtureCase {
  name: string;
  kind: 'classification' | 'regression';
  predictions: number[];
  labels: number[];
  accuracy?: number;
  f1?: number;
  matthews?: number;
  pearson?: number | null;
  spearman?: number | null;
}

// Written by scripts/metrics-fixture.py with scikit-learn and scipy (Debian python3-sklearn/scipy).
const fixture = JSON.parse(readFileSync(new URL('./fixtures/metrics.json', import.meta.url), 'utf8')) as {
  cases: FixtureCase[];
};

const expectClose = (actual: number, expected: number | null | undefined) => {
  if (expected === null) expect(actual).toBeNaN();
  else expect(actual).toBeCloseTo(expected as number, 12);
};

describe('metrics against scikit-learn / scipy (fixture)', () => {
  it('has the cases', () => {
    expect(fixture.cases.length).toBeGreaterThanOrEqual(18);
  });
  for (const entry of fixture.cases) {
    it(entry.name, () => {
      if (entry.kind === 'classification') {
        expectClose(accuracy(entry.predictions, entry.labels), entry.accuracy);
        expectClose(matthewsCorrelation(entry.predictions, entry.labels), entry.matthews);
        if (entry.f1 !== undefined) expectClose(f1(entry.predictions, entry.labels), entry.f1);
      } else {
        expectClose(pearsonCorrelation(entry.predictions, entry.labels), entry.pearson);
        expectClose(spearmanCorrelation(entry.predictions, entry.labels), entry.spearman);
      }
    });
  }
});

describe('metrics by hand', () => {
  it('accuracy, F1 and MCC from a confusion matrix', () => {
    // TP 3, FN 1, FP 2, TN 4.
    const labels = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0];
    const predictions = [1, 1, 1, 0, 1, 1, 0, 0, 0, 0];
    expect(accuracy(predictions, labels)).toBe(0.7);
    expect(f1(predictions, labels)).toBeCloseTo((2 * 3) / (2 * 3 + 2 + 1), 15);
    const mcc = (3 * 4 - 2 * 1) / Math.sqrt((3 + 2) * (3 + 1) * (4 + 2) * (4 + 1));
    expect(matthewsCorrelation(predictions, labels)).toBeCloseTo(mcc, 15);
  });

  it('MCC is 0 when undefined (constant predictions) and ±1 at the extremes', () => {
    expect(matthewsCorrelation([0, 0, 0, 0], [0, 1, 0, 1])).toBe(0);
    expect(matthewsCorrelation([1, 1], [1, 1])).toBe(0);
    expect(matthewsCorrelation([0, 1, 0, 1], [0, 1, 0, 1])).toBe(1);
    expect(matthewsCorrelation([1, 0, 1, 0], [0, 1, 0, 1])).toBe(-1);
  });

  it('average ranks for ties', () => {
    expect(Array.from(averageRanks([10, 20, 20, 30, 20, 5]))).toEqual([2, 4, 4, 6, 4, 1]);
  });

  it('Spearman with ties in closed form', () => {
    // x ranks: [1, 2.5, 2.5, 4]; y ranks: [1, 2, 3, 4]. Pearson of those:
    const rx = [1, 2.5, 2.5, 4];
    const ry = [1, 2, 3, 4];
    const mean = 2.5;
    const sxy = rx.reduce((s, v, i) => s + (v - mean) * ((ry[i] as number) - mean), 0);
    const sxx = rx.reduce((s, v) => s + (v - mean) ** 2, 0);
    const syy = ry.reduce((s, v) => s + (v - mean) ** 2, 0);
    expect(spearmanCorrelation([1, 2, 2, 3], [10, 20, 30, 40])).toBeCloseTo(sxy / Math.sqrt(sxx * syy), 15);
    expect(sxy / Math.sqrt(sxx * syy)).toBeCloseTo(4.5 / Math.sqrt(4.5 * 5), 15);
  });

  it('Pearson of a line is 1 and NaN for constant input', () => {
    expect(pearsonCorrelation([1, 2, 3], [3, 5, 7])).toBeCloseTo(1, 15);
    expect(pearsonCorrelation([2, 2, 2], [3, 5, 7])).toBeNaN();
  });
});

describe('computeMetrics', () => {
  it('returns the metrics of each task under the documented keys', () => {
    const keys = Object.fromEntries(
      listTasks().map((task) => {
        const n = task.kind === 'regression' ? [0.5, 1.5, 4] : [0, 1, 1];
        return [task.name, Object.keys(computeMetrics(task, n, n)).sort()];
      }),
    );
    expect(keys).toEqual({
      cola: ['matthews'],
      sst2: ['accuracy'],
      mrpc: ['accuracy', 'f1'],
      stsb: ['pearson', 'spearman'],
      qqp: ['accuracy', 'f1'],
      mnli: ['accuracy'],
      qnli: ['accuracy'],
      rte: ['accuracy'],
      wnli: ['accuracy'],
      ax: ['matthews'],
    });
  });

  it('computes MRPC accuracy and F1 together', () => {
    const metrics = computeMetrics('MRPC', [1, 1, 0, 0], [1, 0, 0, 1]);
    expect(metrics).toEqual({ f1: 0.5, accuracy: 0.5 });
  });

  it('selection and headline metrics follow the authors (MRPC/QQP F1, STS-B Spearman, CoLA MCC)', () => {
    expect(listTasks().map((task) => [task.name, selectionMetric(task), headlineMetric(task.name)])).toEqual([
      ['cola', 'matthews', 'matthews'],
      ['sst2', 'accuracy', 'accuracy'],
      ['mrpc', 'f1', 'f1'],
      ['stsb', 'spearman', 'spearman'],
      ['qqp', 'f1', 'f1'],
      ['mnli', 'accuracy', 'accuracy'],
      ['qnli', 'accuracy', 'accuracy'],
      ['rte', 'accuracy', 'accuracy'],
      ['wnli', 'accuracy', 'accuracy'],
      ['ax', 'matthews', 'matthews'],
    ]);
  });

  it('rejects mismatched lengths, empty input, out-of-range classes and non-finite scores', () => {
    expect(() => computeMetrics('sst2', [0, 1], [0])).toThrow(InvalidArgumentError);
    expect(() => computeMetrics('sst2', [], [])).toThrow(/at least one entry/);
    expect(() => computeMetrics('sst2', [0, 2], [0, 1])).toThrow(
      /predictions\[1\] must be a class index in \[0, 2\)/,
    );
    expect(() => computeMetrics('mnli', [0, 1.5], [0, 1])).toThrow(InvalidArgumentError);
    expect(() => computeMetrics('stsb', [0, Number.NaN], [0, 1])).toThrow(/finite/);
  });

  it('argmax of logits, first maximum winning; scores for regression', () => {
    const task = getTask('mnli');
    expect(Array.from(predictionsFromLogits(task, [0.1, 0.5, 0.2, 3, 3, 1]))).toEqual([1, 0]);
    expect(Array.from(predictionsFromLogits('stsb', [1.5, 2.5]))).toEqual([1.5, 2.5]);
    expect(() => predictionsFromLogits(task, [1, 2])).toThrow(/divisible by 3/);
  });
});
