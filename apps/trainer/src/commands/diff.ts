import type { Command } from 'commander';

/** Registers `diffprune diff`. Not implemented yet: see the issue that owns it. */
export function registerDiffCommand(program: Command): void {
  program
    .command('diff')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      process.stderr.write('diffprune diff: not implemented yet\n');
      process.exitCode = 2;
    });
}
