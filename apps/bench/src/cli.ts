import { describeFailure } from '@diffprune/core';
import { Command } from 'commander';
import { registerCompareCommand } from './commands/compare.js';
import { registerEncodingsCommand } from './commands/encodings.js';
import { registerExternalCommands } from './commands/external.js';
import { registerReplayCommand } from './commands/replay.js';
import { registerReportCommand } from './commands/report.js';
import { registerRunCommand } from './commands/run.js';
import { registerServeCommand } from './commands/serve.js';
import { registerStepCommand } from './step/command.js';

// Every command is registered here, explicitly: one line per command.
const program = new Command('diffprune-bench')
  .description('Benchmarks for diffprune: reproduce the paper table at a chosen scale; time training steps')
  .showHelpAfterError();

registerRunCommand(program);
registerReportCommand(program);
registerExternalCommands(program);
registerCompareCommand(program);
registerReplayCommand(program);
registerStepCommand(program);
registerServeCommand(program);
registerEncodingsCommand(program);

// Any error is one line (exit 1; 130 for Ctrl-C); DIFFPRUNE_DEBUG=1 adds the stack.
try {
  await program.parseAsync(process.argv);
} catch (error) {
  const { text, exitCode } = describeFailure(error);
  process.stderr.write(text);
  process.exitCode = exitCode;
}
