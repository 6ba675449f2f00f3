import { Command } from 'commander';
import { registerStepCommand } from './step/command.js';

// Every command is registered here, explicitly: one line per command.
const program = new Command('diffprune-bench')
  .description('Benchmarks for diffprune: reproduce the paper table at a chosen scale; time training steps')
  .showHelpAfterError();

program
  .command('run')
  .description('run a preset of the paper comparison (not implemented yet)')
  .option('--preset <name>', 'preset', 'offline-tiny')
  .action(() => {
    process.stderr.write(
      'diffprune-bench run: not implemented yet. The trainer and benchmark apps are still being built.\n',
    );
    process.exitCode = 2;
  });

registerStepCommand(program);

await program.parseAsync(process.argv);
