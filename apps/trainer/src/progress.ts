import type { DiffpruneEvent, EventListener } from '@diffprune/core';
import cliProgress from 'cli-progress';

const formatNumber = (value: number | undefined, digits = 4) =>
  value === undefined || !Number.isFinite(value) ? '–' : value.toPrecision(digits);

/**
 * Renders training events on stderr: a progress bar per stage with loss, expected L0, density,
 * examples per second and ETA, and one line per evaluation, checkpoint and projection.
 */
export function progressRenderer(stream: NodeJS.WriteStream = process.stderr): EventListener {
  let bar: cliProgress.SingleBar | undefined;
  // The bar's last values: restarting it after an evaluation line must pass them again, or
  // cli-progress draws the literal `{loss}` placeholders (issue #15).
  const empty = { loss: '–', l0: '–', density: '–', rate: '–' };
  let payload: Record<string, string> = { ...empty };
  const line = (text: string) => {
    if (bar) bar.stop();
    bar = undefined;
    stream.write(`${text}\n`);
  };
  return (event: DiffpruneEvent) => {
    switch (event.type) {
      case 'backend-select':
        stream.write(`backend: ${event.backend}${event.fast ? '' : ' (slow path)'} — ${event.reason}\n`);
        break;
      case 'run-start':
        stream.write(`training ${event.method} on ${event.task} (${event.backend})\n`);
        break;
      case 'stage-start':
        bar = new cliProgress.SingleBar(
          {
            stream,
            format: `${event.stage.padEnd(10)} {bar} {value}/{total} | loss {loss} | L0 {l0} | density {density} | {rate} ex/s | ETA {eta_formatted}`,
            hideCursor: true,
            etaBuffer: 50,
          },
          cliProgress.Presets.shades_classic,
        );
        payload = { ...empty };
        bar.start(event.totalSteps, event.startStep, payload);
        break;
      case 'step-end':
        payload = {
          loss: formatNumber(event.loss),
          l0: event.expectedL0 === undefined ? '–' : Math.round(event.expectedL0).toString(),
          density: event.density === undefined ? '–' : `${(event.density * 100).toFixed(2)}%`,
          rate: event.examplesPerSecond.toFixed(1),
        };
        bar?.update(event.step, payload);
        break;
      case 'eval-end': {
        const metrics = Object.entries(event.metrics)
          .map(([k, v]) => `${k} ${v.toFixed(4)}`)
          .join(', ');
        bar?.stop();
        stream.write(
          `  eval @ ${event.stage} step ${event.step}: ${metrics}${event.isBest ? ' (best)' : ''}\n`,
        );
        bar?.start(bar.getTotal(), event.step, payload);
        break;
      }
      case 'projection-end':
        line(
          `projection: kept ${event.kept} of ${event.total} entries (${(event.density * 100).toFixed(3)}%, target ${(event.targetDensity * 100).toFixed(3)}%)`,
        );
        break;
      case 'stage-end':
        line(`${event.stage} done: ${event.steps} steps in ${(event.elapsedMs / 1000).toFixed(1)} s`);
        break;
      case 'checkpoint-load':
        stream.write(`resuming from ${event.path} (${event.stage}, step ${event.step})\n`);
        break;
      case 'run-interrupt':
        line(`interrupted at step ${event.step}; checkpoint saved in ${event.checkpoint}`);
        break;
      case 'warning-raise':
        line(`warning: ${event.message}`);
        break;
      case 'download-start':
        stream.write(`downloading ${event.url}\n`);
        break;
      default:
        break;
    }
  };
}
