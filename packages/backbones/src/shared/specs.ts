import type { ParameterKind, ParameterSpec } from '@diffprune/core';

/** Collects parameter specs; `block` 'head' marks head parameters. */
export function specList() {
  const specs: ParameterSpec[] = [];
  const add = (name: string, shape: number[], kind: ParameterKind, block: string) =>
    specs.push({ name, shape, kind, block, head: block === 'head' });
  return {
    specs,
    add,
    /** A Linear: `weight` [out, in] (as HF) and `bias` [out]. */
    dense: (prefix: string, out: number, input: number, block: string) => {
      add(`${prefix}.weight`, [out, input], 'weight', block);
      add(`${prefix}.bias`, [out], 'bias', block);
    },
    norm: (prefix: string, size: number, block: string) => {
      add(`${prefix}.weight`, [size], 'norm-weight', block);
      add(`${prefix}.bias`, [size], 'norm-bias', block);
    },
  };
}

/** BERT-named encoder layers (`{prefix}.{i}.attention.self.query`, …), as RoBERTa and ELECTRA have them. */
export function addBertStyleLayers(
  list: ReturnType<typeof specList>,
  prefix: string,
  layers: number,
  hidden: number,
  intermediate: number,
): void {
  for (let i = 0; i < layers; i++) {
    const p = `${prefix}.${i}`;
    const block = `layer.${i}`;
    list.dense(`${p}.attention.self.query`, hidden, hidden, block);
    list.dense(`${p}.attention.self.key`, hidden, hidden, block);
    list.dense(`${p}.attention.self.value`, hidden, hidden, block);
    list.dense(`${p}.attention.output.dense`, hidden, hidden, block);
    list.norm(`${p}.attention.output.LayerNorm`, hidden, block);
    list.dense(`${p}.intermediate.dense`, intermediate, hidden, block);
    list.dense(`${p}.output.dense`, hidden, intermediate, block);
    list.norm(`${p}.output.LayerNorm`, hidden, block);
  }
}
