import { fileURLToPath } from 'node:url';
import { padEncoded, rowParameter, rowParameterRead, type SlotDelta, toEncodedBatch } from '@diffprune/bert';
import {
  CheckpointMismatchError,
  DownloadError,
  InvalidArgumentError,
  type KeyShapeMismatch,
  type LoadBackboneOptions,
  type LoadedBackbone,
  lowerBound,
  type ParameterKind,
  type ParameterMap,
} from '@diffprune/core';
import {
  type BaseFilesHashes,
  BaseMismatchError,
  checkBaseFiles,
  diffStats,
  fingerprintBaseFiles,
  fingerprintCheckpoint,
  readDiff,
  type ScatterAdd,
  type SparseDiff,
  scatterAddLoop,
  type TensorArrays,
} from '@diffprune/sparse-diff';
import { headSizeOf, loadBackbone, parameterArrays } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import { UnknownTaskError } from './errors.js';
import type { ServingEvent, ServingEventListener } from './events.js';
import { taskLabels } from './labels.js';

/** One input: a text, or a `[text, text]` pair. */
export type TaskInput = string | readonly [string, string];

/** One prediction. Classification: label name, index and softmax scores; regression: the score. */
export interface InputPrediction {
  logits: number[];
  label?: string;
  labelIndex?: number;
  scores?: number[];
  score?: number;
}

/** `predict`'s answer: one prediction per input, in input order, and the task's label names. */
export interface TaskPredictions {
  task: string;
  /** The version of the task's diff that answered (1 for the first registration, +1 per replacement). */
  version: number;
  /** Label names by index ([] for regression). */
  labels: string[];
  predictions: InputPrediction[];
}

/** What a registered task is: its diff's provenance and size, its labels. */
export interface TaskInfo {
  name: string;
  version: number;
  /** The diff's provenance task (e.g. `sst2`). */
  task: string;
  method: string;
  /** Stored entries ÷ all parameters (head counted fully, as the paper counts). */
  density: number;
  nonzero: number;
  kind: 'classification' | 'regression';
  labels: string[];
  baseModel: { id: string; revision: string };
  createdAt: string;
  /** Where the diff came from: a path, a URL or `bytes`. */
  source: string;
  /** Dev metrics, when the caller supplied them (e.g. the run's metrics.json). */
  metrics?: Record<string, number>;
}

/**
 * How a batch gets its task's parameters.
 * - `per-batch` (default): the touched tensors are rebuilt from the base and δ for every batch (the
 *   token embedding: only the batch's rows), then dropped: memory per task is its diff.
 * - `resident`: every task keeps its touched tensors built: no work per batch, a model's worth of
 *   memory per task when δ touches every tensor (diff pruning's usually does).
 */
export type SwitchingStrategy = 'per-batch' | 'resident';

export interface MultiTaskModelOptions extends Partial<Omit<LoadBackboneOptions, 'head'>> {
  strategy?: SwitchingStrategy;
  /** Max tokens per input, special tokens included (default 128, or the model's positions if fewer). */
  maxLength?: number;
  /** Inputs per forward pass (default 32). */
  batchSize?: number;
  /** A faster scatter-add (e.g. @diffprune/native's `nativeScatterAdd()`, passed by the app). */
  scatterAdd?: ScatterAdd;
  /** Typed events (tasks registered and removed, batches run). */
  onServingEvent?: ServingEventListener;
}

export interface RegisterTaskOptions {
  /** Dev metrics to report with the task (e.g. the `metrics` of the run's metrics.json). */
  metrics?: Record<string, number>;
  /** A name for error messages and `TaskInfo.source` when registering bytes. */
  sourceName?: string;
}

interface SparseDelta {
  name: string;
  indices: Uint32Array;
  values: Float32Array;
}

let handles = 0;

/** One registered version of a task: immutable; disposed once retired and no longer in use. */
export class TaskHandle {
  readonly info: TaskInfo;
  /** @internal Unique per version (orders a mixed batch's task slots; keys its reused per-slot tables). */
  readonly serial = ++handles;
  /** @internal */ readonly deltas: SparseDelta[];
  /** @internal The sparse δs by tensor name. */
  readonly deltaOf: ReadonlyMap<string, SparseDelta>;
  /** @internal */ readonly dense: ParameterMap;
  /** @internal The dense tensors' values (for cross-task batches). */
  readonly denseValues = new Map<string, { values: Float32Array; shape: number[] }>();
  /** @internal A dense value's difference from the base, as a δ (built once, for cross-task batches). */
  readonly replacementDeltas = new Map<string, SparseDelta>();
  /** @internal base + δ of a bias, LayerNorm or head tensor (built once, for cross-task batches). */
  readonly slotValues = new Map<string, { values: Float32Array; shape: number[] }>();
  /** @internal */ resident: ParameterMap | undefined;
  private users = 0;
  private retired = false;
  private disposed = false;

  /** @internal */
  constructor(info: TaskInfo, deltas: SparseDelta[], dense: ParameterMap) {
    this.info = info;
    this.deltas = deltas;
    this.deltaOf = new Map(deltas.map((d) => [d.name, d]));
    this.dense = dense;
  }

  /** Keeps this version alive (e.g. for a queued request) until `release()`. */
  acquire(): this {
    if (this.disposed)
      throw new InvalidArgumentError({
        argument: 'task',
        expected: 'a live task version',
        found: `${this.info.name} v${this.info.version} (disposed)`,
      });
    this.users++;
    return this;
  }

  release(): void {
    this.users--;
    if (this.users <= 0 && this.retired) this.dispose();
  }

  /** @internal Replaced or removed: disposed as soon as no request uses it. */
  retire(): void {
    this.retired = true;
    if (this.users <= 0) this.dispose();
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  private dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose(Object.values(this.dense));
    if (this.resident) tf.dispose(Object.values(this.resident));
  }
}

/** Reads a diff from a path, an http(s) or file URL, or bytes. */
async function readSource(
  source: string | URL | Uint8Array,
  sourceName: string | undefined,
): Promise<{ diff: SparseDiff; where: string }> {
  if (source instanceof Uint8Array) {
    const where = sourceName ?? 'bytes';
    return { diff: readDiff(source, { path: where }), where };
  }
  const url =
    source instanceof URL ? source : /^(https?|file):\/\//.test(source) ? new URL(source) : undefined;
  if (url && url.protocol !== 'file:') {
    let response: Response;
    try {
      response = await fetch(url);
    } catch (error) {
      throw new DownloadError({ url: url.href, reason: (error as Error).message, cause: error });
    }
    if (!response.ok)
      throw new DownloadError({ url: url.href, reason: `HTTP ${response.status}`, status: response.status });
    const where = sourceName ?? url.href;
    return { diff: readDiff(new Uint8Array(await response.arrayBuffer()), { path: where }), where };
  }
  const path = url ? fileURLToPath(url) : (source as string);
  return { diff: await readDiff(path), where: sourceName ?? path };
}

/**
 * Many tasks, one base: the base model is loaded once and frozen; each task is a sparse diff
 * registered under a name; `predict(task, inputs)` answers with that task's parameters
 * (base + δ). Replacing a task's diff makes a new version: requests holding the old one finish on
 * it. Call `dispose()` when done.
 */
export class MultiTaskModel {
  readonly loaded: LoadedBackbone;
  /** sha256 of the base checkpoint's tensors: a diff made for another base is refused. */
  readonly fingerprint: string;
  /** The base's config and tokenizer hashes: a diff that records others is refused (when known). */
  readonly baseFiles: BaseFilesHashes | undefined;
  readonly strategy: SwitchingStrategy;
  private readonly base: TensorArrays;
  /** Each parameter's kind (embedding tables are looked up per row in a mixed batch). */
  private readonly kinds: ReadonlyMap<string, ParameterKind>;
  private readonly handles = new Map<string, TaskHandle>();
  private readonly versions = new Map<string, number>();
  private readonly options: MultiTaskModelOptions;
  private readonly listeners = new Set<ServingEventListener>();
  /** Reused per-batch arrays of touched tensors, by name. */
  private readonly buffers = new Map<string, Float32Array>();
  /**
   * Reused arrays of per-slot values for cross-task batches, by name, each with the task versions
   * (serials, in slot order) whose values it holds.
   */
  private readonly stacks = new Map<string, { buffer: Float32Array; key: string }>();
  /** The last mixed batch's override plan (`rowPlan`), for its slots' key. */
  private plan: { key: string; entries: RowPlanEntry[] } | undefined;

  private constructor(
    loaded: LoadedBackbone,
    base: TensorArrays,
    fingerprint: string,
    options: MultiTaskModelOptions,
    baseFiles: BaseFilesHashes | undefined,
  ) {
    this.loaded = loaded;
    this.base = base;
    this.kinds = new Map(
      loaded.backbone.parameterSpecs({ numLabels: 1 }).map((spec) => [spec.name, spec.kind]),
    );
    this.fingerprint = fingerprint;
    this.baseFiles = baseFiles;
    this.strategy = options.strategy ?? 'per-batch';
    this.options = options;
  }

  /** Loads a base model (directory or hub id) once; `fingerprint` identifies it to diffs. */
  static async load(model: string, options: MultiTaskModelOptions = {}): Promise<MultiTaskModel> {
    const {
      strategy: _s,
      maxLength: _m,
      batchSize: _b,
      scatterAdd: _a,
      onServingEvent: _e,
      ...hub
    } = options;
    // The head comes from each task's diff; the base keeps the encoder (and any head tensors of a
    // finetuned base that fit, e.g. RoBERTa's classifier.dense, which a diff may replace or change).
    const loaded = await loadBackbone(model, { ...hub, head: { numLabels: 1 }, replaceMismatchedHead: true });
    const created = new Set(loaded.created);
    const params: ParameterMap = {};
    for (const [name, tensor] of Object.entries(loaded.params)) {
      if (created.has(name)) tensor.dispose();
      else params[name] = tensor;
    }
    const base = await parameterArrays(params);
    const fingerprint = await fingerprintCheckpoint(loaded.source.directory);
    const baseFiles = await fingerprintBaseFiles(loaded.source.directory);
    return new MultiTaskModel({ ...loaded, params, created: [] }, base, fingerprint, options, baseFiles);
  }

  /**
   * Wraps an already loaded base (e.g. a random model in tests) with its fingerprint and, when
   * known, its config and tokenizer hashes (`fingerprintBaseFiles`).
   */
  static async fromLoaded(
    loaded: LoadedBackbone,
    fingerprint: string,
    options: MultiTaskModelOptions = {},
    baseFiles?: BaseFilesHashes,
  ): Promise<MultiTaskModel> {
    const base = await parameterArrays(loaded.params);
    return new MultiTaskModel(loaded, base, fingerprint, options, baseFiles);
  }

  /**
   * Registers (or replaces) task `name` from a diff file path, an http(s)/file URL or the diff's
   * bytes. Refused with `BaseMismatchError` when the diff was made for another base, and with
   * `CheckpointMismatchError` when its tensors do not fit the base.
   */
  async register(
    name: string,
    source: string | URL | Uint8Array,
    options: RegisterTaskOptions = {},
  ): Promise<TaskInfo> {
    if (name === '' || /[/\\]/.test(name))
      throw new InvalidArgumentError({
        argument: 'name',
        expected: 'a task name without slashes',
        found: name,
      });
    const { diff, where } = await readSource(source, options.sourceName);
    const handle = this.makeHandle(name, diff, where, options);
    const previous = this.handles.get(name);
    this.handles.set(name, handle);
    this.versions.set(name, handle.info.version);
    previous?.retire();
    this.emit({
      type: 'task-registered',
      task: name,
      version: handle.info.version,
      replaced: previous !== undefined,
    });
    return handle.info;
  }

  /** Removes a task; requests already holding it finish. Returns whether it was registered. */
  unregister(name: string): boolean {
    const handle = this.handles.get(name);
    if (!handle) return false;
    this.handles.delete(name);
    handle.retire();
    this.emit({ type: 'task-removed', task: name, version: handle.info.version });
    return true;
  }

  /** Adds an event listener (besides `onServingEvent`); returns its removal. */
  subscribe(listener: ServingEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: ServingEvent): void {
    this.options.onServingEvent?.(event);
    for (const listener of this.listeners) listener(event);
  }

  /** Every registered task, by name. */
  tasks(): TaskInfo[] {
    return [...this.handles.values()].map((h) => h.info).sort((a, b) => a.name.localeCompare(b.name));
  }

  has(name: string): boolean {
    return this.handles.has(name);
  }

  /** The current version of a task, kept alive until `release()` (pins it against replacement). */
  acquire(name: string): TaskHandle {
    const handle = this.handles.get(name);
    if (!handle) throw new UnknownTaskError({ task: name, available: [...this.handles.keys()].sort() });
    return handle.acquire();
  }

  /** Predicts `inputs` with a task (its current version, or the pinned `handle`). */
  async predict(task: string | TaskHandle, inputs: readonly TaskInput[]): Promise<TaskPredictions> {
    const handle = typeof task === 'string' ? this.acquire(task) : task.acquire();
    try {
      const logits = this.logits(handle, inputs);
      const { labels, kind } = handle.info;
      return {
        task: handle.info.name,
        version: handle.info.version,
        labels,
        predictions: logits.map((row) =>
          kind === 'regression' ? { logits: row, score: row[0]! } : classify(row, labels),
        ),
      };
    } finally {
      handle.release();
    }
  }

  /**
   * Predicts requests of several tasks together (cross-task batching): inputs of every request are
   * batched by length regardless of task, and each forward pass applies each row's own task δ inside
   * the layers (`rowParameter` from @diffprune/bert) and its own head. Answers equal `predict`'s
   * (logits within 1e-5). A batch of one task version runs `predict`'s path.
   */
  async predictMany(
    requests: readonly { task: string | TaskHandle; inputs: readonly TaskInput[] }[],
  ): Promise<TaskPredictions[]> {
    const handles: TaskHandle[] = [];
    try {
      for (const r of requests)
        handles.push(typeof r.task === 'string' ? this.acquire(r.task) : r.task.acquire());
      const all =
        new Set(handles).size === 1
          ? this.logits(
              handles[0]!,
              requests.flatMap((r) => r.inputs),
            )
          : this.mixedLogits(
              requests.flatMap((r, i) => r.inputs.map((input) => ({ handle: handles[i]!, input }))),
            );
      const logits: number[][][] = [];
      let offset = 0;
      for (const r of requests) {
        logits.push(all.slice(offset, offset + r.inputs.length));
        offset += r.inputs.length;
      }
      return handles.map((handle, i) => {
        const { labels, kind } = handle.info;
        return {
          task: handle.info.name,
          version: handle.info.version,
          labels,
          predictions: logits[i]!.map((row) =>
            kind === 'regression' ? { logits: row, score: row[0]! } : classify(row, labels),
          ),
        };
      });
    } finally {
      for (const handle of handles) handle.release();
    }
  }

  /** Disposes the base and every task (requests in flight must have finished). */
  dispose(): void {
    for (const handle of this.handles.values()) handle.retire();
    this.handles.clear();
    tf.dispose(Object.values(this.loaded.params));
  }

  private makeHandle(
    name: string,
    diff: SparseDiff,
    source: string,
    options: RegisterTaskOptions,
  ): TaskHandle {
    if (diff.provenance.baseFingerprint !== this.fingerprint)
      throw new BaseMismatchError({
        expected: diff.provenance.baseFingerprint,
        found: this.fingerprint,
        context: `task ${name} (${source})`,
      });
    checkBaseFiles(diff, this.baseFiles, `task ${name} (${source})`);
    const numLabels = headSizeOf(diff);
    if (numLabels === undefined)
      throw new InvalidArgumentError({
        argument: source,
        expected:
          "a diff with a classifier head (its family's head output, e.g. classifier.bias or classifier.out_proj.bias)",
        found: 'none',
      });
    const specs = this.loaded.backbone.parameterSpecs({ numLabels });
    const headNames = new Set(specs.filter((s) => s.head).map((s) => s.name));
    const specShapes = new Map(specs.map((s) => [s.name, s.shape]));
    const missing: string[] = [];
    const mismatched: KeyShapeMismatch[] = [];
    const deltas: SparseDelta[] = [];
    const dense: ParameterMap = {};
    for (const t of diff.tensors) {
      const used = specShapes.get(t.name);
      // A diff made from checkpoint files lists tensors the backbone does not use (an MLM head).
      if (!used) {
        if (t.kind === 'sparse' && t.indices.length === 0) continue;
        if (t.kind === 'sparse' || t.kind === 'replace') missing.push(t.name);
        continue;
      }
      if (t.shape.length !== used.length || t.shape.some((d, i) => d !== used[i]))
        mismatched.push({ name: t.name, expected: [...used], found: t.shape });
      else if (t.kind === 'sparse') {
        if (t.indices.length > 0) deltas.push({ name: t.name, indices: t.indices, values: t.values });
      } else dense[t.name] = tf.tensor(t.values, t.shape, 'float32');
    }
    const lacking = [...headNames].filter((n) => !dense[n] && !this.base[n]);
    if (missing.length + mismatched.length + lacking.length > 0) {
      tf.dispose(Object.values(dense));
      throw new CheckpointMismatchError({
        source,
        missing: [...missing, ...lacking],
        unexpected: [],
        mismatched,
      });
    }
    const stats = diffStats(diff);
    const kind = numLabels === 1 ? 'regression' : 'classification';
    const info: TaskInfo = {
      name,
      version: (this.versions.get(name) ?? 0) + 1,
      task: diff.provenance.task,
      method: diff.provenance.method,
      density: stats.density,
      nonzero: stats.nnz,
      kind,
      labels: kind === 'regression' ? [] : taskLabels(diff, numLabels),
      baseModel: diff.provenance.baseModel,
      createdAt: diff.provenance.createdAt,
      source,
      ...(options.metrics ? { metrics: options.metrics } : {}),
    };
    const handle = new TaskHandle(info, deltas, dense);
    for (const t of diff.tensors)
      if (dense[t.name])
        handle.denseValues.set(t.name, { values: Float32Array.from(t.values), shape: [...t.shape] });
    if (this.strategy === 'resident') handle.resident = this.touched(handle, false);
    return handle;
  }

  /**
   * A task's δ over a base tensor: its sparse δ, or its dense replacement minus the base (computed
   * once per task version).
   */
  private tableDelta(handle: TaskHandle, name: string): SparseDelta | undefined {
    const dense = handle.denseValues.get(name);
    if (!dense) return handle.deltaOf.get(name);
    const cached = handle.replacementDeltas.get(name);
    if (cached) return cached;
    const base = this.base[name]!.values;
    const indices: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < base.length; i++) {
      const difference = Math.fround(dense.values[i]! - base[i]!);
      if (difference !== 0) {
        indices.push(i);
        values.push(difference);
      }
    }
    const delta = { name, indices: Uint32Array.from(indices), values: Float32Array.from(values) };
    handle.replacementDeltas.set(name, delta);
    return delta;
  }

  /**
   * A reused array of `size` elements for a batch's per-slot values of `name` (a view of one that only
   * grows): the tensors made from it are disposed before the next batch builds. `filled`: it already
   * holds the values of the task versions `key` (a new array never does).
   */
  private stacked(name: string, size: number, key: string): { table: Float32Array; filled: boolean } {
    let stack = this.stacks.get(name);
    if (!stack || stack.buffer.length < size) {
      stack = { buffer: new Float32Array(size), key: '' };
      this.stacks.set(name, stack);
    }
    const filled = stack.key === key;
    stack.key = key;
    return { table: stack.buffer.subarray(0, size), filled };
  }

  private scratch(name: string): Float32Array {
    let buffer = this.buffers.get(name);
    if (!buffer) {
      buffer = new Float32Array(this.base[name]!.values.length);
      this.buffers.set(name, buffer);
    }
    return buffer;
  }

  /** base + δ for every tensor δ touches (the token embedding: only `rows`, when given). */
  private touched(handle: TaskHandle, transient: boolean, rows?: Int32Array): ParameterMap {
    const scatterAdd = this.options.scatterAdd ?? scatterAddLoop;
    const table = this.loaded.backbone.tokenEmbedding;
    const out: ParameterMap = {};
    for (const delta of handle.deltas) {
      const base = this.base[delta.name]!;
      if (rows && delta.name === table) {
        out[delta.name] = tf.tensor(
          embeddingRows(base, delta, rows),
          [rows.length, base.shape[1]!],
          'float32',
        );
        continue;
      }
      // Per batch, the arrays are reused (no allocation, no garbage): the tensors made from them are
      // disposed before the next batch builds (`logits` runs synchronously from build to dispose).
      const values = transient ? this.scratch(delta.name) : base.values.slice();
      if (transient) values.set(base.values);
      scatterAdd(values, delta.indices, delta.values, 1);
      out[delta.name] = tf.tensor(values, base.shape, 'float32');
    }
    if (rows && table && !out[table]) {
      // No δ: the base's rows, or the rows of the task's own table when its diff stores it whole.
      const source = handle.denseValues.get(table) ?? this.base[table]!;
      out[table] = tf.tensor(
        embeddingRows(source, undefined, rows),
        [rows.length, source.shape[1]!],
        'float32',
      );
    }
    return out;
  }

  /** The inputs encoded (at most `maxLength` tokens), their order by length, and the batch size. */
  private encode(inputs: readonly TaskInput[]) {
    const { backbone } = this.loaded;
    const config = backbone.config as { maxPositionEmbeddings?: number };
    const maxLength = this.options.maxLength ?? Math.min(128, config.maxPositionEmbeddings ?? 128);
    const encoded = inputs.map((input) =>
      typeof input === 'string'
        ? backbone.encoder.encode(input, null, { maxLength })
        : backbone.encoder.encode(input[0], input[1], { maxLength }),
    );
    const order = encoded
      .map((_, i) => i)
      .sort((a, b) => encoded[a]!.inputIds.length - encoded[b]!.inputIds.length);
    return { encoded, order, batchSize: this.options.batchSize ?? 32 };
  }

  /** Logits per input, in input order: batched by length, the task's parameters built once. */
  private logits(handle: TaskHandle, inputs: readonly TaskInput[]): number[][] {
    const { backbone } = this.loaded;
    const { encoded, order, batchSize } = this.encode(inputs);
    const out: number[][] = new Array(inputs.length);
    const table = backbone.tokenEmbedding;
    const started = performance.now();
    // Per batch strategy with a row-lookup backbone: the token embedding is substituted by the rows
    // the inputs use (ids remapped to 0…k−1: the same outputs), the rest built once for all inputs.
    const rowsOnly = this.strategy === 'per-batch' && table !== undefined;
    let rows: Int32Array | undefined;
    let position: Map<number, number> | undefined;
    if (rowsOnly) {
      rows = Int32Array.from(new Set([backbone.encoder.padId, ...encoded.flatMap((e) => e.inputIds)])).sort();
      position = new Map([...rows].map((row, i) => [row, i]));
    }
    const building = performance.now();
    const built = handle.resident ?? this.touched(handle, true, rows);
    const buildMs = performance.now() - building;
    try {
      // `built` last: a token embedding stored whole is in `handle.dense` as the full table, but the
      // ids are renumbered to the batch's rows, which `built` holds.
      const params: ParameterMap = { ...this.loaded.params, ...handle.dense, ...built };
      for (let start = 0; start < order.length; start += batchSize) {
        const indices = order.slice(start, start + batchSize);
        const chunk = indices.map((i) => encoded[i]!);
        const remapped = position
          ? chunk.map((e) => ({ ...e, inputIds: e.inputIds.map((id) => position.get(id)!) }))
          : chunk;
        const batch = toEncodedBatch(
          padEncoded(remapped, position ? position.get(backbone.encoder.padId)! : backbone.encoder.padId),
        );
        const logits = backbone.classify(params, batch, { training: false });
        const values = logits.dataSync();
        const width = logits.shape[1];
        tf.dispose([logits, batch.inputIds, batch.tokenTypeIds, batch.attentionMask]);
        indices.forEach((inputIndex, row) => {
          out[inputIndex] = Array.from(values.subarray(row * width, (row + 1) * width));
        });
      }
    } finally {
      if (!handle.resident) tf.dispose(Object.values(built));
    }
    this.emit({
      type: 'batch-end',
      task: handle.info.name,
      version: handle.info.version,
      inputs: inputs.length,
      buildMs,
      elapsedMs: performance.now() - started,
    });
    return out;
  }

  /** Logits per item, in item order: batched by length across tasks, one forward per batch. */
  private mixedLogits(items: readonly { handle: TaskHandle; input: TaskInput }[]): number[][] {
    const { backbone } = this.loaded;
    const { encoded, order, batchSize } = this.encode(items.map((item) => item.input));
    const out: number[][] = new Array(items.length);
    for (let start = 0; start < order.length; start += batchSize) {
      const indices = order.slice(start, start + batchSize);
      const started = performance.now();
      // Slots in version order: the same tasks give the same slots (their per-slot tables reused).
      const slots = [...new Set(indices.map((i) => items[i]!.handle))].sort((a, b) => a.serial - b.serial);
      const slotOf = new Map(slots.map((handle, k) => [handle, k]));
      const rowSlots = Int32Array.from(indices, (i) => slotOf.get(items[i]!.handle)!);
      const chunk = indices.map((i) => encoded[i]!);
      if (slots.length === 1) {
        const logits = this.logits(
          slots[0]!,
          indices.map((i) => items[i]!.input),
        );
        indices.forEach((inputIndex, row) => {
          out[inputIndex] = logits[row]!;
        });
        continue;
      }
      const building = performance.now();
      const overrides = this.rowOverrides(slots, rowSlots);
      const buildMs = performance.now() - building;
      try {
        const batch = toEncodedBatch(padEncoded(chunk, backbone.encoder.padId));
        const logits = backbone.classify({ ...this.loaded.params, ...overrides }, batch, { training: false });
        const values = logits.dataSync();
        const width = logits.shape[1];
        tf.dispose([logits, batch.inputIds, batch.tokenTypeIds, batch.attentionMask]);
        const unread = Object.entries(overrides)
          .filter(([, t]) => !rowParameterRead(t))
          .map(([name]) => name);
        if (unread.length > 0)
          throw new InvalidArgumentError({
            argument: 'strategy',
            expected: `a ${backbone.modelType} forward whose ops read per-row parameters (linear, layerNorm, embedding, firstRow of @diffprune/bert)`,
            found: `per-row values of ${unread.join(', ')} not read: serve this family without cross-task batching`,
          });
        indices.forEach((inputIndex, row) => {
          const numLabels =
            items[inputIndex]!.handle.info.kind === 'regression'
              ? 1
              : items[inputIndex]!.handle.info.labels.length;
          out[inputIndex] = Array.from(values.subarray(row * width, row * width + numLabels));
        });
      } finally {
        tf.dispose(Object.values(overrides));
      }
      this.emit({
        type: 'batch-end',
        task: slots.map((h) => h.info.name).join(','),
        version: Math.max(...slots.map((h) => h.info.version)),
        inputs: indices.length,
        buildMs,
        elapsedMs: performance.now() - started,
      });
    }
    return out;
  }

  /**
   * How a batch of these slots (task versions, `key`) overrides each parameter their diffs touch: the
   * same for every batch of the same slots, so kept for the last key.
   */
  private rowPlan(slots: TaskHandle[], key: string): RowPlanEntry[] {
    const names = new Set<string>();
    for (const h of slots) for (const name of [...h.deltaOf.keys(), ...h.denseValues.keys()]) names.add(name);
    const entries: RowPlanEntry[] = [];
    for (const name of names) {
      const base = this.base[name];
      const sameShape = (shape: readonly number[]) =>
        base !== undefined &&
        shape.length === base.shape.length &&
        shape.every((d, i) => d === base.shape[i]);
      if (
        base &&
        (this.kinds.get(name) === 'embedding' ||
          (base.shape.length === 2 &&
            slots.every((h) => sameShape(h.denseValues.get(name)?.shape ?? base.shape))))
      ) {
        // Embedding tables: the base and each slot's δ rows, looked up per row (the batch's ids).
        // Linear weights of the base: x·Wᵀ with each slot's δ (`sparseRowLinear`; a replaced weight
        // enters as its difference from the base), each the task's own arrays: nothing is copied per
        // batch.
        entries.push({ name, kind: 'sparse', deltas: slots.map((h) => this.tableDelta(h, name)) });
        continue;
      }
      // Biases, LayerNorm, task heads: every slot's whole value, [K, ...shape] in a reused array (the
      // slot's own dense tensor, else base + its δ, built once per task version; heads zero-padded
      // to the most labels), filled again only when the batch's task versions differ from the last
      // batch's.
      const values = slots.map((h) => this.slotValue(h, name));
      const shape = [...values[0]!.shape];
      for (const v of values) shape[0] = Math.max(shape[0]!, v.shape[0]!);
      const size = shape.reduce((a, b) => a * b, 1);
      const { table, filled } = this.stacked(name, slots.length * size, key);
      if (!filled) {
        values.forEach((v, k) => {
          const slot = table.subarray(k * size, (k + 1) * size);
          slot.set(v.values);
          if (v.values.length < size) slot.fill(0, v.values.length);
        });
      }
      entries.push({ name, kind: 'dense', shape, table });
    }
    return entries;
  }

  /**
   * A task version's whole value of `name` for a mixed batch's per-slot table: its own dense tensor,
   * else base + its δ (built once per version: small, as only biases, LayerNorm and heads come here),
   * else the base.
   */
  private slotValue(handle: TaskHandle, name: string): { values: Float32Array; shape: number[] } {
    const own = handle.denseValues.get(name) ?? handle.slotValues.get(name);
    if (own) return own;
    const base = this.base[name]!;
    const delta = handle.deltaOf.get(name);
    if (!delta) return base;
    const values = Float32Array.from(base.values);
    (this.options.scatterAdd ?? scatterAddLoop)(values, delta.indices, delta.values, 1);
    const value = { values, shape: [...base.shape] };
    handle.slotValues.set(name, value);
    return value;
  }

  /**
   * The parameters a mixed batch overrides, with per-row values: each tensor some slot's δ touches
   * (base + per-slot δ; embedding tables too, looked up per row), each dense tensor some slot's diff
   * carries (per-slot values, padded to the largest head).
   */
  private rowOverrides(slots: TaskHandle[], rowSlots: Int32Array): ParameterMap {
    const overrides: ParameterMap = {};
    const key = slots.map((h) => h.serial).join(',');
    if (this.plan?.key !== key) this.plan = { key, entries: this.rowPlan(slots, key) };
    for (const entry of this.plan.entries)
      overrides[entry.name] =
        entry.kind === 'sparse'
          ? rowParameter(tf.clone(this.loaded.params[entry.name]!), {
              kind: 'sparse',
              slots: rowSlots,
              deltas: entry.deltas,
            })
          : rowParameter(tf.zeros(entry.shape), { kind: 'dense', slots: rowSlots, table: entry.table });
    return overrides;
  }
}

/** How a mixed batch overrides one parameter: per-slot sparse δs of the base, or per-slot dense values. */
type RowPlanEntry =
  | { name: string; kind: 'sparse'; deltas: (SlotDelta | undefined)[] }
  | { name: string; kind: 'dense'; shape: number[]; table: Float32Array };

/** Rows `rows` of a [vocabulary, hidden] table, plus δ's entries in those rows when given. */
function embeddingRows(
  base: TensorArrays[string],
  delta: SparseDelta | undefined,
  rows: Int32Array,
): Float32Array {
  const hidden = base.shape[1]!;
  const out = new Float32Array(rows.length * hidden);
  rows.forEach((row, i) => {
    out.set(base.values.subarray(row * hidden, (row + 1) * hidden), i * hidden);
  });
  if (!delta) return out;
  // δ's flat positions are sorted: find each row's range by binary search.
  const { indices, values } = delta;
  rows.forEach((row, i) => {
    const end = (row + 1) * hidden;
    for (let k = lowerBound(indices, row * hidden); k < indices.length && indices[k]! < end; k++)
      out[i * hidden + (indices[k]! - row * hidden)]! += values[k]!;
  });
  return out;
}

/** Softmax scores, the argmax and its name. */
function classify(logits: number[], labels: string[]): InputPrediction {
  const max = Math.max(...logits);
  const exps = logits.map((x) => Math.exp(x - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  const labelIndex = logits.indexOf(max);
  return {
    logits,
    label: labels[labelIndex] ?? String(labelIndex),
    labelIndex,
    scores: exps.map((x) => x / sum),
  };
}
