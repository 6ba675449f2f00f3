import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import wasmPlain from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm?url';
import wasmSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm?url';
import wasmThreadedSimd from '@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-threaded-simd.wasm?url';
import * as tf from '@tensorflow/tfjs-core';

// The page is an app: it chooses the backend, once — webgl where it works, else wasm, else cpu
// (`?backend=wasm` forces one). The libraries never choose.

export const backendOrder = ['webgl', 'wasm', 'cpu'] as const;
export type BackendName = (typeof backendOrder)[number];

export async function chooseBackend(forced?: string | null): Promise<{ name: string; tried: string[] }> {
  setWasmPaths({
    'tfjs-backend-wasm.wasm': wasmPlain,
    'tfjs-backend-wasm-simd.wasm': wasmSimd,
    'tfjs-backend-wasm-threaded-simd.wasm': wasmThreadedSimd,
  });
  const order = forced ? [forced] : backendOrder;
  const tried: string[] = [];
  for (const name of order) {
    try {
      if (await tf.setBackend(name)) {
        await tf.ready();
        // A webgl context can exist and still fail at the first kernel (no float textures).
        tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(1)).dataSync());
        return { name: tf.getBackend(), tried };
      }
      tried.push(`${name}: unavailable`);
    } catch (error) {
      tried.push(`${name}: ${(error as Error).message}`);
    }
  }
  throw new Error(`no tfjs backend works here (${tried.join('; ')})`);
}
