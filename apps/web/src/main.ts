import * as tf from '@tensorflow/tfjs-core';
import { chooseBackend } from './backend.js';
import type { Catalog } from './data-server.js';
import { fetchBytes, formatBytes } from './fetch-bytes.js';
import { applyTaskDiff, type BaseModel, classify, loadBase, type TaskModel } from './model.js';

const element = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = (text: string) => {
  element('status').textContent = text;
};
const fail = (error: unknown) => {
  const box = element('error');
  box.hidden = false;
  box.textContent = error instanceof Error ? error.message : String(error);
  document.body.dataset.state = 'error';
  status('stopped');
};

const downloads = element<HTMLTableSectionElement>('downloads');
function recordDownload(what: string, bytes: number, ms: number): void {
  const row = downloads.insertRow();
  row.dataset.download = what;
  row.dataset.bytes = String(bytes);
  row.insertCell().textContent = what;
  const size = row.insertCell();
  size.className = 'n';
  size.textContent = formatBytes(bytes);
  const time = row.insertCell();
  time.className = 'n';
  time.textContent = ms.toFixed(0);
}

let base: BaseModel | undefined;
let task: TaskModel | undefined;
let taskName = '';
const diffCache = new Map<string, Uint8Array>();

async function start(): Promise<void> {
  const forced = new URLSearchParams(location.search).get('backend');
  const backend = await chooseBackend(forced);
  element('backend').textContent = backend.name;
  element('backend').dataset.backend = backend.name;
  if (backend.tried.length > 0) element('backend').title = backend.tried.join('\n');
  status('reading the catalog');
  const response = await fetch('/data/catalog.json');
  const catalog = (await response.json()) as Catalog;
  if (catalog.problems.length > 0) throw new Error(catalog.problems.join('\n'));
  element('base-name').textContent = catalog.base.name;

  // The base: every file once, with one progress bar over their total size.
  const total = catalog.base.files.reduce((sum, f) => sum + f.bytes, 0);
  const progress = element<HTMLProgressElement>('base-progress');
  progress.max = total;
  let done = 0;
  const started = performance.now();
  const files = new Map<string, Uint8Array>();
  for (const file of catalog.base.files) {
    status(`downloading ${file.name}`);
    const before = done;
    files.set(
      file.name,
      await fetchBytes(`/data/base/${file.name}`, (received) => {
        done = before + received;
        progress.value = done;
        element('base-bytes').textContent = `${formatBytes(done)} of ${formatBytes(total)}`;
      }),
    );
  }
  element('base-bytes').dataset.bytes = String(done);
  recordDownload(`base: ${catalog.base.name}`, done, performance.now() - started);
  const text = (name: string) => new TextDecoder().decode(files.get(name));
  const json = (name: string) =>
    files.has(name) ? (JSON.parse(text(name)) as Record<string, unknown>) : undefined;
  status('building the base');
  base = loadBase({
    name: catalog.base.name,
    config: JSON.parse(text('config.json')),
    vocabulary: text('vocab.txt'),
    weights: files.get('model.safetensors')!,
    tokenizerConfig: json('tokenizer_config.json'),
    tokenizerJson: json('tokenizer.json'),
  });

  const select = element<HTMLSelectElement>('task');
  for (const diff of catalog.diffs) {
    const option = document.createElement('option');
    option.value = diff.file;
    option.textContent = `${diff.task} (${formatBytes(diff.bytes)})`;
    select.append(option);
  }
  select.disabled = false;
  select.addEventListener('change', () => selectTask(select.value).catch(fail));
  element('classify').addEventListener('click', () => predict().catch(fail));
  status('pick a task');
  document.body.dataset.state = 'base-ready';
}

async function selectTask(file: string): Promise<void> {
  if (!base || file === '') return;
  element<HTMLButtonElement>('classify').disabled = true;
  document.body.dataset.state = 'task-loading';
  let bytes = diffCache.get(file);
  if (!bytes) {
    status(`downloading ${file}`);
    const started = performance.now();
    bytes = await fetchBytes(`/data/diffs/${encodeURIComponent(file)}`);
    diffCache.set(file, bytes);
    recordDownload(`diff: ${file}`, bytes.byteLength, performance.now() - started);
  }
  status(`applying ${file}`);
  const next = await applyTaskDiff(base, bytes, file);
  if (task) tf.dispose(Object.values(task.params));
  task = next;
  taskName = next.diff.provenance.task;
  element<HTMLButtonElement>('classify').disabled = false;
  status(`task ${taskName}: ${next.numLabels} labels`);
  document.body.dataset.state = 'task-ready';
  document.body.dataset.task = taskName;
}

async function predict(): Promise<void> {
  if (!base || !task) return;
  const textA = element<HTMLTextAreaElement>('text-a').value;
  const textB = element<HTMLTextAreaElement>('text-b').value.trim();
  const started = performance.now();
  const logits = await classify(base, task, textA, textB === '' ? null : textB);
  const latency = performance.now() - started;
  const label = logits.indexOf(Math.max(...logits));
  const out = element('prediction');
  out.dataset.logits = JSON.stringify(logits);
  out.dataset.label = String(label);
  out.dataset.task = taskName;
  out.dataset.latencyMs = latency.toFixed(1);
  out.textContent = `${taskName}: label ${label} · logits [${logits.map((l) => l.toFixed(4)).join(', ')}] · ${latency.toFixed(1)} ms`;
  document.body.dataset.predictions = String(Number(document.body.dataset.predictions ?? 0) + 1);
}

start().catch(fail);
