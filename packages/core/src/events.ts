/**
 * Everything long-running in diffprune reports progress through typed events (noun-verb names).
 * Libraries never print; apps render these (progress bars, JSONL logs).
 */

export type TrainingStage = 'finetune' | 'search' | 'projection' | 'fixed-mask';

export interface BackendSelectEvent {
  type: 'backend-select';
  backend: string;
  reason: string;
  /** False when the active backend is a known slow path. */
  fast: boolean;
}

export interface DownloadStartEvent {
  type: 'download-start';
  url: string;
  file: string;
  totalBytes: number | undefined;
  resumedFrom: number;
}

export interface DownloadProgressEvent {
  type: 'download-progress';
  url: string;
  file: string;
  receivedBytes: number;
  totalBytes: number | undefined;
}

export interface DownloadEndEvent {
  type: 'download-end';
  url: string;
  file: string;
  bytes: number;
  sha256: string;
}

export interface RunStartEvent {
  type: 'run-start';
  task: string;
  method: string;
  backend: string;
  settings: Record<string, unknown>;
}

export interface StageStartEvent {
  type: 'stage-start';
  stage: TrainingStage;
  totalSteps: number;
  startStep: number;
}

export interface StepEndEvent {
  type: 'step-end';
  stage: TrainingStage;
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  taskLoss: number;
  /** Expected number of nonzero gates (stage 1 of diff pruning only). */
  expectedL0?: number;
  /** Share of diff entries currently nonzero, over gated parameters. */
  density?: number;
  learningRate: number;
  examplesPerSecond: number;
  elapsedMs: number;
}

export interface EvalEndEvent {
  type: 'eval-end';
  stage: TrainingStage;
  step: number;
  metrics: Record<string, number>;
  selectionMetric: string;
  isBest: boolean;
}

export interface ProjectionEndEvent {
  type: 'projection-end';
  targetDensity: number;
  density: number;
  kept: number;
  total: number;
}

export interface CheckpointSaveEvent {
  type: 'checkpoint-save';
  stage: TrainingStage;
  step: number;
  path: string;
}

export interface CheckpointLoadEvent {
  type: 'checkpoint-load';
  stage: TrainingStage;
  step: number;
  path: string;
}

export interface StageEndEvent {
  type: 'stage-end';
  stage: TrainingStage;
  steps: number;
  elapsedMs: number;
}

export interface RunEndEvent {
  type: 'run-end';
  task: string;
  method: string;
  metrics: Record<string, number>;
  wallTimeMs: number;
}

export interface RunInterruptEvent {
  type: 'run-interrupt';
  step: number;
  checkpoint: string | undefined;
}

export interface WarningEvent {
  type: 'warning-raise';
  message: string;
}

export type DiffpruneEvent =
  | BackendSelectEvent
  | DownloadStartEvent
  | DownloadProgressEvent
  | DownloadEndEvent
  | RunStartEvent
  | StageStartEvent
  | StepEndEvent
  | EvalEndEvent
  | ProjectionEndEvent
  | CheckpointSaveEvent
  | CheckpointLoadEvent
  | StageEndEvent
  | RunEndEvent
  | RunInterruptEvent
  | WarningEvent;

export type DiffpruneEventType = DiffpruneEvent['type'];

export type EventListener = (event: DiffpruneEvent) => void;

/** Calls every listener; a listener that is undefined is skipped. */
export function emitTo(listener: EventListener | undefined, event: DiffpruneEvent): void {
  if (listener) listener(event);
}
