import * as tf from '@tensorflow/tfjs-core';
import { BackendError, InvalidArgumentError } from '../errors.js';
import type { EventListener } from '../events.js';
import { unsortedSegmentSumKernel } from './scatter-add.js';
import { startWasmBackend, type WasmStartInfo } from './wasm.js';

/** Backends the runtime can choose, fastest first. */
export const backendNames = ['tensorflow', 'native', 'wasm', 'cpu'] as const;
export type BackendName = (typeof backendNames)[number];

export interface BackendInfo {
  /** The active tfjs backend. */
  backend: BackendName;
  /** Why it was chosen (and why faster ones were not). */
  reason: string;
  /** False on a known slow path (plain tfjs `cpu`). */
  fast: boolean;
  /** Threads the backend uses, where it tells. */
  threads: number | undefined;
}

export interface InitBackendOptions {
  /** Force a backend; default: `DIFFPRUNE_BACKEND`, else the fastest that loads. */
  backend?: BackendName | 'auto';
  /**
   * Loads `@tensorflow/tfjs-node`. Apps pass `() => import('@tensorflow/tfjs-node')`: tfjs-node is an
   * optional dependency of the apps, never of the libraries.
   */
  loadTfjsNode?: () => Promise<unknown>;
  /**
   * Loads `@diffprune/native` (the compiled fast path without libtensorflow). Like tfjs-node, it is an
   * optional dependency of the apps, passed in by them.
   */
  loadNative?: () => Promise<NativeBackendModule>;
  /** Threads for backends that use them. */
  threads?: number;
  onEvent?: EventListener;
}

/** What `@diffprune/native` exports: registers a tfjs backend named `native`. */
export interface NativeBackendModule {
  registerNativeBackend(options: { threads?: number }): { name: string; threads: number; detail: string };
}

let active: BackendInfo | undefined;
let cpuKernelsRegistered = false;

const registerCpuKernels = (): void => {
  if (cpuKernelsRegistered) return;
  cpuKernelsRegistered = true;
  // Replace tfjs-backend-cpu's O(vocabulary·n) UnsortedSegmentSum (the embedding gradient).
  tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
  tf.registerKernel(unsortedSegmentSumKernel('cpu'));
};

/**
 * tfjs-core registers no gradients (nor the chained tensor methods) by itself: the `@tensorflow/tfjs`
 * bundle does. Without it every `tf.grad` fails with "gradient function not found" on any backend;
 * so far tests only had them because loading tfjs-node pulls `@tensorflow/tfjs` in even when its
 * binding then fails. Loaded once, before any backend, and the same tfjs-core instance (one version).
 */
const registerGradients = async (): Promise<void> => {
  if (tf.getGradient('AddN')) return;
  await import('@tensorflow/tfjs');
};

const tryTensorflow = async (options: InitBackendOptions): Promise<string | undefined> => {
  if (!options.loadTfjsNode) return 'no tfjs-node loader was given';
  try {
    await options.loadTfjsNode();
  } catch (error) {
    const message = (error as Error).message.split('\n')[0] ?? '';
    return `@tensorflow/tfjs-node did not load (${message})`;
  }
  if (!tf.findBackend('tensorflow')) return '@tensorflow/tfjs-node loaded but registered no backend';
  if (!(await tf.setBackend('tensorflow'))) return 'tensorflow backend failed to initialise';
  return undefined;
};

const tryNative = async (
  options: InitBackendOptions,
): Promise<{ threads: number; detail: string } | string> => {
  if (!options.loadNative) return 'no @diffprune/native loader was given';
  try {
    const native = await options.loadNative();
    // As on cpu: tfjs-backend-cpu (which `native` extends) prints an advert unless PROD is set.
    tf.env().set('PROD', true);
    const registration = native.registerNativeBackend(options.threads ? { threads: options.threads } : {});
    if (!(await tf.setBackend(registration.name))) return 'the native backend failed to initialise';
    return registration;
  } catch (error) {
    const message = (error as Error).message?.split('\n')[0] ?? String(error);
    return `@diffprune/native did not load (${message})`;
  }
};

const tryWasm = async (): Promise<WasmStartInfo | string> => {
  try {
    return await startWasmBackend();
  } catch (error) {
    const message = (error as Error).message?.split('\n')[0] ?? String(error);
    return `tfjs-backend-wasm did not start (${message})`;
  }
};

const tryCpu = async (): Promise<void> => {
  await import('@tensorflow/tfjs-backend-cpu');
  // tfjs-backend-cpu prints an advert for tfjs-node on first use unless PROD is set; the runtime
  // already reports the slow path through `backend-select`, and libraries never print.
  tf.env().set('PROD', true);
  registerCpuKernels();
  if (!(await tf.setBackend('cpu')))
    throw new BackendError({ backend: 'cpu', reason: 'failed to initialise' });
};

const parseBackend = (value: string | undefined): BackendName | 'auto' | undefined => {
  if (value === undefined || value === '') return undefined;
  const normalised = value === 'node' || value === 'tfjs-node' ? 'tensorflow' : value;
  if (normalised === 'auto' || (backendNames as readonly string[]).includes(normalised)) {
    return normalised as BackendName | 'auto';
  }
  throw new InvalidArgumentError({
    argument: 'DIFFPRUNE_BACKEND',
    expected: `one of auto, ${backendNames.join(', ')}`,
    found: value,
  });
};

/**
 * Chooses and starts the compute backend, once per process: `@tensorflow/tfjs-node` when it loads,
 * else the compiled `@diffprune/native` addon when it was built, else tfjs-backend-wasm, else tfjs
 * `cpu`. `DIFFPRUNE_BACKEND` (or `options.backend`) forces one. Returns which backend is active and why; emits `backend-select`.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const requested = options.backend ?? parseBackend(process.env.DIFFPRUNE_BACKEND) ?? 'auto';
  const reasons: string[] = [];
  let info: BackendInfo | undefined;
  await registerGradients();

  // The fast backends in order of preference: each either starts (and says how, given why it was
  // chosen) or returns why not. A requested backend that fails is an error; under `auto` the next one
  // is tried and the reasons are kept for the report.
  type Started = { describe: (why: string) => string; threads: number | undefined };
  const candidates: [Exclude<BackendName, 'cpu'>, () => Promise<Started | string>][] = [
    [
      'tensorflow',
      async () =>
        (await tryTensorflow(options)) ?? {
          describe: () => 'tfjs-node (libtensorflow) loaded',
          threads: undefined,
        },
    ],
    [
      'native',
      async () => {
        const started = await tryNative(options);
        return typeof started === 'string'
          ? started
          : { describe: (why) => `@diffprune/native (${started.detail}): ${why}`, threads: started.threads };
      },
    ],
    [
      'wasm',
      async () => {
        const started = await tryWasm();
        if (typeof started === 'string') return started;
        const simd = started.simd ? 'SIMD' : 'no SIMD';
        return {
          describe: (why) => `tfjs-backend-wasm (${simd}, XNNPACK matmul, diffprune kernels): ${why}`,
          threads: started.threads,
        };
      },
    ],
  ];
  for (const [name, start] of candidates) {
    if (requested !== 'auto' && requested !== name) continue;
    const started = await start();
    if (typeof started !== 'string') {
      const why = requested === name ? 'requested' : reasons.join('; ');
      info = { backend: name, reason: started.describe(why), fast: true, threads: started.threads };
      break;
    }
    if (requested === name) throw new BackendError({ backend: name, reason: started });
    reasons.push(started);
  }
  if (!info) {
    await tryCpu();
    const why = requested === 'cpu' ? 'requested' : reasons.join('; ');
    info = { backend: 'cpu', reason: `tfjs cpu (slow path): ${why}`, fast: false, threads: 1 };
  }
  active = info;
  options.onEvent?.({ type: 'backend-select', backend: info.backend, reason: info.reason, fast: info.fast });
  return info;
}

/** The backend chosen by the last `initBackend`, if any. */
export function activeBackend(): BackendInfo | undefined {
  return active;
}
