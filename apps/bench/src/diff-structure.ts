import type { SparseDiff } from '@diffprune/sparse-diff';

/** The block a BERT parameter belongs to: `embeddings`, `layer.N`, `pooler`, `head` or `other`. */
export function blockOf(name: string): string {
  const layer = /\.layer\.(\d+)\./.exec(name);
  if (layer) return `layer.${layer[1]}`;
  if (name.includes('embeddings')) return 'embeddings';
  if (name.includes('pooler')) return 'pooler';
  if (name.startsWith('classifier')) return 'head';
  return 'other';
}

export interface DiffStructure {
  /** Per block: modified entries ÷ the block's entries. */
  blockShare: Record<string, number>;
  /** Encoder tensors with no modified entry, and their count out of all encoder tensors. */
  untouchedTensors: string[];
  encoderTensors: number;
}

/** Where a diff modifies the model: per-block shares and untouched tensors (the paper's Figure 2, §6). */
export function diffStructure(diff: SparseDiff): DiffStructure {
  const modified: Record<string, number> = {};
  const total: Record<string, number> = {};
  const untouchedTensors: string[] = [];
  let encoderTensors = 0;
  for (const tensor of diff.tensors) {
    const block = blockOf(tensor.name);
    const size = tensor.shape.reduce((a, b) => a * b, 1);
    const nonzero = tensor.kind === 'sparse' ? tensor.indices.length : size;
    modified[block] = (modified[block] ?? 0) + nonzero;
    total[block] = (total[block] ?? 0) + size;
    if (block !== 'head') {
      encoderTensors++;
      if (nonzero === 0) untouchedTensors.push(tensor.name);
    }
  }
  const blockShare: Record<string, number> = {};
  for (const block of Object.keys(total)) blockShare[block] = modified[block]! / total[block]!;
  return { blockShare, untouchedTensors, encoderTensors };
}
