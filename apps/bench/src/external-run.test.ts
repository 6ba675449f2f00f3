import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ExternalEvent, peerRuns, referenceRuns, runExternal } from './external-run.js';
import { getPreset, sharedDirectory } from './presets.js';
import { compareReplay, recordReplay, runTorchReplay } from './replay.js';
import { findTorchPython, torchScriptPath } from './step/pytorch.js';

const torch = findTorchPython(['torch']);
const peft = findTorchPython(['torch', 'transformers', 'peft']);
const smoke = getPreset('smoke');
const fixtures = join(sharedDirectory(), 'fixtures');
const present = existsSync(join(smoke.dataDirectory ?? '', 'RTE/train.tsv')) && existsSync(fixtures);
if (!torch.python)
  console.warn(`skipping the PyTorch reference tests: no python with torch (${torch.tried.join('; ')})`);
if (!peft.python)
  console.warn(`skipping the PEFT peers test: no python with peft (${peft.tried.join('; ')})`);
if (!present) console.warn('skipping the reference runs: ../shared (GLUE data, fixtures) is absent');

// Two steps per stage: the runner's path, not the numbers.
const tiny = { ...smoke, settings: { ...smoke.settings, maxTrainExamples: 16, maxEvalExamples: 16 } };

describe('the PyTorch reference and the PEFT peers', () => {
  it.skipIf(!torch.python || !present)(
    "torch_diffprune.py's stage-1 objective reproduces the golden diff-pruning step diffprune is held to",
    () => {
      const result = spawnSync(
        torch.python!,
        [torchScriptPath('torch_diffprune.py'), 'check-step', fixtures],
        {
          encoding: 'utf8',
        },
      );
      expect(result.status, result.stderr).toBe(0);
      const errors = JSON.parse(result.stdout) as Record<string, Record<string, number>>;
      expect(Object.keys(errors).sort()).toEqual(['structured-sum', 'unstructured']);
      for (const mode of Object.values(errors)) {
        expect(Object.keys(mode)).toContain('grad_log_alpha');
        for (const [name, error] of Object.entries(mode)) expect(error, name).toBeLessThan(1e-5);
      }
    },
    120_000,
  );

  it.skipIf(!torch.python || !present)(
    'reference: one structured diff-pruning run through all three stages; done runs are skipped',
    async () => {
      const out = await mkdtemp(join(tmpdir(), 'dp-reference-'));
      const runs = referenceRuns(tiny, ['rte']).filter((r) => r.id.includes('diff-pruning-structured'));
      expect(runs.map((r) => r.id)).toEqual(['rte__diff-pruning-structured__d0.005__s42']);
      const options = {
        preset: tiny,
        outputDirectory: out,
        kind: 'reference' as const,
        runs,
        python: torch.python!,
        script: torchScriptPath('torch_diffprune.py'),
        threads: 1,
        jobs: 1,
      };
      expect(await runExternal(options)).toEqual([]);
      const record = JSON.parse(readFileSync(join(out, 'reference', `${runs[0]!.id}.json`), 'utf8'));
      expect(record.method).toBe('diff-pruning-structured');
      expect(record.history.map((h: { stage: string }) => h.stage)).toEqual(['search', 'fixed-mask']);
      expect(record.steps).toBe(4); // 16 examples, batch 8: 2 search steps + 2 fixed-mask steps
      // Projection keeps round(0.5 % of all entries) over every tensor; the head is then counted fully.
      expect(record.density).toBeGreaterThan(0.004);
      expect(record.density).toBeLessThan(0.0052);
      expect(record.headline).toBeGreaterThanOrEqual(0);
      const events: ExternalEvent['type'][] = [];
      await runExternal({ ...options, onEvent: (e) => events.push(e.type) });
      expect(events).toEqual(['external-run-skip']);
    },
    300_000,
  );

  it.skipIf(!torch.python || !present)(
    'replay: on our random streams, the reference’s first stage gives our losses step for step (diff pruning, structured, full)',
    async () => {
      const out = await mkdtemp(join(tmpdir(), 'dp-replay-'));
      const offline = getPreset('offline');
      for (const method of ['diff-pruning', 'diff-pruning-structured', 'full'] as const) {
        // 64 examples at batch 32: 2 steps an epoch, so 5 steps cross two reshuffles.
        const recording = await recordReplay({
          preset: offline,
          task: 'rte',
          method,
          seed: 7,
          steps: 5,
          maxTrainExamples: 64,
          outputDirectory: out,
        });
        expect(recording.ours).toHaveLength(5);
        const theirs = runTorchReplay(
          torch.python!,
          torchScriptPath('torch_diffprune.py'),
          offline.model,
          recording,
        );
        const comparison = compareReplay(recording.ours, theirs, 1e-4);
        expect(comparison.firstBeyond, method).toBeUndefined();
        // Training moved: the losses differ between steps (a constant would also agree).
        expect(new Set(theirs.map((s) => s.taskLoss.toFixed(4))).size).toBeGreaterThan(1);
        if (method !== 'full') expect(theirs[4]!.expectedL0).toBeLessThan(theirs[0]!.expectedL0);
      }
    },
    300_000,
  );

  it.skipIf(!peft.python || !present)(
    'peers: LoRA and SHiRA at the rank nearest 0.5 % trainable parameters',
    async () => {
      const out = await mkdtemp(join(tmpdir(), 'dp-peers-'));
      const runs = peerRuns(tiny, ['rte']);
      expect(runs.map((r) => r.id)).toEqual(['rte__peft-lora__s42', 'rte__peft-shira__s42']);
      const failures = await runExternal({
        preset: tiny,
        outputDirectory: out,
        kind: 'peers',
        runs,
        python: peft.python!,
        script: torchScriptPath('peft_peers.py'),
        threads: 1,
        jobs: 2,
      });
      expect(failures).toEqual([]);
      for (const run of runs) {
        const record = JSON.parse(readFileSync(join(out, 'peers', `${run.id}.json`), 'utf8'));
        expect(Math.abs(record.density - 0.005)).toBeLessThan(0.001);
        expect(record.label).toMatch(/\(r \d+\)$/);
        expect(record.steps).toBe(2 * (1 + 1)); // search + fixed-mask epochs of the anchor run
      }
    },
    300_000,
  );
});
