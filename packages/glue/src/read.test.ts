import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type DiffpruneEvent,
  FormatError,
  InvalidArgumentError,
  MissingResourceError,
} from '@diffprune/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSplit, readSplit } from './read.js';
import { getSplit, getTask, glueTaskNames, listTasks } from './tasks.js';

const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const glue = join(shared, 'data/glue');
const hasShared = existsSync(glue);
if (!hasShared) console.warn(`skipping GLUE data tests: ${glue} is absent`);

// Official sizes (examples per split) from the GLUE release as listed by HF datasets' glue
// dataset_infos.json; the shared files must match them exactly.
const sharedFiles: Array<[task: string, split: string, rows: number]> = [
  ['cola', 'train', 8551],
  ['cola', 'dev', 1043],
  ['sst2', 'train', 67349],
  ['sst2', 'dev', 872],
  ['mrpc', 'train', 3668],
  ['mrpc', 'dev', 408],
  ['stsb', 'train', 5749],
  ['stsb', 'dev', 1500],
  ['qnli', 'dev', 5463],
  ['rte', 'train', 2490],
  ['rte', 'dev', 277],
  ['wnli', 'train', 635],
  ['wnli', 'dev', 71],
];

describe('task table', () => {
  it('accepts common spellings and rejects others with the valid names', () => {
    expect(getTask('SST-2').name).toBe('sst2');
    expect(getTask('sst-2').name).toBe('sst2');
    expect(getTask('STS-B').name).toBe('stsb');
    expect(getTask('MNLI').name).toBe('mnli');
    expect(getTask('CoLA').directory).toBe('CoLA');
    expect(getTask('diagnostic').name).toBe('ax');
    expect(() => getTask('sst3')).toThrow(InvalidArgumentError);
    expect(() => getTask('sst3')).toThrow(/cola, sst2, mrpc, stsb, qqp, mnli, qnli, rte, wnli, ax/);
    expect(() => getSplit(getTask('mnli'), 'dev')).toThrow(/dev_matched, dev_mismatched/);
  });

  it('has consistent label spaces and splits', () => {
    expect(listTasks().map((task) => task.name)).toEqual([...glueTaskNames]);
    for (const task of listTasks()) {
      expect(task.numLabels).toBe(task.kind === 'regression' ? 1 : task.labels.length);
      expect(task.metrics).toContain(task.selectionMetric);
      for (const split of [...task.devSplits, ...task.testSplits]) expect(task.splits[split]).toBeDefined();
      for (const split of task.testSplits) {
        expect(task.splits[split]?.labelled).toBe(false);
        expect(task.submissionFiles[split]).toMatch(/\.tsv$/);
      }
    }
    expect(getTask('mnli').devSplits).toEqual(['dev_matched', 'dev_mismatched']);
    expect(getTask('mnli').labels).toEqual(['contradiction', 'entailment', 'neutral']);
    expect(getTask('stsb').labels).toEqual([]);
  });
});

describe.skipIf(!hasShared)('readSplit on ../shared/data/glue', () => {
  for (const [name, split, rows] of sharedFiles) {
    it(`${name} ${split}: ${rows} examples, none skipped`, async () => {
      const events: DiffpruneEvent[] = [];
      const result = await readSplit(name, split, {
        dataDirectory: glue,
        strict: true,
        onEvent: (event) => events.push(event),
      });
      expect(result.examples).toHaveLength(rows);
      expect(result.expectedRows).toBe(rows);
      expect(result.skipped).toBe(0);
      expect(events).toEqual([]);
      const task = getTask(name);
      const badLabel = result.examples.findIndex((example) =>
        task.kind === 'regression'
          ? !(typeof example.label === 'number' && example.label >= 0 && example.label <= 5)
          : !(Number.isInteger(example.label) && (example.label as number) < task.numLabels),
      );
      expect(badLabel).toBe(-1);
      expect(
        result.examples.every((example) => (example.textB === null) === (task.textColumns[1] === null)),
      ).toBe(true);
    });
  }

  it('CoLA: no header, label in column 2, sentence in column 4, last line without newline', async () => {
    const { examples } = await readSplit('cola', 'dev', { dataDirectory: glue });
    expect(examples[0]).toEqual({
      id: '0',
      textA: 'The sailors rode the breeze clear of the rocks.',
      textB: null,
      label: 1,
    });
    expect(examples.at(-1)?.textA).toMatch(/himself\.$/);
  });

  it('MRPC: the byte-order mark before the header is stripped', async () => {
    const { examples } = await readSplit('mrpc', 'dev', { dataDirectory: glue });
    expect(examples[0]?.label).toBe(1);
    expect(examples[0]?.textA).toMatch(/^He said the foodservice pie business/);
    expect(examples[0]?.textB).toMatch(/^" The foodservice pie business/);
  });

  it('QNLI: raw quote characters stay inside a field (tabs only)', async () => {
    const { examples } = await readSplit('qnli', 'dev', { dataDirectory: glue });
    const quoted = examples.filter((example) => `${example.textA}${example.textB}`.includes('"'));
    expect(quoted.length).toBeGreaterThan(100);
    expect(examples.every((example) => example.textB !== null && !example.textB.includes('\t'))).toBe(true);
    expect(getTask('qnli').labels[examples[0]?.label as number]).toBe('entailment');
  });

  it('STS-B: float scores', async () => {
    const { examples } = await readSplit('STS-B', 'dev', { dataDirectory: glue });
    expect(examples[0]).toMatchObject({ id: '0', label: 5, textB: 'A man wearing a hard hat is dancing.' });
    expect(examples[1]?.label).toBe(4.75);
  });
});

describe('malformed and unlabelled input', () => {
  let directory: string;
  beforeAll(async () => {
    directory = await mkdtemp(join(tmpdir(), 'glue-read-'));
  });
  afterAll(async () => {
    await rm(directory, { recursive: true, force: true });
  });

  const write = async (task: string, file: string, text: string) => {
    await mkdir(join(directory, getTask(task).directory), { recursive: true });
    await writeFile(join(directory, getTask(task).directory, file), text);
  };

  it('an STS-B score outside [0, 5] (1e30) is a FormatError naming the file and line (issue #15)', async () => {
    const task = getTask('stsb');
    const path = join(directory, task.directory, 'dev.tsv');
    await mkdir(join(directory, task.directory), { recursive: true });
    const header = 'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n';
    const row = (score: string) => `0\tmain\tf\t2012\t0\tnone\tnone\tA man.\tA person.\t${score}\n`;
    for (const score of ['1e30', '-0.5', '5.25']) {
      await writeFile(path, `${header}${row('2.5')}${row(score)}`);
      const error = await readSplit('stsb', 'dev', { dataDirectory: directory }).catch((e: unknown) => e);
      expect(error, score).toBeInstanceOf(FormatError);
      expect((error as Error).message).toContain(`${path}: line 3`);
      expect((error as Error).message).toContain(JSON.stringify(score));
    }
    await writeFile(path, `${header}${row('0')}${row('5.000')}`);
    const fine = await readSplit('stsb', 'dev', { dataDirectory: directory });
    expect(fine.examples.map((e) => e.label)).toEqual([0, 5]);
  });

  it('non-UTF-8 bytes are a FormatError naming the file and line, not replaced silently (issue #15)', async () => {
    const good = 'index\tquestion\tsentence\tlabel\n0\tWhat is café?\tIt is a place.\tentailment\n';
    const path = join(directory, getTask('qnli').directory, 'dev.tsv');
    await mkdir(join(directory, getTask('qnli').directory), { recursive: true });
    await writeFile(
      path,
      Buffer.concat([
        Buffer.from(good),
        Buffer.from('1\tWhy\tBecause caf'),
        Buffer.of(0xe9),
        Buffer.from('.\tentailment\n'),
      ]),
    );
    const error = await readSplit('qnli', 'dev', { dataDirectory: directory }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FormatError);
    expect((error as Error).message).toMatch(`${path}: line 3: expected UTF-8 text`);
    expect((error as Error).message).toMatch(/invalid byte 0xe9 at byte 18 of the line/);
    // Valid multi-byte text split across read chunks still decodes (the 1 MiB boundary is in a line).
    await writeFile(path, `${good}${'1\tü\t'.padEnd(1 << 20, 'é')}\tentailment\n`);
    const result = await readSplit('qnli', 'dev', { dataDirectory: directory });
    expect(result.examples[0]!.textA).toBe('What is café?');
    expect(result.examples[1]!.textB!.endsWith('éé')).toBe(true);
  });

  it('a directory where the split file belongs is an InvalidArgumentError (issue #15: EISDIR)', async () => {
    await mkdir(join(directory, getTask('rte').directory, 'dev.tsv'), { recursive: true });
    await expect(readSplit('rte', 'dev', { dataDirectory: directory })).rejects.toThrow(InvalidArgumentError);
  });

  it('QQP: rows with missing fields or unknown labels are skipped and counted, with a warning', async () => {
    await write(
      'qqp',
      'dev.tsv',
      [
        'id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate',
        '1\t1\t2\tWhat is "it"?\tIs it "that"?\t1',
        '2\t3\t4\tBroken question without the rest',
        '3\t5\t6\tA?\tB?\tmaybe',
        '',
        '4\t7\t8\tC?\tD?\t0',
      ].join('\r\n'),
    );
    const events: DiffpruneEvent[] = [];
    const result = await readSplit('qqp', 'dev', {
      dataDirectory: directory,
      onEvent: (e) => events.push(e),
    });
    expect(result.examples).toEqual([
      { id: '1', textA: 'What is "it"?', textB: 'Is it "that"?', label: 1 },
      { id: '4', textA: 'C?', textB: 'D?', label: 0 },
    ]);
    expect(result.skipped).toBe(3);
    expect(result.skippedRows.map((row) => row.line)).toEqual([3, 4, 5]);
    expect(result.skippedRows[1]?.reason).toMatch(/found "maybe"/);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ type: 'warning-raise' });
    expect((events[0] as { message: string }).message).toMatch(
      /skipped 3 malformed row\(s\).*official size is 40430/,
    );
    await expect(readSplit('qqp', 'dev', { dataDirectory: directory, strict: true })).rejects.toThrow(
      FormatError,
    );
  });

  it('test splits have no labels', async () => {
    await write(
      'rte',
      'test.tsv',
      'index\tsentence1\tsentence2\n0\tA "quoted" premise.\tA hypothesis.\n1\tB.\tC.\n',
    );
    const { examples } = await readSplit('rte', 'test', { dataDirectory: directory });
    expect(examples).toEqual([
      { id: '0', textA: 'A "quoted" premise.', textB: 'A hypothesis.', label: null },
      { id: '1', textA: 'B.', textB: 'C.', label: null },
    ]);
  });

  it('MNLI: gold_label is read by header name (the last column), ignoring annotator labels', () => {
    const task = getTask('mnli');
    const header =
      'index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tlabel2\tlabel3\tlabel4\tlabel5\tgold_label';
    const row =
      '7\t1\t1e\tfiction\t(x)\t(y)\t(X)\t(Y)\tHe said "no.\tHe refused.\tneutral\tentailment\tentailment\tentailment\tneutral\tentailment';
    const result = parseSplit(task, getSplit(task, 'dev_matched'), `${header}\n${row}\n`);
    expect(result.examples).toEqual([{ id: '7', textA: 'He said "no.', textB: 'He refused.', label: 1 }]);
  });

  it('a header without an expected column is a FormatError naming it', () => {
    const task = getTask('rte');
    expect(() => parseSplit(task, getSplit(task, 'dev'), 'index\tpremise\thypothesis\tlabel\n')).toThrow(
      /a column named "sentence1"/,
    );
  });

  it('STS-B: an unparsable score is skipped and counted', () => {
    const task = getTask('stsb');
    const header = 'index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore';
    const text = `${header}\n0\tg\tf\ty\t0\tn\tn\tA.\tB.\t3.2\n1\tg\tf\ty\t1\tn\tn\tC.\tD.\tn/a\n`;
    const result = parseSplit(task, getSplit(task, 'train'), text);
    expect(result.examples.map((example) => example.label)).toEqual([3.2]);
    expect(result.skipped).toBe(1);
  });

  it('streams large files: the same examples as parsing the whole text, across 1 MB chunk boundaries', async () => {
    // Multi-byte characters everywhere, so some straddle the stream's chunk boundaries; CRLF; BOM.
    const rows = Array.from(
      { length: 30_000 },
      (_, i) => `${i}\tÜber «${i}» — ünïcödé 🙂\tB ${'é'.repeat(i % 7)}\t${i % 2}`,
    );
    const text = `\uFEFFindex\tsentence1\tsentence2\tlabel\r\n${rows.join('\r\n')}`;
    await write('wnli', 'train.tsv', text);
    const streamed = await readSplit('wnli', 'train', { dataDirectory: directory });
    const task = getTask('wnli');
    const whole = parseSplit(task, getSplit(task, 'train'), text);
    expect(text.length).toBeGreaterThan(1 << 20);
    expect(streamed.examples).toHaveLength(30_000);
    expect(streamed.skipped).toBe(0);
    expect(JSON.stringify(streamed.examples)).toBe(JSON.stringify(whole.examples));
    expect(streamed.examples[29_999]).toEqual({
      id: '29999',
      textA: 'Über «29999» — ünïcödé 🙂',
      textB: 'B éééé',
      label: 1,
    });
  });

  it('a missing file names the file and the command that fetches it', async () => {
    const error = await readSplit('mnli', 'train', { dataDirectory: directory }).catch((e) => e);
    expect(error).toBeInstanceOf(MissingResourceError);
    expect(error.message).toContain(join(directory, 'MNLI', 'train.tsv'));
    expect(error.message).toContain(`diffprune data --download mnli --data ${JSON.stringify(directory)}`);
  });
});
