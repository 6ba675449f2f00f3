import { DiffpruneError } from '@diffprune/core';

/** A task name that is not registered. */
export class UnknownTaskError extends DiffpruneError {
  readonly task: string;
  readonly available: string[];

  constructor(options: { task: string; available: string[] }) {
    super(
      'unknown-task',
      `no task named ${JSON.stringify(options.task)} is registered; expected one of ${
        options.available.length > 0 ? options.available.join(', ') : '(none: register a task diff first)'
      }`,
    );
    this.task = options.task;
    this.available = options.available;
  }
}

/** A request with more inputs than one request may carry. */
export class TooManyInputsError extends DiffpruneError {
  readonly found: number;
  readonly limit: number;

  constructor(options: { found: number; limit: number }) {
    super(
      'too-many-inputs',
      `a request may carry at most ${options.limit} inputs; found ${options.found}: split it into several requests`,
    );
    this.found = options.found;
    this.limit = options.limit;
  }
}

/** The prediction queue is full: the caller should retry after `retryAfterMs`. */
export class QueueFullError extends DiffpruneError {
  readonly queued: number;
  readonly capacity: number;
  readonly retryAfterMs: number;

  constructor(options: { queued: number; capacity: number; retryAfterMs: number }) {
    super(
      'queue-full',
      `the prediction queue holds ${options.queued} of at most ${options.capacity} inputs; retry in ${Math.ceil(options.retryAfterMs / 1000)} s`,
    );
    this.queued = options.queued;
    this.capacity = options.capacity;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** The queue was closed (shutting down): no new requests are admitted. */
export class QueueClosedError extends DiffpruneError {
  constructor() {
    super('queue-closed', 'the prediction queue is closed (the server is shutting down); retry elsewhere');
  }
}
