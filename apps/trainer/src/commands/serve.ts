import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DiffpruneError, InvalidArgumentError, MissingResourceError } from '@diffprune/core';
import {
  MultiTaskModel,
  PredictionQueue,
  QueueClosedError,
  QueueFullError,
  type SwitchingStrategy,
  type TaskInput,
  TooManyInputsError,
  UnknownTaskError,
} from '@diffprune/serving';
import type { Command } from 'commander';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { fastScatterAdd, startBackend } from '../backend.js';
import { action, integerOption } from '../cli-support.js';

export interface ServeOptions {
  /** The base model (directory or hub id) every diff was made for. */
  model: string;
  /**
   * The diffs directory: `NAME.diff.safetensors` files (task NAME, metrics from `NAME.metrics.json`
   * when present), or `NAME/` directories holding one `*.diff.safetensors` (and `metrics.json`), as
   * `diffprune train --out DIR/NAME` writes them.
   */
  diffs: string;
  /** Inputs per request (default 64). */
  maxInputs?: number;
  /** Inputs per forward group (default 64). */
  maxBatch?: number;
  /** Batch requests of different tasks into one forward pass (default true; false: one task per pass). */
  crossTask?: boolean;
  /** Inputs waiting before requests are refused with 429 (default 1024). */
  maxQueue?: number;
  /** When a request reaches an idle queue, wait this long (ms) to batch more with it (default 0: the next tick). */
  maxWaitMs?: number;
  /** Request body bytes (default 1 MiB). */
  bodyLimit?: number;
  /** How often DIR is scanned for added, replaced and removed diffs (ms, default 1000; 0: never). */
  reloadIntervalMs?: number;
  strategy?: SwitchingStrategy;
  offline?: boolean;
  cache?: string;
  /** Fastify's logger: pino options, or false (default: JSON lines at `info` on stdout). */
  logger?: FastifyServerOptions['logger'];
  /** Loads the model (tests delay it to see 503); default `MultiTaskModel.load`. */
  loadModel?: () => Promise<MultiTaskModel>;
}

export interface ServeApp {
  app: FastifyInstance;
  /** Resolves when the base is loaded and DIR has been scanned once (rejects if loading failed). */
  ready: Promise<void>;
  /** Scans DIR now (the timer does it every `reloadIntervalMs`). */
  reload: () => Promise<void>;
  /** Stops accepting connections, answers every admitted request, then frees the model. */
  shutdown: () => Promise<void>;
}

/** The model is still loading (or failed to load): 503. */
class NotReadyError extends DiffpruneError {
  constructor(reason: string) {
    super('not-ready', `the model is not ready (${reason}); retry shortly`);
  }
}

/** The request body is not `{"inputs": [text | [text, text], …]}`: 400. */
class MalformedBodyError extends DiffpruneError {
  constructor(found: string) {
    super(
      'malformed-body',
      `expected a JSON body {"inputs": [text | [text, text], …]} with at least one input; ${found}`,
    );
  }
}

function parseInputs(body: unknown): TaskInput[] {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new MalformedBodyError(
      `found ${body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body}`,
    );
  const inputs = (body as { inputs?: unknown }).inputs;
  if (!Array.isArray(inputs)) throw new MalformedBodyError('found no "inputs" array');
  if (inputs.length === 0) throw new MalformedBodyError('found an empty "inputs" array');
  inputs.forEach((input, i) => {
    const pair = Array.isArray(input) && input.length === 2 && input.every((t) => typeof t === 'string');
    if (typeof input !== 'string' && !pair)
      throw new MalformedBodyError(
        `inputs[${i}] is ${JSON.stringify(input)?.slice(0, 80)}, not a text or a [text, text] pair`,
      );
  });
  return inputs as TaskInput[];
}

/** An error's HTTP status and stable `{error: {code, message}}` body. */
function errorResponse(error: unknown): {
  status: number;
  code: string;
  message: string;
  retryAfter?: number;
} {
  if (error instanceof UnknownTaskError) return { status: 404, code: error.code, message: error.message };
  if (error instanceof TooManyInputsError) return { status: 413, code: error.code, message: error.message };
  if (error instanceof QueueFullError)
    return {
      status: 429,
      code: error.code,
      message: error.message,
      retryAfter: Math.ceil(error.retryAfterMs / 1000),
    };
  if (error instanceof QueueClosedError)
    return { status: 503, code: 'shutting-down', message: error.message, retryAfter: 1 };
  if (error instanceof NotReadyError)
    return { status: 503, code: error.code, message: error.message, retryAfter: 1 };
  if (error instanceof MalformedBodyError) return { status: 400, code: error.code, message: error.message };
  const fastify = error as FastifyError;
  if (fastify.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return { status: 413, code: 'body-too-large', message: fastify.message };
  if (typeof fastify.statusCode === 'number' && fastify.statusCode >= 400 && fastify.statusCode < 500) {
    const code =
      fastify.statusCode === 400
        ? 'malformed-body'
        : fastify.statusCode === 415
          ? 'unsupported-media-type'
          : 'bad-request';
    return { status: fastify.statusCode, code, message: fastify.message };
  }
  return { status: 500, code: 'internal', message: 'internal error (see the server log)' };
}

interface DiffFile {
  name: string;
  path: string;
  metrics: string;
  signature: string;
}

const suffix = '.diff.safetensors';

/** Every diff in DIR with a signature that changes when its file is replaced. */
async function scanDirectory(directory: string): Promise<DiffFile[]> {
  const found: DiffFile[] = [];
  const signature = async (path: string) => {
    const s = await stat(path);
    return `${s.ino}:${s.size}:${s.mtimeMs}`;
  };
  for (const entry of await readdir(directory, { withFileTypes: true })) {
    try {
      if (entry.isFile() && entry.name.endsWith(suffix)) {
        const name = entry.name.slice(0, -suffix.length);
        const path = join(directory, entry.name);
        found.push({
          name,
          path,
          metrics: join(directory, `${name}.metrics.json`),
          signature: await signature(path),
        });
      } else if (entry.isDirectory()) {
        const inner = (await readdir(join(directory, entry.name))).filter((f) => f.endsWith(suffix));
        if (inner.length !== 1) continue;
        const path = join(directory, entry.name, inner[0]!);
        found.push({
          name: entry.name,
          path,
          metrics: join(directory, entry.name, 'metrics.json'),
          signature: await signature(path),
        });
      }
    } catch {
      // Removed while scanning: the next scan sees it gone.
    }
  }
  return found;
}

async function readMetrics(path: string): Promise<Record<string, number> | undefined> {
  if (!existsSync(path)) return undefined;
  try {
    const { metrics } = JSON.parse(await readFile(path, 'utf8')) as { metrics?: unknown };
    if (typeof metrics !== 'object' || metrics === null) return undefined;
    return Object.fromEntries(Object.entries(metrics).filter(([, v]) => typeof v === 'number')) as Record<
      string,
      number
    >;
  } catch {
    return undefined;
  }
}

/**
 * The `diffprune serve` HTTP server (Fastify): GET /health, GET /v1/tasks,
 * POST /v1/tasks/:task/predict. The base loads in the background (503 until ready); DIR is
 * rescanned every `reloadIntervalMs`. Call `app.listen()` to serve.
 */
export function createServeApp(options: ServeOptions): ServeApp {
  if (!existsSync(options.diffs))
    throw new MissingResourceError({
      resource: `diffs directory ${options.diffs}`,
      hint: '--diffs must be a directory of *.diff.safetensors files',
    });
  const app = Fastify({
    logger: options.logger ?? { level: 'info' },
    bodyLimit: options.bodyLimit ?? 2 ** 20,
    // Idle keep-alive sockets close at shutdown; requests in flight finish first.
    forceCloseConnections: 'idle',
  });
  let model: MultiTaskModel | undefined;
  let queue: PredictionQueue | undefined;
  let failed: string | undefined;
  let closing = false;
  const known = new Map<string, string>();
  let scanning: Promise<void> | undefined;

  const scanOnce = async () => {
    if (!model) return;
    const files = await scanDirectory(options.diffs).catch((error: Error) => {
      app.log.error({ err: error }, 'cannot read the diffs directory');
      return undefined;
    });
    if (!files) return;
    const present = new Set(files.map((f) => f.name));
    for (const file of files) {
      if (known.get(file.name) === file.signature) continue;
      try {
        const metrics = await readMetrics(file.metrics);
        const info = await model.register(file.name, file.path, metrics ? { metrics } : {});
        app.log.info(
          { task: info.name, version: info.version, density: info.density, source: info.source },
          'task loaded',
        );
      } catch (error) {
        // A bad file (another base, half-written, corrupt) is logged; the task's previous version stays.
        app.log.error({ task: file.name, path: file.path, err: error }, 'task diff refused');
      }
      known.set(file.name, file.signature);
    }
    for (const name of [...known.keys()]) {
      if (present.has(name)) continue;
      known.delete(name);
      if (model.unregister(name)) app.log.info({ task: name }, 'task removed');
    }
  };
  const reload = () => {
    scanning ??= scanOnce().finally(() => {
      scanning = undefined;
    });
    return scanning;
  };

  let timer: NodeJS.Timeout | undefined;
  const ready = (async () => {
    const scatterAdd = await fastScatterAdd();
    const loaded = await (options.loadModel?.() ??
      MultiTaskModel.load(options.model, {
        ...(options.strategy ? { strategy: options.strategy } : {}),
        ...(options.offline ? { offline: true } : {}),
        ...(options.cache ? { cacheDirectory: options.cache } : {}),
        ...(scatterAdd ? { scatterAdd } : {}),
      }));
    loaded.subscribe((event) => {
      if (event.type === 'batch-end') app.log.debug(event, 'batch');
    });
    model = loaded;
    queue = new PredictionQueue(loaded, {
      ...(options.maxInputs ? { maxRequestInputs: options.maxInputs } : {}),
      ...(options.maxBatch ? { maxBatchInputs: options.maxBatch } : {}),
      ...(options.maxQueue ? { maxQueuedInputs: options.maxQueue } : {}),
      ...(options.maxWaitMs ? { maxWaitMs: options.maxWaitMs } : {}),
      ...(options.crossTask === false ? { crossTask: false } : {}),
    });
    await reload();
    const every = options.reloadIntervalMs ?? 1000;
    if (every > 0 && !closing) {
      timer = setInterval(() => void reload(), every);
      timer.unref();
    }
    app.log.info({ model: options.model, tasks: loaded.tasks().map((t) => t.name) }, 'ready');
  })();
  ready.catch((error: Error) => {
    failed = error.message;
    app.log.error({ err: error }, 'the model failed to load');
  });

  const live = () => {
    if (!model || !queue) throw new NotReadyError(failed ?? 'loading');
    return { model, queue };
  };

  app.setErrorHandler((error, request, reply) => {
    const { status, code, message, retryAfter } = errorResponse(error);
    if (status >= 500 && code === 'internal') request.log.error({ err: error }, 'request failed');
    if (retryAfter !== undefined) void reply.header('retry-after', String(retryAfter));
    void reply.status(status).send({ error: { code, message } });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply
      .status(404)
      .send({ error: { code: 'not-found', message: `no route ${request.method} ${request.url}` } });
  });

  app.get('/health', async (_, reply) => {
    const rss = process.memoryUsage().rss;
    if (!model || !queue) {
      const error = new NotReadyError(failed ?? 'loading');
      return reply
        .status(503)
        .header('retry-after', '1')
        .send({ status: 'loading', rss, error: { code: error.code, message: error.message } });
    }
    return { status: closing ? 'closing' : 'ok', tasks: model.tasks().length, queued: queue.depth, rss };
  });
  app.get('/v1/tasks', async () => ({ tasks: live().model.tasks() }));
  app.post<{ Params: { task: string } }>('/v1/tasks/:task/predict', async (request) => {
    const { queue: q } = live();
    const inputs = parseInputs(request.body);
    return q.submit(request.params.task, inputs);
  });

  const shutdown = async () => {
    closing = true;
    if (timer) clearInterval(timer);
    await ready.catch(() => undefined);
    // Fastify stops accepting, closes idle sockets and waits for requests in flight.
    await app.close();
    await scanning;
    await queue?.close();
    model?.dispose();
  };
  return { app, ready, reload, shutdown };
}

const integer = integerOption;

/** Registers `diffprune serve`. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'serve many tasks on one base over HTTP: GET /v1/tasks, POST /v1/tasks/<task>/predict {"inputs": [text | [text, text], …]}, GET /health; diffs added, replaced or removed in --diffs are picked up while serving; SIGTERM finishes requests in flight',
    )
    .requiredOption('--model <dir|hub-id>', 'the base model every diff was made for')
    .requiredOption(
      '--diffs <dir>',
      'directory of NAME.diff.safetensors files, or NAME/ run directories (diffprune train --out)',
    )
    .option('--port <n>', 'TCP port (0: any free port)', integer('--port', 0), 8080)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--max-inputs <n>', 'inputs per request (default 64)', integer('--max-inputs', 1))
    .option('--max-batch <n>', 'inputs per forward pass (default 64)', integer('--max-batch', 1))
    .option(
      '--no-cross-task',
      "one task per forward pass (default: inputs of any tasks batched into one pass, each row with its task's diff)",
    )
    .option(
      '--max-queue <n>',
      'inputs waiting before requests get 429 (default 1024)',
      integer('--max-queue', 1),
    )
    .option(
      '--max-wait <ms>',
      'when a request reaches an idle queue, wait N ms to batch more requests with it (default 0)',
      integer('--max-wait', 0),
    )
    .option('--body-limit <bytes>', 'request body limit (default 1048576)', integer('--body-limit', 1))
    .option(
      '--reload-interval <ms>',
      'rescan --diffs every N ms (default 1000; 0: never)',
      integer('--reload-interval', 0),
    )
    .option('--strategy <name>', 'task switching: per-batch (default) or resident')
    .option('--log-level <level>', 'pino log level', 'info')
    .option('--offline', 'never download; missing files are errors that say how to get them')
    .option('--cache <dir>', 'download cache directory')
    .option('--backend <name>', 'force a backend (tensorflow, native, wasm, cpu)')
    .action(
      action(
        async (
          options: Omit<ServeOptions, 'logger' | 'loadModel' | 'reloadIntervalMs' | 'maxWaitMs'> & {
            maxWait?: number;
            port: number;
            host: string;
            reloadInterval?: number;
            logLevel: string;
            backend?: string;
          },
        ) => {
          if (options.strategy && options.strategy !== 'per-batch' && options.strategy !== 'resident')
            throw new InvalidArgumentError({
              argument: '--strategy',
              expected: 'per-batch or resident',
              found: options.strategy,
            });
          await startBackend(options.backend ? { backend: options.backend } : {});
          const server = createServeApp({
            ...options,
            logger: { level: options.logLevel },
            ...(options.reloadInterval !== undefined ? { reloadIntervalMs: options.reloadInterval } : {}),
            ...(options.maxWait !== undefined ? { maxWaitMs: options.maxWait } : {}),
          });
          let stopping = false;
          const stop = (signal: string) => {
            if (stopping) return;
            stopping = true;
            server.app.log.info({ signal }, 'shutting down: finishing requests in flight');
            // The backend's worker threads would keep the process alive: exit once everything is answered.
            server.shutdown().then(
              () => {
                server.app.log.info('stopped');
                process.exit(process.exitCode ?? 0);
              },
              (error: unknown) => {
                server.app.log.error({ err: error }, 'shutdown failed');
                process.exit(1);
              },
            );
          };
          process.once('SIGTERM', () => stop('SIGTERM'));
          process.once('SIGINT', () => stop('SIGINT'));
          await server.app.listen({ port: options.port, host: options.host });
          // A base that cannot load is fatal: say why (typed errors) and exit non-zero.
          await server.ready.catch(async (error: unknown) => {
            await server.shutdown();
            throw error;
          });
        },
      ),
    );
}
