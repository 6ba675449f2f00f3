import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

/**
 * Test support: HF transformers as the second implementation of an exported model. Python is a dev
 * tool here, never a dependency: tests skip with {@link transformersMissing}'s reason without it.
 */
const run = promisify(execFile);
export const python = process.env.DIFFPRUNE_PYTHON ?? 'python3';

/** Why HF transformers cannot be used here, or undefined when `python` imports torch and transformers. */
export async function transformersMissing(): Promise<string | undefined> {
  try {
    await run(python, ['-c', 'import torch, transformers']);
    return undefined;
  } catch (error) {
    return `${python} cannot import torch and transformers (${(error as Error).message.split('\n').at(-2) ?? ''}); set DIFFPRUNE_PYTHON to one that can`;
  }
}

/**
 * Loads `directory` with `AutoModelForSequenceClassification` and `AutoTokenizer` and gives the logits
 * of each JSONL row of `input` (text pair from `fields`), the label names, the model class and whether
 * its base model has a pooler.
 */
export async function transformersLogits(
  directory: string,
  input: string,
  fields: readonly [string, string],
): Promise<{ logits: number[][]; labels: string[]; className: string; pooler: boolean }> {
  const script = [
    'import json, sys, torch',
    'from transformers import AutoModelForSequenceClassification, AutoTokenizer',
    'm = AutoModelForSequenceClassification.from_pretrained(sys.argv[1]).eval()',
    't = AutoTokenizer.from_pretrained(sys.argv[1])',
    'rows = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]',
    'with torch.no_grad():',
    '    out = [m(**t(r[sys.argv[3]], r[sys.argv[4]], return_tensors="pt")).logits[0].tolist() for r in rows]',
    'pooler = getattr(getattr(m, m.base_model_prefix), "pooler", None) is not None',
    'print(json.dumps({"logits": out, "labels": [m.config.id2label[i] for i in range(m.config.num_labels)], "className": type(m).__name__, "pooler": pooler}))',
  ].join('\n');
  const { stdout } = await run(python, ['-c', script, directory, input, ...fields], { maxBuffer: 16 << 20 });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}
