import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadWithDiff, predictTexts } from '@diffprune/training';
import * as tf from '@tensorflow/tfjs-core';
import type { Browser } from 'playwright-core';
import type { ViteDevServer } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadSizes, trainDiffs } from '../scripts/train-diffs.js';
import { baseFileNames } from '../src/data-server.js';

// The page end to end in a real headless browser (Debian's chromium, driven by playwright-core): the
// Vite dev server serves it with the offline model from ../shared and two diffs trained here (a few
// steps: the comparison needs diffs, not good ones); the browser's logits must equal Node's
// (`loadWithDiff` + `predictTexts`, what `diffprune predict` runs) within 1e-4.

const webDirectory = fileURLToPath(new URL('../', import.meta.url));
const shared = fileURLToPath(new URL('../../../../shared/', import.meta.url));
const model = process.env.DIFFPRUNE_WEB_MODEL ?? join(shared, 'models', 'bert-tiny-mlm-offline');
const glue = join(shared, 'data', 'glue');
const chromiumPath = process.env.DIFFPRUNE_CHROMIUM ?? '/usr/bin/chromium';
const artifacts = join(webDirectory, 'test-artifacts');

const missing = [
  [chromiumPath, 'chromium (apt-get install -y chromium, or DIFFPRUNE_CHROMIUM=<path>)'],
  [join(model, 'model.safetensors'), 'the offline model (../shared/models/bert-tiny-mlm-offline)'],
  [join(glue, 'SST-2'), 'GLUE data (../shared/data/glue)'],
].filter(([path]) => !existsSync(path!));
const skipReason = missing.map(([path, what]) => `${what}: ${path} is absent`).join('; ');

const tasks = ['sst2', 'rte'] as const;
// SST-2 takes one sentence, RTE a pair (the page's second field).
const inputs: Record<(typeof tasks)[number], { textA: string; textB: string | null }> = {
  sst2: { textA: 'a gripping, beautifully acted film that never lets go', textB: null },
  rte: { textA: 'The cat sat on the mat while the dog slept.', textB: 'A dog was sleeping.' },
};

describe.skipIf(missing.length > 0)(
  `the page in headless chromium${skipReason ? ` (skipped: ${skipReason})` : ''}`,
  () => {
    let work: string;
    let diffs: string[];
    let server: ViteDevServer;
    let browser: Browser;
    let url: string;
    let saved: { model: string | undefined; diffs: string | undefined } | undefined;

    beforeAll(async () => {
      work = mkdtempSync(join(tmpdir(), 'diffprune-web-test-'));
      diffs = trainDiffs({
        model,
        glue,
        out: join(work, 'diffs'),
        tasks,
        maxSteps: 3,
        maxTrainExamples: 32,
        maxEvalExamples: 16,
      });
      process.env.DIFFPRUNE_WEB_MODEL = model;
      process.env.DIFFPRUNE_WEB_DIFFS = join(work, 'diffs');
      const { createServer } = await import('vite');
      server = await createServer({
        configFile: join(webDirectory, 'vite.config.ts'),
        root: webDirectory,
        logLevel: 'warn',
        server: { port: 0, host: '127.0.0.1' },
      });
      await server.listen();
      url = server.resolvedUrls!.local[0]!;
      const { chromium } = await import('playwright-core');
      browser = await chromium.launch({
        executablePath: chromiumPath,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-background-networking',
          '--disable-component-update',
        ],
      });
    }, 600_000);

    afterAll(async () => {
      await browser?.close();
      await server?.close();
      for (const [key, value] of [
        ['DIFFPRUNE_WEB_MODEL', saved?.model],
        ['DIFFPRUNE_WEB_DIFFS', saved?.diffs],
      ] as const) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      if (work) rmSync(work, { recursive: true, force: true });
    });

    it('loads the base once, applies two task diffs in turn, and classifies as Node does (1e-4)', async () => {
      const page = await browser.newPage({ viewport: { width: 900, height: 900 } });
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      await page.goto(url);
      await page.waitForSelector('body[data-state="base-ready"], body[data-state="error"]', {
        state: 'attached',
        timeout: 180_000,
      });
      expect([errors, await page.textContent('#error')]).toEqual([[], '']);
      const backend = await page.getAttribute('#backend', 'data-backend');
      expect(['webgl', 'wasm', 'cpu']).toContain(backend);

      // The base: every file of the model, once.
      const baseBytes = baseFileNames
        .filter((f) => existsSync(join(model, f)))
        .reduce((sum, f) => sum + statSync(join(model, f)).size, 0);
      expect(Number(await page.getAttribute('#base-bytes', 'data-bytes'))).toBe(baseBytes);

      const results: { task: string; logits: number[]; node: number[]; latencyMs: number }[] = [];
      for (const [i, task] of tasks.entries()) {
        await page.selectOption('#task', `${task}.diff.safetensors`);
        await page.waitForSelector(
          `body[data-state="task-ready"][data-task="${task}"], body[data-state="error"]`,
          {
            state: 'attached',
            timeout: 120_000,
          },
        );
        expect(await page.textContent('#error')).toBe('');
        await page.fill('#text-a', inputs[task].textA);
        await page.fill('#text-b', inputs[task].textB ?? '');
        await page.click('#classify');
        await page.waitForSelector(`body[data-predictions="${i + 1}"], body[data-state="error"]`, {
          state: 'attached',
          timeout: 120_000,
        });
        const logits = JSON.parse((await page.getAttribute('#prediction', 'data-logits'))!) as number[];
        expect(await page.getAttribute('#prediction', 'data-task')).toBe(task);

        const { loaded } = await loadWithDiff(model, diffs[i]!);
        const [node] = await predictTexts(loaded, [inputs[task]]);
        tf.dispose(Object.values(loaded.params));
        expect(logits).toHaveLength(node!.logits.length);
        for (const [j, value] of logits.entries())
          expect(Math.abs(value - node!.logits[j]!)).toBeLessThan(1e-4);
        const latencyMs = Number(await page.getAttribute('#prediction', 'data-latency-ms'));
        results.push({ task, logits, node: node!.logits, latencyMs });
      }

      // Each diff downloaded once, with its file's size; the base not again.
      const rows = await page.$$eval('#downloads tr', (trs) =>
        trs.map((tr) => [tr.getAttribute('data-download'), Number(tr.getAttribute('data-bytes'))]),
      );
      const sizes = downloadSizes(model, diffs);
      expect(rows).toEqual([
        [`base: ${model.split(/[\\/]/).filter(Boolean).pop()}`, baseBytes],
        ...tasks.map((task, i) => [`diff: ${task}.diff.safetensors`, sizes.diffs[i]!.bytes]),
      ]);

      mkdirSync(artifacts, { recursive: true });
      await page.screenshot({ path: join(artifacts, 'page.png') });
      writeFileSync(
        join(artifacts, 'browser-test.json'),
        `${JSON.stringify({ backend, baseBytes, diffs: sizes.diffs.map((d) => d.bytes), wholeModelPerTask: sizes.wholeModelPerTask, results }, null, 2)}\n`,
      );
      expect(errors).toEqual([]);
      await page.close();
    });
  },
);
