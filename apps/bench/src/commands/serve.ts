import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { InvalidArgumentError, MissingResourceError } from '@diffprune/core';
import { sampleSentences } from '@diffprune/serving/test';
import autocannon from 'autocannon';
import type { Command } from 'commander';

export interface ServeBenchOptions {
  model: string;
  /** Real task diffs (`NAME.diff.safetensors` or `NAME/*.diff.safetensors` run directories). */
  diffs: string;
  /** Seconds of measured load per scenario (after a 2 s warm-up). */
  duration: number;
  connections: number;
  /** Inputs per request. */
  inputs: number;
  /** Tasks of the large scenario (copies of the real diffs under new names). */
  many: number;
  /** Measured runs per scenario, in turns; the table shows the medians. */
  rounds: number;
  backend?: string;
  /** false: the servers run one task per forward pass (`diffprune serve --no-cross-task`); default true. */
  crossTask?: boolean;
}

export interface ScenarioResult {
  scenario: string;
  tasks: number;
  requestsPerSecond: number;
  /** Requests/s of each measured run, in round order (the scenarios ran in turns within a round). */
  roundRequestsPerSecond: number[];
  p50: number;
  p99: number;
  errors: number;
  /** Server RSS under load (the median of readings every 250 ms during the runs), and its peak (VmHWM, Linux), bytes. */
  rss: number;
  peakRss: number | undefined;
}

// The six texts the recorded table was measured with.
const sentences = sampleSentences.slice(0, 6);
const cli = fileURLToPath(new URL('../../../trainer/src/cli.ts', import.meta.url));

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The real diffs of DIR: one path per task name. */
async function realDiffs(directory: string): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for (const entry of (await readdir(directory)).sort()) {
    const path = join(directory, entry);
    if (entry.endsWith('.diff.safetensors')) found.set(entry.slice(0, -'.diff.safetensors'.length), path);
    else if ((await stat(path)).isDirectory()) {
      const inner = (await readdir(path)).filter((f) => f.endsWith('.diff.safetensors'));
      if (inner.length === 1) found.set(entry, join(path, inner[0]!));
    }
  }
  return found;
}

/** A field of /proc/<pid>/status in bytes (Linux; undefined elsewhere). */
const procStatus = (pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number | undefined => {
  const status = `/proc/${pid}/status`;
  if (pid === undefined || !existsSync(status)) return undefined;
  const match = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(status, 'utf8'));
  return match ? Number(match[1]) * 1024 : undefined;
};
const peakRss = (pid: number | undefined) => procStatus(pid, 'VmHWM');

/**
 * The server's RSS every 250 ms while `run` goes (from /proc; its /health where /proc is absent):
 * one reading after a run depends on where the garbage collector happened to be (single readings
 * of one server moved by ±10 % between runs), the median of a few dozen under load does not.
 */
async function sampleRss<T>(server: RunningServer, run: Promise<T>, into: number[]): Promise<T> {
  const read = async () => {
    const rss =
      procStatus(server.child.pid, 'VmRSS') ??
      ((await (await fetch(`${server.url}/health`)).json()) as { rss: number }).rss;
    into.push(rss);
  };
  const timer = setInterval(() => void read().catch(() => {}), 250);
  try {
    return await run;
  } finally {
    clearInterval(timer);
  }
}

async function waitForTasks(url: string, tasks: number, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode}`);
    try {
      const health = (await (await fetch(`${url}/health`)).json()) as { status: string; tasks?: number };
      if (health.status === 'ok' && health.tasks === tasks) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the server did not serve ${tasks} tasks within 180 s`);
}

function load(url: string, names: string[], options: ServeBenchOptions, seconds: number) {
  let next = 0;
  const body = (i: number) =>
    JSON.stringify({
      inputs: Array.from({ length: options.inputs }, (_, k) => sentences[(i + k) % sentences.length]),
    });
  return autocannon({
    url,
    connections: options.connections,
    duration: seconds,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    requests: [
      {
        setupRequest: (request) => {
          // Tasks in turn: every request of a mixed run goes to another task than the one before.
          const i = next++;
          return { ...request, path: `/v1/tasks/${names[i % names.length]}/predict`, body: body(i) };
        },
      },
    ],
  });
}

interface RunningServer {
  scenario: string;
  names: string[];
  url: string;
  child: ChildProcess;
  directory: string;
}

async function startServer(
  scenario: string,
  diffs: [string, string][],
  options: ServeBenchOptions,
): Promise<RunningServer> {
  const directory = await mkdtemp(join(tmpdir(), 'dp-bench-serve-'));
  for (const [name, path] of diffs) await copyFile(path, join(directory, `${name}.diff.safetensors`));
  const port = await freePort();
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      cli,
      'serve',
      '--model',
      options.model,
      '--diffs',
      directory,
      '--port',
      String(port),
      '--log-level',
      'warn',
      '--reload-interval',
      '0',
      ...(options.backend ? ['--backend', options.backend] : []),
      ...(options.crossTask === false ? ['--no-cross-task'] : []),
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  return { scenario, names: diffs.map(([name]) => name), url: `http://127.0.0.1:${port}`, child, directory };
}

async function stopServer(server: RunningServer): Promise<void> {
  const { child } = server;
  if (child.exitCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  await rm(server.directory, { recursive: true, force: true });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Starts `diffprune serve` on 127.0.0.1 and drives it with autocannon: one task, mixed traffic over
 * the real diffs, mixed over `many` diffs (copies of the real ones under new names); requests/s,
 * p50/p99 latency and the server's RSS each, and what separate merged models would need.
 */
export async function benchServe(options: ServeBenchOptions): Promise<ScenarioResult[]> {
  if (!existsSync(options.diffs))
    throw new MissingResourceError({
      resource: `diffs directory ${options.diffs}`,
      hint: 'train diffs first (see the README)',
    });
  const real = [...(await realDiffs(options.diffs)).entries()];
  if (real.length === 0)
    throw new InvalidArgumentError({
      argument: '--diffs',
      expected: 'a directory with task diffs',
      found: options.diffs,
    });
  const many = Array.from({ length: options.many }, (_, i): [string, string] => [
    `${real[i % real.length]![0]}-${String(i).padStart(2, '0')}`,
    real[i % real.length]![1],
  ]);
  // The three servers run side by side and are measured in turns (rounds of single, mixed, many):
  // on a shared machine the load drifts, and turns spread the drift over every scenario.
  const servers: RunningServer[] = [];
  try {
    servers.push(await startServer('single task', real.slice(0, 1), options));
    servers.push(await startServer(`mixed, ${real.length} tasks`, real, options));
    servers.push(await startServer(`mixed, ${options.many} tasks`, many, options));
    for (const server of servers) await waitForTasks(server.url, server.names.length, server.child);
    for (const server of servers) await load(server.url, server.names, options, 2);
    const runs: autocannon.Result[][] = servers.map(() => []);
    const rss: number[][] = servers.map(() => []);
    for (let round = 0; round < options.rounds; round++)
      for (const [i, server] of servers.entries())
        runs[i]!.push(
          await sampleRss(server, load(server.url, server.names, options, options.duration), rss[i]!),
        );
    const results: ScenarioResult[] = [];
    for (const [i, server] of servers.entries()) {
      const health = (await (await fetch(`${server.url}/health`)).json()) as { rss: number };
      results.push({
        scenario: server.scenario,
        tasks: server.names.length,
        requestsPerSecond: median(runs[i]!.map((r) => r.requests.average)),
        roundRequestsPerSecond: runs[i]!.map((r) => r.requests.average),
        p50: median(runs[i]!.map((r) => r.latency.p50)),
        p99: median(runs[i]!.map((r) => r.latency.p99)),
        errors: runs[i]!.reduce((sum, r) => sum + r.errors + r.non2xx, 0),
        rss: rss[i]!.length > 0 ? median(rss[i]!) : health.rss,
        peakRss: peakRss(server.child.pid),
      });
    }
    return results;
  } finally {
    for (const server of servers) await stopServer(server);
  }
}

const mb = (bytes: number | undefined) => (bytes === undefined ? '–' : (bytes / 2 ** 20).toFixed(0));

/** A scenario's requests/s ÷ the single task's, round by round (rounds both measured). */
const roundRatios = (result: ScenarioResult, single: ScenarioResult) =>
  result.roundRequestsPerSecond
    .map((rate, round) => rate / single.roundRequestsPerSecond[round]!)
    .filter(Number.isFinite)
    .map((ratio) => ratio.toFixed(2))
    .join(', ');

/** The results as a Markdown table, with the targets' ratios. */
export function formatServeTable(results: ScenarioResult[], options: ServeBenchOptions): string {
  const single = results[0]!;
  const lines = [
    `${options.connections} connections, ${options.inputs} input(s) per request; median of ${options.rounds} runs of ${options.duration} s per scenario, scenarios in turns (after a 2 s warm-up each); tasks in turn; ${options.crossTask === false ? 'one task per forward pass (--no-cross-task)' : 'cross-task batching'}`,
    '',
    '| traffic | tasks | requests/s | vs single | p50 ms | p99 ms | errors | server RSS MB, median under load (peak) | separate merged models MB |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...results.map(
      (r) =>
        `| ${r.scenario} | ${r.tasks} | ${r.requestsPerSecond.toFixed(0)} | ${(r.requestsPerSecond / single.requestsPerSecond).toFixed(2)} | ${r.p50} | ${r.p99} | ${r.errors} | ${mb(r.rss)} (${mb(r.peakRss)}) | ${mb(r.tasks * single.rss)} |`,
    ),
    '',
    `RSS with ${results[2]!.tasks} tasks ÷ RSS with one: ${(results[2]!.rss / single.rss).toFixed(2)} (target ≤ 1.3); mixed throughput ÷ single: ${(results[1]!.requestsPerSecond / single.requestsPerSecond).toFixed(2)} and ${(results[2]!.requestsPerSecond / single.requestsPerSecond).toFixed(2)} (target ≥ 0.8). Separate merged models: one server process per task (tasks × the single-task RSS).`,
    `Mixed ÷ single in each round (the scenarios in turns; their spread is the measurement's noise): ${results
      .slice(1)
      .map((r) => `${r.tasks} tasks ${roundRatios(r, single)}`)
      .join('; ')}.`,
  ];
  return lines.join('\n');
}

const positive = (name: string) => (value: string) => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1)
    throw new InvalidArgumentError({ argument: name, expected: 'a positive integer', found: value });
  return parsed;
};

/** Registers `diffprune-bench serve`. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description(
      'start `diffprune serve` on 127.0.0.1 and load it with autocannon: one task, mixed over the real diffs, mixed over --many; requests/s, p50/p99, server RSS',
    )
    .requiredOption('--model <dir>', 'the base model of the diffs')
    .requiredOption('--diffs <dir>', 'real task diffs (NAME.diff.safetensors or NAME/ run directories)')
    .option('--duration <s>', 'seconds of each measured run', positive('--duration'), 5)
    .option('--rounds <n>', 'measured runs per scenario, in turns; medians shown', positive('--rounds'), 5)
    .option('--connections <n>', 'concurrent connections', positive('--connections'), 16)
    .option('--inputs <n>', 'inputs per request', positive('--inputs'), 1)
    .option('--many <n>', 'tasks of the large scenario', positive('--many'), 50)
    .option('--backend <name>', "the server's backend (default: its choice)")
    .option(
      '--no-cross-task',
      'servers run one task per forward pass (diffprune serve --no-cross-task; default: cross-task batching)',
    )
    .action(async (options: ServeBenchOptions) => {
      const results = await benchServe(options);
      console.log(formatServeTable(results, options));
    });
}
