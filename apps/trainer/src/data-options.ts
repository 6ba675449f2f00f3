import { InvalidArgumentError } from '@diffprune/core';
import type { Command } from 'commander';

/** The user-data flags train, eval and predict share (HF run_glue's names). */
export interface DataFileOptions {
  textFields?: string;
  labelField?: string;
  skipBadRows?: boolean;
}

/** Adds `--text-fields`, `--label-field` and `--skip-bad-rows` to a command. */
export function addDataFileOptions(command: Command, withLabel = true): Command {
  command
    .option(
      '--text-fields <a[,b]>',
      'the text field, or two for a pair (default: text, else sentence1,sentence2, else sentence)',
    )
    .option(
      '--skip-bad-rows',
      'leave out rows with a missing field, empty text or unknown label (counted); default: stop with an error naming file, line and field',
    );
  if (withLabel) command.option('--label-field <name>', 'the label field (default: label)');
  return command;
}

/** `--text-fields a,b` as a list of one or two names. */
export function textFieldList(value: string | undefined): string[] | undefined {
  if (value === undefined) return undefined;
  const fields = value.split(',').map((f) => f.trim());
  if (fields.length > 2 || fields.some((f) => f === ''))
    throw new InvalidArgumentError({
      argument: '--text-fields',
      expected: 'one or two field names, comma-separated',
      found: value,
    });
  return fields;
}

/** The dataset-reading options of {@link DataFileOptions}. */
export function readOptions(options: DataFileOptions) {
  const textFields = textFieldList(options.textFields);
  return {
    ...(textFields ? { textFields } : {}),
    ...(options.labelField ? { labelField: options.labelField } : {}),
    ...(options.skipBadRows ? { skipBadRows: true } : {}),
  };
}

/** Exactly one of `--task` and `--<file flag>`. */
export function checkTaskOrFile(task: string | undefined, file: string | undefined, fileFlag: string): void {
  if ((task === undefined) === (file === undefined))
    throw new InvalidArgumentError({
      argument: `--task / ${fileFlag}`,
      expected: `exactly one: a GLUE task (--task) or your own data (${fileFlag})`,
      found: task === undefined ? 'neither' : 'both',
    });
}
