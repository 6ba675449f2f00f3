import type { Command } from 'commander';

/** Registers `diffprune predict`. Not implemented yet: see the issue that owns it. */
export function registerPredictCommand(program: Command): void {
  program
    .command('predict')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      process.stderr.write('diffprune predict: not implemented yet\n');
      process.exitCode = 2;
    });
}
