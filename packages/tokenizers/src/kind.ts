/** The tokenizer families diffprune reads. */
export type TokenizerKind = 'word-piece' | 'byte-level-bpe';

/** The kind of a parsed tokenizer.json, or undefined for a model we do not read. */
export function tokenizerJsonKind(json: unknown): TokenizerKind | undefined {
  const file = json as { model?: { type?: unknown }; pre_tokenizer?: { type?: unknown } | null } | null;
  if (file?.model?.type === 'WordPiece') return 'word-piece';
  if (file?.model?.type === 'BPE' && file.pre_tokenizer?.type === 'ByteLevel') return 'byte-level-bpe';
  return undefined;
}
