/** What a `MultiTaskModel` reports (libraries never print: apps render these). */
export type ServingEvent =
  | { type: 'task-registered'; task: string; version: number; replaced: boolean }
  | { type: 'task-removed'; task: string; version: number }
  | {
      type: 'batch-end';
      task: string;
      version: number;
      inputs: number;
      /** Building the task's parameters (the switch): 0 for resident overlays. */
      buildMs: number;
      /** Encoding, building, forward passes, reading the logits. */
      elapsedMs: number;
    };

export type ServingEventListener = (event: ServingEvent) => void;
