import { methodLabels } from './presets.js';
import { formatMetric } from './report.js';
import type { RunRecord } from './run-preset.js';

/** Two result sets side by side: the headline metric and density per run id, and the difference. */
export function compareRecords(
  a: readonly RunRecord[],
  b: readonly RunRecord[],
  names: [string, string],
): string {
  const byId = (records: readonly RunRecord[]) => new Map(records.map((r) => [r.id, r]));
  const left = byId(a);
  const right = byId(b);
  const ids = [...new Set([...left.keys(), ...right.keys()])].sort();
  const lines = [
    `| run | method | ${names[0]} | ${names[1]} | Δ | density ${names[0]} | density ${names[1]} |`,
    '|---|---|---|---|---|---|---|',
  ];
  for (const id of ids) {
    const l = left.get(id);
    const r = right.get(id);
    const method = (l ?? r)!.method;
    const delta =
      l && r && Number.isFinite(l.headline) && Number.isFinite(r.headline)
        ? (r.headline - l.headline) * 100
        : undefined;
    lines.push(
      `| ${id} | ${methodLabels[method]} | ${formatMetric(l?.headline)} | ${formatMetric(r?.headline)} | ${
        delta === undefined ? '–' : `${delta >= 0 ? '+' : ''}${delta.toFixed(1)}`
      } | ${l ? `${(l.density * 100).toFixed(3)} %` : '–'} | ${r ? `${(r.density * 100).toFixed(3)} %` : '–'} |`,
    );
  }
  return lines.join('\n');
}
