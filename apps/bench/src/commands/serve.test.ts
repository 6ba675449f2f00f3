import { describe, expect, it } from 'vitest';
import { formatServeTable, type ScenarioResult } from './serve.js';

// The serve bench's table against closed forms: medians are computed by the caller, the ratios here.
const scenario = (name: string, tasks: number, rounds: number[], rss: number): ScenarioResult => ({
  scenario: name,
  tasks,
  requestsPerSecond: [...rounds].sort((a, b) => a - b)[Math.floor(rounds.length / 2)]!,
  roundRequestsPerSecond: rounds,
  p50: 9,
  p99: 20,
  errors: 0,
  rss,
  peakRss: undefined,
});

describe('formatServeTable', () => {
  it('gives the median ratios against the targets and the ratio of each round, in turns', () => {
    const results = [
      scenario('single task', 1, [2000, 1600, 1800], 300 * 2 ** 20),
      scenario('mixed, 6 tasks', 6, [1800, 1600, 1440], 330 * 2 ** 20),
      scenario('mixed, 50 tasks', 50, [1500, 1360, 1620], 345 * 2 ** 20),
    ];
    const table = formatServeTable(results, {
      model: 'm',
      diffs: 'd',
      duration: 5,
      connections: 16,
      inputs: 1,
      many: 50,
      rounds: 3,
    });
    // Medians 1800, 1600, 1500: 1600/1800 = 0.89, 1500/1800 = 0.83; RSS 345/300 = 1.15.
    expect(table).toContain('RSS with 50 tasks ÷ RSS with one: 1.15 (target ≤ 1.3)');
    expect(table).toContain('mixed throughput ÷ single: 0.89 and 0.83 (target ≥ 0.8)');
    // Round by round: 1800/2000, 1600/1600, 1440/1800; 1500/2000, 1360/1600, 1620/1800.
    expect(table).toContain('6 tasks 0.90, 1.00, 0.80; 50 tasks 0.75, 0.85, 0.90.');
    expect(table).toContain('| mixed, 50 tasks | 50 | 1500 | 0.83 | 9 | 20 | 0 | 345 (–) | 15000 |');
  });
});
