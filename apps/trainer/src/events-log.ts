import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import type { DiffpruneEvent, EventListener } from '@diffprune/core';

/** Appends every event as one JSON line (with a timestamp) to `path`. */
export function jsonlEventLog(path: string): EventListener {
  mkdirSync(dirname(path), { recursive: true });
  return (event: DiffpruneEvent) => {
    appendFileSync(path, `${JSON.stringify({ time: new Date().toISOString(), ...event })}\n`);
  };
}

/** Calls every listener in turn. */
export function fanOut(...listeners: (EventListener | undefined)[]): EventListener {
  const active = listeners.filter((l): l is EventListener => l !== undefined);
  return (event) => {
    for (const listener of active) listener(event);
  };
}
