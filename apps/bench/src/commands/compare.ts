import { basename } from 'node:path';
import type { Command } from 'commander';
import { compareRecords } from '../compare.js';
import { readRunRecords } from '../run-preset.js';

export function registerCompareCommand(program: Command): void {
  program
    .command('compare <a> <b>')
    .description('two results directories side by side (headline metric, difference, density per run)')
    .action(async (a: string, b: string) => {
      const [left, right] = await Promise.all([readRunRecords(a), readRunRecords(b)]);
      if (left.length === 0 || right.length === 0) {
        process.stderr.write(`no run files in ${left.length === 0 ? a : b}/runs\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(`${compareRecords(left, right, [basename(a), basename(b)])}\n`);
    });
}
