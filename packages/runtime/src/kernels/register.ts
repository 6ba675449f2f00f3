import type { KernelConfig } from '@tensorflow/tfjs-core';
import * as tf from '@tensorflow/tfjs-core';
import { unsortedSegmentSumKernel } from '../scatter-add.js';
import { gatedDiffsGradKernel, gatedDiffsKernel } from './gated-diffs.js';
import { cpuMemory, wasmMemory } from './memory.js';
import { sparseRowDeltaKernel } from './sparse-row-delta.js';
import { sumSigmoidGradKernel, sumSigmoidKernel } from './sum-sigmoid.js';

/**
 * The runtime's JS kernels per backend (the diffprune kernels' contract is @diffprune/core's
 * kernel-names.ts; the ops that use them check `tf.getKernel(name, tf.getBackend())` and otherwise run
 * their composite):
 * - `cpu`: the whole-model gate (`DiffpruneGatedDiffs`, `…Grad`), the expected-L0 sum (`DiffpruneSumSigmoid`,
 *   `…Grad`), an O(n) UnsortedSegmentSum in place of tfjs's O(vocabulary·n) one, and cross-task
 *   serving's per-row sparse δ (`DiffpruneSparseRowDelta`).
 * - `wasm`: the whole-model gate (e^(−logα) from wasm's vectorised Exp) and `DiffpruneSumSigmoidGrad` (one
 *   pass, no transcendental) and `DiffpruneSparseRowDelta`; `expectedL0`'s forward keeps wasm's
 *   vectorised Sigmoid. (The wasm heap
 *   kernels that make training work at all are in wasm.ts.)
 * - `native`: none — @diffprune/native registers its compiled kernels itself (`registerNativeBackend`).
 */
export const jsKernels = (): Record<'cpu' | 'wasm', KernelConfig[]> => ({
  cpu: [
    unsortedSegmentSumKernel('cpu'),
    gatedDiffsKernel('cpu', cpuMemory),
    gatedDiffsGradKernel('cpu', cpuMemory),
    sumSigmoidKernel('cpu', cpuMemory),
    sumSigmoidGradKernel('cpu', cpuMemory),
    sparseRowDeltaKernel('cpu', cpuMemory),
  ],
  wasm: [
    gatedDiffsKernel('wasm', wasmMemory),
    gatedDiffsGradKernel('wasm', wasmMemory),
    sumSigmoidGradKernel('wasm', wasmMemory),
    sparseRowDeltaKernel('wasm', wasmMemory),
  ],
});

const registered = new Set<string>();

/** Registers the runtime's JS kernels for `backendName` (once; replacing tfjs's own of the same name). */
export function registerJsKernels(backendName: 'cpu' | 'wasm'): void {
  if (registered.has(backendName)) return;
  registered.add(backendName);
  for (const config of jsKernels()[backendName]) {
    if (tf.getKernel(config.kernelName, backendName)) tf.unregisterKernel(config.kernelName, backendName);
    tf.registerKernel(config);
  }
}
