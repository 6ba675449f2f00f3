import type { DiffpruneEvent } from '@diffprune/core';
import { describe, expect, it } from 'vitest';
import { progressRenderer } from './progress.js';

/** A terminal-like stream that records everything written (cli-progress draws only on a TTY). */
function fakeTerminal() {
  const frames: string[] = [];
  const stream = {
    isTTY: true,
    columns: 200,
    write: (chunk: string) => {
      frames.push(String(chunk));
      return true;
    },
    cursorTo: () => true,
    moveCursor: () => true,
    clearLine: () => true,
    clearScreenDown: () => true,
    on: () => stream,
    removeListener: () => stream,
  };
  return { stream: stream as unknown as NodeJS.WriteStream, frames };
}

describe('progressRenderer', () => {
  it('never draws literal {loss} placeholders, also after an evaluation (issue #15)', () => {
    const { stream, frames } = fakeTerminal();
    const render = progressRenderer(stream);
    const events = [
      { type: 'stage-start', stage: 'diff', totalSteps: 10, startStep: 0 },
      { type: 'step-end', step: 3, loss: 0.6125, expectedL0: 1234.4, density: 0.01, examplesPerSecond: 12.5 },
      { type: 'eval-end', stage: 'diff', step: 3, metrics: { accuracy: 0.5 }, isBest: true },
      { type: 'step-end', step: 4, loss: 0.5, expectedL0: 1200, density: 0.01, examplesPerSecond: 12 },
      { type: 'stage-end', stage: 'diff', steps: 10, elapsedMs: 1000 },
    ] as unknown as DiffpruneEvent[];
    for (const event of events) render(event);
    const text = frames.join('');
    expect(text).toContain('eval @ diff step 3: accuracy 0.5000 (best)');
    expect(text).toContain('loss 0.6125');
    expect(text).not.toMatch(/\{(loss|l0|density|rate)\}/);
  });
});
