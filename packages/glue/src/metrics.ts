import { InvalidArgumentError } from '@diffprune/core';
import { type GlueMetricName, type GlueTask, getTask } from './tasks.js';

type Numbers = ArrayLike<number>;

const checkPair = (name: string, predictions: Numbers, labels: Numbers) => {
  if (predictions.length !== labels.length) {
    throw new InvalidArgumentError({
      argument: 'predictions',
      expected: `as many entries as labels (${labels.length})`,
      found: `${predictions.length} entries`,
      context: name,
    });
  }
  if (labels.length === 0) {
    throw new InvalidArgumentError({
      argument: 'labels',
      expected: 'at least one entry',
      found: 'an empty array',
      context: name,
    });
  }
};

const checkClasses = (name: string, argument: string, values: Numbers, numClasses?: number) => {
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as number;
    if (!Number.isInteger(value) || value < 0 || (numClasses !== undefined && value >= numClasses)) {
      throw new InvalidArgumentError({
        argument: `${argument}[${i}]`,
        expected:
          numClasses === undefined
            ? 'a class index (non-negative integer)'
            : `a class index in [0, ${numClasses})`,
        found: value,
        context: name,
      });
    }
  }
};

const checkFinite = (name: string, argument: string, values: Numbers) => {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new InvalidArgumentError({
        argument: `${argument}[${i}]`,
        expected: 'a finite number',
        found: values[i],
        context: name,
      });
    }
  }
};

/** Share of predictions equal to their label. */
export function accuracy(predictions: Numbers, labels: Numbers): number {
  checkPair('accuracy', predictions, labels);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) if (predictions[i] === labels[i]) correct += 1;
  return correct / labels.length;
}

/**
 * Binary F1 of the positive class (`positive`, default 1): 2·TP / (2·TP + FP + FN). With no
 * positive predictions and no positive labels it is 0, as scikit-learn's `f1_score` returns.
 */
export function f1(predictions: Numbers, labels: Numbers, positive = 1): number {
  checkPair('f1', predictions, labels);
  let truePositives = 0;
  let falsePositives = 0;
  let falseNegatives = 0;
  for (let i = 0; i < labels.length; i++) {
    const predicted = predictions[i] === positive;
    const actual = labels[i] === positive;
    if (predicted && actual) truePositives += 1;
    else if (predicted) falsePositives += 1;
    else if (actual) falseNegatives += 1;
  }
  const denominator = 2 * truePositives + falsePositives + falseNegatives;
  return denominator === 0 ? 0 : (2 * truePositives) / denominator;
}

/**
 * Matthews correlation coefficient for any number of classes (Gorodkin's R_K; the binary MCC for
 * two). 0 when it is undefined (a constant prediction or label vector), as scikit-learn returns.
 */
export function matthewsCorrelation(predictions: Numbers, labels: Numbers): number {
  checkPair('matthewsCorrelation', predictions, labels);
  checkClasses('matthewsCorrelation', 'predictions', predictions);
  checkClasses('matthewsCorrelation', 'labels', labels);
  let classes = 0;
  for (let i = 0; i < labels.length; i++) {
    classes = Math.max(classes, (labels[i] as number) + 1, (predictions[i] as number) + 1);
  }
  const predictedCount = new Float64Array(classes);
  const trueCount = new Float64Array(classes);
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = predictions[i] as number;
    const t = labels[i] as number;
    predictedCount[p] = (predictedCount[p] as number) + 1;
    trueCount[t] = (trueCount[t] as number) + 1;
    if (p === t) correct += 1;
  }
  const samples = labels.length;
  let crossProducts = 0;
  let predictedSquares = 0;
  let trueSquares = 0;
  for (let k = 0; k < classes; k++) {
    const p = predictedCount[k] as number;
    const t = trueCount[k] as number;
    crossProducts += p * t;
    predictedSquares += p * p;
    trueSquares += t * t;
  }
  const covariance = correct * samples - crossProducts;
  const denominator = Math.sqrt((samples * samples - predictedSquares) * (samples * samples - trueSquares));
  return denominator === 0 ? 0 : covariance / denominator;
}

/** Pearson's r. NaN when either input is constant (as scipy's `pearsonr`). */
export function pearsonCorrelation(x: Numbers, y: Numbers): number {
  checkPair('pearsonCorrelation', x, y);
  checkFinite('pearsonCorrelation', 'x', x);
  checkFinite('pearsonCorrelation', 'y', y);
  const n = x.length;
  let meanX = 0;
  let meanY = 0;
  for (let i = 0; i < n; i++) {
    meanX += x[i] as number;
    meanY += y[i] as number;
  }
  meanX /= n;
  meanY /= n;
  let sxy = 0;
  let sxx = 0;
  let syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = (x[i] as number) - meanX;
    const dy = (y[i] as number) - meanY;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  if (sxx === 0 || syy === 0) return Number.NaN;
  const r = sxy / Math.sqrt(sxx * syy);
  return Math.max(-1, Math.min(1, r));
}

/** 1-based ranks with ties given their average rank (as scipy's `rankdata(method='average')`). */
export function averageRanks(values: Numbers): Float64Array {
  const n = values.length;
  const order = Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (values[a] as number) - (values[b] as number),
  );
  const ranks = new Float64Array(n);
  let start = 0;
  while (start < n) {
    let end = start + 1;
    while (end < n && values[order[end] as number] === values[order[start] as number]) end += 1;
    // Positions start..end-1 hold equal values: each gets the mean of ranks start+1..end.
    const rank = (start + 1 + end) / 2;
    for (let k = start; k < end; k++) ranks[order[k] as number] = rank;
    start = end;
  }
  return ranks;
}

/** Spearman's ρ: Pearson's r of the average ranks (ties share their mean rank). NaN for constant input. */
export function spearmanCorrelation(x: Numbers, y: Numbers): number {
  checkPair('spearmanCorrelation', x, y);
  checkFinite('spearmanCorrelation', 'x', x);
  checkFinite('spearmanCorrelation', 'y', y);
  return pearsonCorrelation(averageRanks(x), averageRanks(y));
}

const metricFunctions: Record<GlueMetricName, (predictions: Numbers, labels: Numbers) => number> = {
  accuracy,
  f1: (predictions, labels) => f1(predictions, labels, 1),
  matthews: matthewsCorrelation,
  pearson: pearsonCorrelation,
  spearman: spearmanCorrelation,
};

/**
 * The task's official metrics as fractions, keyed `accuracy`, `f1`, `matthews`, `pearson`,
 * `spearman` (whichever the task has: see `task.metrics`). For classification tasks `predictions`
 * and `labels` are class indices into `task.labels`; for STS-B they are scores.
 */
export function computeMetrics(
  task: GlueTask | string,
  predictions: Numbers,
  labels: Numbers,
): Record<string, number> {
  const resolved = typeof task === 'string' ? getTask(task) : task;
  const context = `computeMetrics(${resolved.name})`;
  checkPair(context, predictions, labels);
  if (resolved.kind === 'classification') {
    checkClasses(context, 'predictions', predictions, resolved.numLabels);
    checkClasses(context, 'labels', labels, resolved.numLabels);
  } else {
    checkFinite(context, 'predictions', predictions);
    checkFinite(context, 'labels', labels);
  }
  const result: Record<string, number> = {};
  for (const metric of resolved.metrics) result[metric] = metricFunctions[metric](predictions, labels);
  return result;
}

/**
 * Class predictions from row-major logits of shape [rows, numLabels] (argmax, first maximum wins);
 * for regression (numLabels 1) the scores themselves.
 */
export function predictionsFromLogits(task: GlueTask | string, logits: Numbers): Float64Array {
  const resolved = typeof task === 'string' ? getTask(task) : task;
  const width = resolved.numLabels;
  if (logits.length % width !== 0) {
    throw new InvalidArgumentError({
      argument: 'logits',
      expected: `a length divisible by ${width} (rows × numLabels for ${resolved.displayName})`,
      found: `length ${logits.length}`,
    });
  }
  const rows = logits.length / width;
  const out = new Float64Array(rows);
  for (let r = 0; r < rows; r++) {
    if (width === 1) {
      out[r] = logits[r] as number;
      continue;
    }
    let best = 0;
    for (let k = 1; k < width; k++) {
      if ((logits[r * width + k] as number) > (logits[r * width + best] as number)) best = k;
    }
    out[r] = best;
  }
  return out;
}
