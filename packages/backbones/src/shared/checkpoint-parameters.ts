/**
 * A canonical-name function for HF checkpoints of `prefix` (e.g. `roberta`): keys under `ignored`
 * prefixes and `*.position_ids` buffers are dropped, TF-era `gamma`/`beta` become `weight`/`bias`,
 * and keys of a bare base model (`embeddings.…`, `encoder.…`) get the prefix.
 */
export function prefixedCanonicalName(
  prefix: string,
  ignored: readonly string[],
  baseModules: readonly string[],
): (key: string) => string | undefined {
  return (key) => {
    if (key.endsWith('.position_ids') || ignored.some((start) => key.startsWith(start))) return undefined;
    const name = key
      .replace(/\.LayerNorm\.gamma$/, '.LayerNorm.weight')
      .replace(/\.LayerNorm\.beta$/, '.LayerNorm.bias');
    if (baseModules.some((module) => name.startsWith(`${module}.`))) return `${prefix}.${name}`;
    return name;
  };
}
