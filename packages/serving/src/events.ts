/** What a `MultiTaskModel` reports (libraries never print: apps render these). */
export type ServingEvent =
  | { type: 'task-registered'; task: string; version: number; replaced: boolean }
  | { type: 'task-removed'; task: string; version: number }
  | { type: 'batch-end'; task: string; version: number; inputs: number; elapsedMs: number };

export type ServingEventListener = (event: ServingEvent) => void;
