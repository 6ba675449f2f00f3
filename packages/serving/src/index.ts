export { QueueClosedError, QueueFullError, TooManyInputsError, UnknownTaskError } from './errors.js';
export type { ServingEvent, ServingEventListener } from './events.js';
export { taskLabels } from './labels.js';
export type {
  InputPrediction,
  MultiTaskModelOptions,
  RegisterTaskOptions,
  SwitchingStrategy,
  TaskInfo,
  TaskInput,
  TaskPredictions,
} from './multi-task.js';
export { MultiTaskModel, TaskHandle } from './multi-task.js';
export type { PredictionQueueOptions } from './queue.js';
export { PredictionQueue } from './queue.js';
