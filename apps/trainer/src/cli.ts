import { Command } from 'commander';
import { reportFailure } from './cli-support.js';
import { registerDataCommand } from './commands/data.js';
import { registerDiffCommand } from './commands/diff.js';
import { registerEvalCommand } from './commands/eval.js';
import { registerPredictCommand } from './commands/predict.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSubmitCommand } from './commands/submit.js';
import { registerTrainCommand } from './commands/train.js';

// Every command is registered here, explicitly: one line per command.
const program = new Command('diffprune')
  .description('Diff pruning for TensorFlow.js: sparse, storage-cheap task finetuning of pretrained encoders')
  .showHelpAfterError();

registerTrainCommand(program);
registerEvalCommand(program);
registerPredictCommand(program);
registerSubmitCommand(program);
registerDataCommand(program);
registerDiffCommand(program);
registerServeCommand(program);

// Errors outside an action (an option's parser, e.g. `--batch-size abc`) get the same one line.
try {
  await program.parseAsync(process.argv);
} catch (error) {
  reportFailure(error);
}
