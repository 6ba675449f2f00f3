import { createRng, type Rng } from '@diffprune/core';

/**
 * The random streams of a training step as pure functions of (seed, stage, step): a resumed run
 * draws what the uninterrupted one drew, and another implementation can replay a run exactly
 * (`diffprune-bench replay` feeds them to the PyTorch reference).
 */

/** The seed of a stage's batch order (glue's `batchIndices`, reshuffled per epoch). */
export const batchSeed = (seed: number, stageIndex: number): number => seed + stageIndex * 7919;

/** The forward's dropout seed of a step (each dropout site derives its own from it). */
export const stepSeed = (seed: number, stageIndex: number, step: number): number =>
  createRng(seed).fork(`dropout/${stageIndex}/${step}`).nextUint32();

/**
 * Gate noise draws from a stream, one gated tensor after another: a counter-uniform seed per tensor
 * (u_i = the i-th counter-based uniform of that seed) and, in structured mode, its group's u.
 */
export function gateDraws(
  count: number,
  structured: boolean,
  rng: Rng,
): { seeds: number[]; groupU: number[] } {
  const seeds: number[] = [];
  const groupU: number[] = [];
  for (let i = 0; i < count; i++) {
    seeds.push(rng.nextUint32());
    if (structured) groupU.push(rng.uniformArray(1)[0]!);
  }
  return { seeds, groupU };
}

/** The gate noise draws of a search step, in the order of the gated tensors. */
export const stepGateDraws = (
  seed: number,
  stageIndex: number,
  step: number,
  gatedCount: number,
  structured: boolean,
): { seeds: number[]; groupU: number[] } =>
  gateDraws(gatedCount, structured, createRng(seed).fork(`u/${stageIndex}/${step}`));
