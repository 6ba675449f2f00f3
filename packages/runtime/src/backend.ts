import { BackendError, type EventListener, InvalidArgumentError } from '@diffprune/core';
import * as tf from '@tensorflow/tfjs-core';
import { registerJsKernels } from './kernels/register.js';
import { startWasmBackend, type WasmStartInfo } from './wasm.js';

/** Backends the runtime can choose, fastest first. */
export const backendNames = ['tensorflow', 'native', 'wasm', 'cpu'] as const;
export type BackendName = (typeof backendNames)[number];

export interface BackendInfo {
  /** The active tfjs backend. */
  backend: BackendName;
  /**
   * One short line: why it was chosen — `requested`, or why each faster backend was not used and how
   * to get it (e.g. `tfjs-node is not installed: its install downloads libtensorflow; install
   * @tensorflow/tfjs-node where that works`).
   */
  reason: string;
  /** What the backend reports about itself (addon build, SIMD, its kernels): for logs, not for a status line. */
  detail: string;
  /** False on a known slow path (plain tfjs `cpu`). */
  fast: boolean;
  /** Threads the backend uses, where it tells. */
  threads: number | undefined;
}

export interface InitBackendOptions {
  /**
   * Force a backend (`auto` or one of `backendNames`; `node`/`tfjs-node` mean `tensorflow`), as an app's
   * `--backend` gives it: any other name is an `InvalidArgumentError` listing the valid ones. Default:
   * `DIFFPRUNE_BACKEND` (checked the same way), else the fastest that loads.
   */
  backend?: BackendName | 'auto' | (string & {});
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

/** The first line of an error's message, at most `limit` characters (the reason is one short line). */
export const shortMessage = (error: unknown, limit = 80): string => {
  const line = ((error as Error)?.message ?? String(error)).split('\n')[0]?.trim() ?? '';
  return line.length > limit ? `${line.slice(0, limit - 1)}…` : line;
};

/** Why tfjs-node was not used, and how to get it. */
export const tfjsNodeNotInstalled =
  'tfjs-node is not installed: its install downloads libtensorflow; install @tensorflow/tfjs-node where that works';

/**
 * A failed tfjs-node load, in one line: "not installed" for a missing package or binding (its JS installs
 * without the libtensorflow binding where the download fails), else the error's first line, shortened.
 */
export function tfjsNodeFailure(error: unknown): string {
  const message = (error as Error)?.message ?? String(error);
  if (/tfjs_binding\.node|Cannot find (module|package) '@tensorflow\/tfjs-node'/.test(message)) {
    return tfjsNodeNotInstalled;
  }
  return `tfjs-node did not load (${shortMessage(error)})`;
}

const tryTensorflow = async (options: InitBackendOptions): Promise<string | undefined> => {
  if (!options.loadTfjsNode) return 'no tfjs-node loader was given';
  try {
    await options.loadTfjsNode();
  } catch (error) {
    return tfjsNodeFailure(error);
  }
  if (!tf.findBackend('tensorflow')) return 'tfjs-node loaded but registered no backend';
  if (!(await tf.setBackend('tensorflow'))) return 'the tensorflow backend failed to initialise';
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
    return `@diffprune/native did not load (${shortMessage(error)})`;
  }
};

const tryWasm = async (): Promise<WasmStartInfo | string> => {
  try {
    const started = await startWasmBackend();
    registerJsKernels('wasm');
    return started;
  } catch (error) {
    return `tfjs-backend-wasm did not start (${shortMessage(error)})`;
  }
};

const tryCpu = async (): Promise<void> => {
  await import('@tensorflow/tfjs-backend-cpu');
  // tfjs-backend-cpu prints an advert for tfjs-node on first use unless PROD is set; the runtime
  // already reports the slow path through `backend-select`, and libraries never print.
  tf.env().set('PROD', true);
  registerJsKernels('cpu');
  if (!(await tf.setBackend('cpu')))
    throw new BackendError({ backend: 'cpu', reason: 'failed to initialise' });
};

/**
 * A backend name as given by `DIFFPRUNE_BACKEND` or an app's `--backend`: `auto`, one of `backendNames`,
 * or `node` / `tfjs-node` for `tensorflow`; anything else is an `InvalidArgumentError` listing the valid
 * names (never a silent fallback). `argument` names where the value came from.
 */
export function parseBackendName(value: string, argument: string): BackendName | 'auto' {
  const normalised = value === 'node' || value === 'tfjs-node' ? 'tensorflow' : value;
  if (normalised === 'auto' || (backendNames as readonly string[]).includes(normalised)) {
    return normalised as BackendName | 'auto';
  }
  throw new InvalidArgumentError({
    argument,
    expected: `one of auto, ${backendNames.join(', ')}`,
    found: value,
  });
}

const requestedBackend = (options: InitBackendOptions): BackendName | 'auto' => {
  if (options.backend !== undefined) return parseBackendName(options.backend, 'backend');
  const fromEnvironment = process.env.DIFFPRUNE_BACKEND;
  if (fromEnvironment === undefined || fromEnvironment === '') return 'auto';
  return parseBackendName(fromEnvironment, 'DIFFPRUNE_BACKEND');
};

/**
 * Chooses and starts the compute backend, once per process: `@tensorflow/tfjs-node` when it loads,
 * else the compiled `@diffprune/native` addon when it was built, else tfjs-backend-wasm, else tfjs
 * `cpu`. `DIFFPRUNE_BACKEND` (or `options.backend`) forces one. Returns which backend is active and why; emits `backend-select`.
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  const requested = requestedBackend(options);
  const reasons: string[] = [];
  let info: BackendInfo | undefined;
  await registerGradients();

  // The fast backends in order of preference: each either starts (and says how, given why it was
  // chosen) or returns why not. A requested backend that fails is an error; under `auto` the next one
  // is tried and the reasons are kept for the report.
  type Started = { detail: string; threads: number | undefined };
  const candidates: [Exclude<BackendName, 'cpu'>, () => Promise<Started | string>][] = [
    [
      'tensorflow',
      async () =>
        (await tryTensorflow(options)) ?? { detail: 'tfjs-node (libtensorflow)', threads: undefined },
    ],
    [
      'native',
      async () => {
        const started = await tryNative(options);
        return typeof started === 'string'
          ? started
          : { detail: `@diffprune/native (${started.detail})`, threads: started.threads };
      },
    ],
    [
      'wasm',
      async () => {
        const started = await tryWasm();
        if (typeof started === 'string') return started;
        const simd = started.simd ? 'SIMD' : 'no SIMD';
        return {
          detail: `tfjs-backend-wasm (${simd}, XNNPACK matmul, diffprune kernels)`,
          threads: started.threads,
        };
      },
    ],
  ];
  for (const [name, start] of candidates) {
    if (requested !== 'auto' && requested !== name) continue;
    const started = await start();
    if (typeof started !== 'string') {
      const why =
        requested === name ? 'requested' : reasons.length === 0 ? 'the fastest' : reasons.join('; ');
      info = { backend: name, reason: why, detail: started.detail, fast: true, threads: started.threads };
      break;
    }
    if (requested === name) throw new BackendError({ backend: name, reason: started });
    reasons.push(started);
  }
  if (!info) {
    await tryCpu();
    const why = requested === 'cpu' ? 'requested' : reasons.join('; ');
    info = { backend: 'cpu', reason: why, detail: 'tfjs-backend-cpu (slow path)', fast: false, threads: 1 };
  }
  active = info;
  options.onEvent?.({ type: 'backend-select', backend: info.backend, reason: info.reason, fast: info.fast });
  return info;
}

/** The backend chosen by the last `initBackend`, if any. */
export function activeBackend(): BackendInfo | undefined {
  return active;
}
