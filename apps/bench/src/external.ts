import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { mean, type Spread, standardDeviation } from './summary.js';

/**
 * A run made outside diffprune's trainer, by a Python script fed the same encoded examples:
 * `reference/<id>.json` (scripts/torch_diffprune.py, the authors' three stages in plain PyTorch) or
 * `peers/<id>.json` (scripts/peft_peers.py, PEFT methods at the same budget).
 */
export interface ExternalRecord {
  id: string;
  /** Our method name for the reference (full, diff-pruning, …); the PEFT method for peers (lora, shira). */
  method: string;
  /** Row label in the report, e.g. "PEFT LoRA (r 2)". */
  label: string;
  task: string;
  seed: number;
  headlineMetric: string;
  headline: number;
  metrics: Record<string, number>;
  /** Trainable (peers) or modified (reference) parameters ÷ all parameters, head counted fully. */
  density: number;
  steps: number;
  wallTimeMs: number;
  /** e.g. "torch 2.13.0", "peft 0.17.1". */
  implementation: string;
  finishedAt: string;
}

export type ExternalKind = 'reference' | 'peers';

export async function readExternalRecords(
  outputDirectory: string,
  kind: ExternalKind,
): Promise<ExternalRecord[]> {
  const directory = join(outputDirectory, kind);
  if (!existsSync(directory)) return [];
  const files = (await readdir(directory)).filter((f) => f.endsWith('.json')).sort();
  return Promise.all(
    files.map(async (f) => JSON.parse(await readFile(join(directory, f), 'utf8')) as ExternalRecord),
  );
}

export interface ExternalCell extends Spread {
  label: string;
  density: number;
  values: number[];
}

/** method → task → mean ± sd over seeds. */
export function summariseExternal(
  records: readonly ExternalRecord[],
): Record<string, Record<string, ExternalCell>> {
  const out: Record<string, Record<string, ExternalCell>> = {};
  for (const r of records) {
    out[r.method] ??= {};
    const group = records
      .filter((o) => o.method === r.method && o.task === r.task)
      .sort((a, b) => a.seed - b.seed);
    const values = group.map((o) => o.headline);
    out[r.method]![r.task] = {
      label: r.label,
      headline: mean(values),
      sd: standardDeviation(values),
      n: values.length,
      values,
      density: mean(group.map((o) => o.density)),
    };
  }
  return out;
}

/** Our mean lies outside the reference's mean ± sd (needs at least two reference seeds). */
export function outsideReference(ours: Spread, reference: Spread): boolean {
  if (reference.n < 2 || !Number.isFinite(reference.sd)) return false;
  return Math.abs(ours.headline - reference.headline) > reference.sd;
}
