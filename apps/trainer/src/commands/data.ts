import type { Command } from 'commander';

/** Registers `diffprune data`. Not implemented yet: see the issue that owns it. */
export function registerDataCommand(program: Command): void {
  program
    .command('data')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      process.stderr.write('diffprune data: not implemented yet\n');
      process.exitCode = 2;
    });
}
