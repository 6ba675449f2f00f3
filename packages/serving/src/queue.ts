import { InvalidArgumentError } from '@diffprune/core';
import { QueueClosedError, QueueFullError, TooManyInputsError } from './errors.js';
import type { MultiTaskModel, TaskHandle, TaskInput, TaskPredictions } from './multi-task.js';

export interface PredictionQueueOptions {
  /** Inputs one request may carry (default 64). */
  maxRequestInputs?: number;
  /** Inputs one forward group may take from a task's queue (default 64). */
  maxBatchInputs?: number;
  /** Inputs waiting in all queues together before new requests are refused (default 1024). */
  maxQueuedInputs?: number;
  /** How long to wait for more requests of the same task before running a group (default 0: the next tick). */
  maxWaitMs?: number;
  /**
   * Batch requests of different tasks together (default true, by measurement: see the package
   * README): a group takes the oldest waiting requests whatever their task, and one forward pass
   * applies each row's own task version (`MultiTaskModel.predictMany`; a group of one task version
   * runs `predict`'s path). false: a group is one task version's requests (tasks take turns, oldest
   * first).
   */
  crossTask?: boolean;
}

interface Pending {
  /** Admission order: groups take the oldest first. */
  seq: number;
  inputs: readonly TaskInput[];
  resolve: (value: TaskPredictions) => void;
  reject: (error: unknown) => void;
}

/**
 * Micro-batching over a {@link MultiTaskModel} with a bounded queue. A request is pinned
 * to its task's version when it is admitted (a replaced diff answers the requests it admitted, even
 * in a group with the new version). By default (`crossTask`) a group is the oldest waiting requests
 * of any tasks, one forward pass with each row's own task version; with `crossTask: false` it is one
 * task version's requests. Groups run one at a time, oldest first. When the queue is full, `submit` throws `QueueFullError` with a
 * retry delay estimated from recent throughput.
 */
export class PredictionQueue {
  readonly model: MultiTaskModel;
  readonly maxRequestInputs: number;
  readonly maxBatchInputs: number;
  readonly maxQueuedInputs: number;
  readonly maxWaitMs: number;
  readonly crossTask: boolean;
  private admitted = 0;
  private readonly queues = new Map<TaskHandle, Pending[]>();
  private queued = 0;
  private running = false;
  private scheduled = false;
  private closed = false;
  private idle: (() => void)[] = [];
  /** Inputs per millisecond, smoothed: for Retry-After. */
  private rate = 0;

  constructor(model: MultiTaskModel, options: PredictionQueueOptions = {}) {
    this.model = model;
    const positive = (name: string, value: number | undefined, fallback: number, min = 1) => {
      const v = value ?? fallback;
      if (!Number.isFinite(v) || v < min)
        throw new InvalidArgumentError({ argument: name, expected: `a number ≥ ${min}`, found: v });
      return v;
    };
    this.maxRequestInputs = positive('maxRequestInputs', options.maxRequestInputs, 64);
    this.maxBatchInputs = positive('maxBatchInputs', options.maxBatchInputs, 64);
    this.maxQueuedInputs = positive('maxQueuedInputs', options.maxQueuedInputs, 1024);
    this.maxWaitMs = positive('maxWaitMs', options.maxWaitMs, 0, 0);
    this.crossTask = options.crossTask ?? true;
  }

  /** Inputs waiting (not yet running). */
  get depth(): number {
    return this.queued;
  }

  /**
   * Admits a request: pins the task's current version now (`UnknownTaskError` if there is none),
   * refuses with `TooManyInputsError`, `QueueFullError` or `QueueClosedError`, and resolves with the
   * predictions once its group has run.
   */
  submit(task: string, inputs: readonly TaskInput[]): Promise<TaskPredictions> {
    if (this.closed) return Promise.reject(new QueueClosedError());
    if (inputs.length > this.maxRequestInputs)
      return Promise.reject(new TooManyInputsError({ found: inputs.length, limit: this.maxRequestInputs }));
    if (this.queued + inputs.length > this.maxQueuedInputs) {
      const retryAfterMs = this.rate > 0 ? Math.max(1000, this.queued / this.rate) : 1000;
      return Promise.reject(
        new QueueFullError({ queued: this.queued, capacity: this.maxQueuedInputs, retryAfterMs }),
      );
    }
    let handle: TaskHandle;
    try {
      handle = this.model.acquire(task);
    } catch (error) {
      return Promise.reject(error);
    }
    return new Promise<TaskPredictions>((resolve, reject) => {
      const list = this.queues.get(handle) ?? [];
      list.push({ seq: this.admitted++, inputs, resolve, reject });
      // A handle owns one reference per waiting request; the map keeps the order of first arrival.
      this.queues.set(handle, list);
      this.queued += inputs.length;
      this.schedule();
    });
  }

  /** Stops admitting requests; resolves once every admitted request has been answered. */
  async close(): Promise<void> {
    this.closed = true;
    await this.drain();
  }

  /** Resolves once the queue is empty and no group is running. */
  drain(): Promise<void> {
    if (!this.running && this.queued === 0 && !this.scheduled) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    const run = () => {
      this.scheduled = false;
      void this.runGroups();
    };
    if (this.maxWaitMs > 0) setTimeout(run, this.maxWaitMs);
    else setImmediate(run);
  }

  private measure(size: number, started: number): void {
    const perMs = size / Math.max(performance.now() - started, 0.01);
    this.rate = this.rate === 0 ? perMs : 0.9 * this.rate + 0.1 * perMs;
  }

  /** One group of the oldest waiting requests, any tasks, up to `maxBatchInputs` inputs. */
  private async runMixedGroup(): Promise<void> {
    const group: { handle: TaskHandle; pending: Pending }[] = [];
    let size = 0;
    for (;;) {
      let oldest: [TaskHandle, Pending[]] | undefined;
      for (const entry of this.queues) if (!oldest || entry[1][0]!.seq < oldest[1][0]!.seq) oldest = entry;
      if (!oldest) break;
      const [handle, list] = oldest;
      if (group.length > 0 && size + list[0]!.inputs.length > this.maxBatchInputs) break;
      const pending = list.shift()!;
      if (list.length === 0) this.queues.delete(handle);
      group.push({ handle, pending });
      size += pending.inputs.length;
    }
    this.queued -= size;
    const started = performance.now();
    try {
      const results = await this.model.predictMany(
        group.map((g) => ({ task: g.handle, inputs: g.pending.inputs })),
      );
      for (const [i, g] of group.entries()) g.pending.resolve(results[i]!);
    } catch (error) {
      for (const g of group) g.pending.reject(error);
    } finally {
      for (const g of group) g.handle.release();
    }
    this.measure(size, started);
    await new Promise((resolve) => setImmediate(resolve));
  }

  private async runGroups(): Promise<void> {
    this.running = true;
    try {
      while (this.queues.size > 0) {
        if (this.crossTask) {
          await this.runMixedGroup();
          continue;
        }
        const [handle, list] = this.queues.entries().next().value as [TaskHandle, Pending[]];
        const group: Pending[] = [];
        let size = 0;
        while (
          list.length > 0 &&
          (group.length === 0 || size + list[0]!.inputs.length <= this.maxBatchInputs)
        ) {
          const next = list.shift()!;
          group.push(next);
          size += next.inputs.length;
        }
        // Re-queue the rest at the back: tasks take turns, oldest first.
        this.queues.delete(handle);
        if (list.length > 0) this.queues.set(handle, list);
        this.queued -= size;
        const started = performance.now();
        try {
          const result = await this.model.predict(
            handle,
            group.flatMap((p) => p.inputs),
          );
          let offset = 0;
          for (const p of group) {
            p.resolve({ ...result, predictions: result.predictions.slice(offset, offset + p.inputs.length) });
            offset += p.inputs.length;
          }
        } catch (error) {
          for (const p of group) p.reject(error);
        } finally {
          for (let i = 0; i < group.length; i++) handle.release();
        }
        this.measure(size, started);
        // Let the event loop admit requests (and answer sockets) between groups.
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      this.running = false;
      if (this.queues.size > 0) this.schedule();
      else for (const resolve of this.idle.splice(0)) resolve();
    }
  }
}
