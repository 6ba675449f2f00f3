// Tokenises a GLUE task's train and dev splits with diffprune's own WordPiece tokenizer and writes
// them as JSON, for torch_finetune.py (a second, independent training implementation).
//   node --import tsx apps/bench/scripts/encode-glue.mts TASK MODEL_DIR GLUE_DIR OUT.json [MAX_LENGTH]
import { writeFileSync } from 'node:fs';
import { loadBertTokenizer } from '@diffprune/bert';
import { readSplit } from '@diffprune/glue';

const [task, model, data, out, maxLength = '128'] = process.argv.slice(2);
if (!task || !model || !data || !out) {
  process.stderr.write('usage: encode-glue.mts TASK MODEL_DIR GLUE_DIR OUT.json [MAX_LENGTH]\n');
  process.exit(2);
}
const tokenizer = await loadBertTokenizer(model);
const result: Record<string, unknown[]> = {};
for (const split of ['train', 'dev']) {
  const { examples } = await readSplit(task, split, { dataDirectory: data });
  result[split] = examples.map((e) => ({
    ...tokenizer.encode(e.textA, e.textB, { maxLength: Number(maxLength) }),
    label: e.label,
  }));
}
writeFileSync(out, JSON.stringify(result));
