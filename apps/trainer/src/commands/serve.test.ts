import { spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MultiTaskModel, type TaskPredictions } from '@diffprune/serving';
import { writeRandomBert, writeRandomDiff } from '@diffprune/serving/test';
import type { InjectOptions } from 'fastify';
import { beforeAll, describe, expect, it } from 'vitest';
import { predict } from './predict.js';
import { createServeApp, type ServeOptions } from './serve.js';

const texts: (string | [string, string])[] = [
  'a great film',
  'the plot is dull',
  ['a fun movie', 'not good'],
  'bad , bad movie',
  ['great', 'the great plot is not fun'],
];

let root: string;
let model: string;
let diffs: string;
/** Diff files outside DIR, copied in by the tests. */
const spare: Record<string, string> = {};
/** `diffprune predict --model M --diff D` on `texts`: the logits per input. */
const expected: Record<string, number[][]> = {};

async function reference(diff: string): Promise<number[][]> {
  const input = join(root, 'input.jsonl');
  const output = join(root, `${Math.random()}.jsonl`);
  await writeFile(
    input,
    texts
      .map((t) => JSON.stringify(typeof t === 'string' ? { text_a: t } : { text_a: t[0], text_b: t[1] }))
      .join('\n'),
  );
  await predict({ model, diff, input, output, batchSize: 2 });
  return (await readFile(output, 'utf8'))
    .trim()
    .split('\n')
    .map((line) => (JSON.parse(line) as { logits: number[] }).logits);
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'dp-serve-'));
  model = join(root, 'base');
  const base = await writeRandomBert(model, 3);
  diffs = join(root, 'diffs');
  await mkdir(diffs);
  const specs = [
    { name: 'sst2', numLabels: 2, task: 'sst2' },
    { name: 'rte', numLabels: 2, task: 'rte' },
    { name: 'stsb', numLabels: 1, task: 'stsb' },
    { name: 'three', numLabels: 3, task: 'custom', settings: { labels: ['a', 'b', 'c'] } },
    { name: 'sst2-v2', numLabels: 2, task: 'sst2' },
  ];
  for (const [i, s] of specs.entries()) {
    const path = join(root, `${s.name}.diff.safetensors`);
    await writeRandomDiff(path, {
      ...base,
      seed: 40 + i,
      numLabels: s.numLabels,
      task: s.task,
      ...(s.settings ? { settings: s.settings } : {}),
    });
    spare[s.name] = path;
    expected[s.name] = await reference(path);
  }
  // DIR holds flat files (one with metrics beside it) and a run directory (`diffprune train --out`).
  await copyFile(spare.sst2!, join(diffs, 'sst2.diff.safetensors'));
  await writeFile(join(diffs, 'sst2.metrics.json'), JSON.stringify({ metrics: { accuracy: 0.75 } }));
  await copyFile(spare.stsb!, join(diffs, 'stsb.diff.safetensors'));
  await copyFile(spare.three!, join(diffs, 'three.diff.safetensors'));
  await mkdir(join(diffs, 'rte'));
  await copyFile(spare.rte!, join(diffs, 'rte', 'rte.diff.safetensors'));
  await writeFile(join(diffs, 'rte', 'metrics.json'), JSON.stringify({ metrics: { accuracy: 0.5 } }));
});

const options = (extra: Partial<ServeOptions> = {}): ServeOptions => ({
  model,
  diffs,
  logger: false,
  reloadIntervalMs: 0,
  ...extra,
});

const post = (task: string, body: unknown): InjectOptions => ({
  method: 'POST' as const,
  url: `/v1/tasks/${task}/predict`,
  ...(typeof body === 'string'
    ? { payload: body, headers: { 'content-type': 'application/json' } }
    : { payload: body as object }),
});

const close = (a: number[], b: number[]) =>
  a.length === b.length && a.every((x, i) => Math.abs(x - b[i]!) < 1e-5);

describe('diffprune serve', () => {
  it('answers every task as `diffprune predict` with its diff does (logits within 1e-5), with provenance and labels', async () => {
    const server = createServeApp(options());
    await server.ready;
    const tasks = (await server.app.inject({ method: 'GET', url: '/v1/tasks' })).json() as {
      tasks: {
        name: string;
        method: string;
        density: number;
        labels: string[];
        metrics?: Record<string, number>;
      }[];
    };
    expect(tasks.tasks.map((t) => t.name)).toEqual(['rte', 'sst2', 'stsb', 'three']);
    const byName = Object.fromEntries(tasks.tasks.map((t) => [t.name, t]));
    expect(byName.sst2!.metrics).toEqual({ accuracy: 0.75 });
    expect(byName.rte!.metrics).toEqual({ accuracy: 0.5 });
    expect(byName.rte!.labels).toEqual(['entailment', 'not_entailment']);
    expect(byName.three!.labels).toEqual(['a', 'b', 'c']);
    expect(byName.sst2!.method).toBe('diff-pruning');
    expect(byName.sst2!.density).toBeGreaterThan(0);
    for (const name of ['rte', 'sst2', 'stsb', 'three']) {
      const response = await server.app.inject(post(name, { inputs: texts }));
      expect(response.statusCode).toBe(200);
      const body = response.json() as TaskPredictions;
      body.predictions.forEach((p, i) => {
        expect(close(p.logits, expected[name]![i]!)).toBe(true);
        if (name === 'stsb') expect(p.score).toBe(p.logits[0]);
        else expect(p.label).toBe(body.labels[p.labelIndex!]);
      });
    }
    expect((await server.app.inject({ method: 'GET', url: '/health' })).json()).toMatchObject({
      status: 'ok',
      tasks: 4,
    });
    await server.shutdown();
  });

  it('answers every error with {error: {code, message}} and its status', async () => {
    let release!: (m: MultiTaskModel) => void;
    const loading = new Promise<MultiTaskModel>((resolve) => {
      release = resolve;
    });
    const server = createServeApp(
      options({ loadModel: () => loading, maxInputs: 4, maxQueue: 8, bodyLimit: 4096, maxWaitMs: 300 }),
    );
    const expectError = async (request: InjectOptions, status: number, code: string) => {
      const response = await server.app.inject(request);
      expect(response.statusCode).toBe(status);
      const body = response.json() as { error: { code: string; message: string } };
      expect(body.error.code).toBe(code);
      expect(body.error.message.length).toBeGreaterThan(10);
      return response;
    };
    // Not ready yet: 503 with Retry-After, on /health and on predictions.
    const notReady = await expectError(post('sst2', { inputs: ['a'] }), 503, 'not-ready');
    expect(notReady.headers['retry-after']).toBe('1');
    expect((await server.app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(503);
    release(await MultiTaskModel.load(model));
    await server.ready;

    await expectError(post('nope', { inputs: ['a'] }), 404, 'unknown-task');
    await expectError({ method: 'GET', url: '/v2/nothing' }, 404, 'not-found');
    await expectError(post('sst2', '{"inputs": ['), 400, 'malformed-body');
    await expectError(post('sst2', { texts: ['a'] }), 400, 'malformed-body');
    await expectError(post('sst2', { inputs: [] }), 400, 'malformed-body');
    await expectError(post('sst2', { inputs: [['a', 'b', 'c']] }), 400, 'malformed-body');
    await expectError(post('sst2', { inputs: [7] }), 400, 'malformed-body');
    await expectError(post('sst2', { inputs: ['a', 'b', 'c', 'd', 'e'] }), 413, 'too-many-inputs');
    await expectError(post('sst2', { inputs: ['x'.repeat(5000)] }), 413, 'body-too-large');

    // Full queue: 8 inputs wait at most and a group waits 300 ms for company, so of six concurrent
    // 4-input requests two are admitted and four refused with 429.
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => server.app.inject(post('sst2', { inputs: texts.slice(0, 4) }))),
    );
    const statuses = responses.map((r) => r.statusCode);
    expect(statuses.filter((s) => s === 200)).toHaveLength(2);
    const refused = responses.filter((r) => r.statusCode === 429);
    expect(refused).toHaveLength(4);
    expect(Number(refused[0]!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((refused[0]!.json() as { error: { code: string } }).error.code).toBe('queue-full');
    await server.shutdown();
  });

  // With cross-task batching, a group may hold requests of versions 1 and 2 of t: each is answered
  // by the version it was admitted under.
  it.for([false, true])(
    'picks up added, replaced and removed diffs under concurrent requests: nothing dropped, no mixed versions (cross-task %s)',
    async (crossTask) => {
      const dir = await mkdtemp(join(tmpdir(), 'dp-serve-reload-'));
      await copyFile(spare.sst2!, join(dir, 't.diff.safetensors'));
      await copyFile(spare.rte!, join(dir, 'gone.diff.safetensors'));
      const server = createServeApp(options({ diffs: dir, reloadIntervalMs: 25, crossTask }));
      await server.app.listen({ port: 0, host: '127.0.0.1' });
      await server.ready;
      const url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
      const results: { status: number; body: TaskPredictions }[] = [];
      let replaced = false;
      const deadline = Date.now() + 20_000;
      // Four clients, each at most 60 requests and 20 s; they keep going until version 2 has answered.
      const client = async () => {
        for (let i = 0; i < 60 && Date.now() < deadline; i++) {
          const response = await fetch(`${url}/v1/tasks/t/predict`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ inputs: texts }),
          });
          results.push({ status: response.status, body: (await response.json()) as TaskPredictions });
          if (replaced && results.some((r) => r.body.version === 2) && i >= 5) return;
        }
      };
      const clients = Array.from({ length: 4 }, client);
      await new Promise((resolve) => setTimeout(resolve, 150));
      // Replace t (written beside, renamed into place), add `added`, remove `gone`.
      await copyFile(spare['sst2-v2']!, join(dir, 't.tmp'));
      await rename(join(dir, 't.tmp'), join(dir, 't.diff.safetensors'));
      await copyFile(spare.three!, join(dir, 'added.diff.safetensors'));
      await rm(join(dir, 'gone.diff.safetensors'));
      replaced = true;
      await Promise.all(clients);
      await server.reload();

      expect(results.length).toBeGreaterThan(8);
      expect(results.every((r) => r.status === 200)).toBe(true);
      const versions = new Set(results.map((r) => r.body.version));
      expect(versions).toEqual(new Set([1, 2]));
      for (const r of results) {
        // Every prediction of a response comes from the version it names.
        const reference = expected[r.body.version === 1 ? 'sst2' : 'sst2-v2']!;
        r.body.predictions.forEach((p, i) => {
          expect(close(p.logits, reference[i]!)).toBe(true);
        });
      }
      const tasks = (await (await fetch(`${url}/v1/tasks`)).json()) as {
        tasks: { name: string; version: number }[];
      };
      expect(tasks.tasks.map((t) => [t.name, t.version])).toEqual([
        ['added', 1],
        ['t', 2],
      ]);
      const gone = await fetch(`${url}/v1/tasks/gone/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: ['a'] }),
      });
      expect(gone.status).toBe(404);
      await server.shutdown();
    },
  );

  it('shuts down gracefully: requests in flight are answered, new connections are refused', async () => {
    const server = createServeApp(options());
    let admitted = 0;
    server.app.addHook('preHandler', async () => {
      admitted++;
    });
    await server.app.listen({ port: 0, host: '127.0.0.1' });
    await server.ready;
    const url = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
    const inFlight = Array.from({ length: 12 }, (_, i) =>
      fetch(`${url}/v1/tasks/${i % 2 ? 'sst2' : 'three'}/predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: texts }),
      }),
    );
    const until = Date.now() + 10_000;
    while (admitted < 12 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(admitted).toBe(12);
    const stopped = server.shutdown();
    const responses = await Promise.all(inFlight);
    expect(responses.map((r) => r.status)).toEqual(Array(12).fill(200));
    for (const [i, r] of responses.entries()) {
      const body = (await r.json()) as TaskPredictions;
      expect(close(body.predictions[0]!.logits, expected[i % 2 ? 'sst2' : 'three']![0]!)).toBe(true);
    }
    await stopped;
    await expect(fetch(`${url}/health`)).rejects.toThrow();
  });

  it('`diffprune serve` exits 0 on SIGTERM after answering the requests in flight, logging JSON lines', async () => {
    const root = fileURLToPath(new URL('../../../../', import.meta.url));
    const cli = fileURLToPath(new URL('../cli.ts', import.meta.url));
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        cli,
        'serve',
        '--model',
        model,
        '--diffs',
        diffs,
        '--port',
        '0',
        '--reload-interval',
        '0',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const waitFor = async (test: () => boolean, what: string) => {
      const until = Date.now() + 90_000;
      while (!test()) {
        if (Date.now() > until || child.exitCode !== null) throw new Error(`${what}; stdout: ${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    try {
      await waitFor(() => /"msg":"ready"/.test(stdout), 'the server did not become ready');
      const port = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout)![1];
      const inFlight = Array.from({ length: 8 }, () =>
        fetch(`http://127.0.0.1:${port}/v1/tasks/sst2/predict`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ inputs: texts }),
        }),
      );
      await waitFor(
        () => (stdout.match(/"msg":"incoming request"/g) ?? []).length >= 8,
        'requests not admitted',
      );
      child.kill('SIGTERM');
      const responses = await Promise.all(inFlight);
      expect(responses.map((r) => r.status)).toEqual(Array(8).fill(200));
      expect(await exited).toBe(0);
      const lines = stdout.trim().split('\n');
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
      expect(lines.some((line) => /"msg":"stopped"/.test(line))).toBe(true);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
