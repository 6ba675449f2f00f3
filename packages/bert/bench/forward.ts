/**
 * Benchmark: the BERT forward (classify, eval mode) and forward + backward (training mode with
 * dropout, gradients with respect to every parameter, as a diff-pruning step needs them) in ms per
 * batch, on the active backend. Parameters are random (shapes are what matters).
 *
 *   pnpm bench [--sizes tiny,base] [--batch 32] [--length 128] [--repeats 3] [--forward-only] [--backend wasm|cpu|tensorflow]
 *
 * Each measurement is the median of `repeats` runs after one warm-up run.
 */
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import type { ParameterMap } from '@diffprune/core';
import { type BackendName, initBackend } from '@diffprune/runtime';
import * as tf from '@tensorflow/tfjs-core';
import { parseBertConfig } from '../src/config.js';
import { BertBackbone } from '../src/model.js';
import { WordPieceTokenizer } from '../src/tokenizer.js';

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: 'tiny,base' },
    batch: { type: 'string', default: '32' },
    length: { type: 'string', default: '128' },
    repeats: { type: 'string', default: '3' },
    'forward-only': { type: 'boolean', default: false },
    backend: { type: 'string' },
  },
});

const shapes = {
  tiny: { num_hidden_layers: 2, hidden_size: 128, num_attention_heads: 2, intermediate_size: 512 },
  mini: { num_hidden_layers: 4, hidden_size: 256, num_attention_heads: 4, intermediate_size: 1024 },
  base: { num_hidden_layers: 12, hidden_size: 768, num_attention_heads: 12, intermediate_size: 3072 },
} as const;

// tfjs-node is the workspace's optional dependency (a bench never reaches into an app to find it).
const requireFromWorkspace = createRequire(new URL('../../../package.json', import.meta.url));
const info = await initBackend({
  ...(args.backend ? { backend: args.backend as BackendName } : {}),
  loadTfjsNode: async () => requireFromWorkspace('@tensorflow/tfjs-node'),
});
const batchSize = Number(args.batch);
const length = Number(args.length);
const repeats = Number(args.repeats);
console.log(
  `backend: ${info.backend} (${info.reason}); batch ${batchSize} × ${length}; median of ${repeats} after 1 warm-up`,
);

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const time = async (run: () => Promise<void>) => {
  await run();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await run();
    times.push(performance.now() - start);
  }
  return median(times);
};

for (const size of args.sizes.split(',')) {
  const shape = shapes[size as keyof typeof shapes];
  if (!shape) throw new Error(`--sizes: unknown size ${size}; one of ${Object.keys(shapes).join(', ')}`);
  const config = parseBertConfig({ model_type: 'bert', ...shape });
  const backbone = new BertBackbone(
    config,
    new WordPieceTokenizer(['[PAD]', '[UNK]', '[CLS]', '[SEP]'], { lowercase: true }),
  );
  const head = { numLabels: 2 };
  const params: ParameterMap = {};
  for (const spec of backbone.parameterSpecs(head)) {
    params[spec.name] =
      spec.kind === 'norm-weight'
        ? tf.ones([...spec.shape])
        : spec.kind === 'bias' || spec.kind === 'norm-bias'
          ? tf.zeros([...spec.shape])
          : tf.randomNormal([...spec.shape], 0, 0.02, 'float32', 1);
  }
  const ids = tf.randomUniform([batchSize, length], 1000, 30000, 'int32', 2) as tf.Tensor2D;
  const batch = {
    inputIds: ids,
    tokenTypeIds: tf.zeros([batchSize, length], 'int32') as tf.Tensor2D,
    attentionMask: tf.ones([batchSize, length], 'int32') as tf.Tensor2D,
  };
  const labels = tf.oneHot(tf.zeros([batchSize], 'int32'), 2);
  const names = Object.keys(params);

  const forward = await time(async () => {
    const logits = backbone.classify(params, batch, { training: false });
    await logits.data();
    logits.dispose();
  });
  const label = `${size.padEnd(5)} (L${shape.num_hidden_layers} H${shape.hidden_size}) ${batchSize}×${length}`;
  console.log(`${label}: forward ${forward.toFixed(0)} ms/batch`);
  if (!args['forward-only']) {
    const gradient = tf.grads((...xs: tf.Tensor[]) => {
      const p: ParameterMap = {};
      names.forEach((n, i) => {
        p[n] = xs[i]!;
      });
      const logits = backbone.classify(p, batch, { training: true, seed: 1 });
      return tf.neg(tf.mean(tf.sum(tf.mul(labels, tf.logSoftmax(logits)), 1)));
    });
    const before = tf.memory().numTensors;
    const backward = await time(async () => {
      const grads = gradient(names.map((n) => params[n]!));
      await Promise.all(grads.map((g) => g.data()));
      tf.dispose(grads);
    });
    if (tf.memory().numTensors !== before) throw new Error('tensor leak in forward + backward');
    console.log(
      `${label}: forward+backward ${backward.toFixed(0)} ms/batch (${(backward / forward).toFixed(2)}× forward; ${((batchSize * 1000) / backward).toFixed(1)} training examples/s)`,
    );
  }
  tf.dispose([...Object.values(params), batch.inputIds, batch.tokenTypeIds, batch.attentionMask, labels]);
}
