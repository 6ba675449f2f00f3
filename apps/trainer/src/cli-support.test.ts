import { describe, expect, it } from 'vitest';
import { taskMismatchWarning } from './cli-support.js';

describe('taskMismatchWarning (issue #15: eval of a diff on another task)', () => {
  it('warns, naming both tasks and what to do, only when the diff records another task', () => {
    const warning = taskMismatchWarning('sst2', 'rte', 'runs/sst2.diff.safetensors');
    expect(warning?.type).toBe('warning-raise');
    expect(warning?.message).toBe(
      'runs/sst2.diff.safetensors was trained on "sst2", not "rte": these metrics are of a diff on another task (pass --task sst2, or the diff of rte)',
    );
    expect(taskMismatchWarning('rte', 'rte', 'x')).toBeUndefined();
    expect(taskMismatchWarning(undefined, 'rte', 'x')).toBeUndefined();
  });
});
