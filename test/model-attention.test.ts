import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as tfT from '@tensorflow/tfjs';
import { attention, causalBias, initAttention, paddingBias } from '../src/model/attention.js';
import { transformerConfig } from '../src/model/config.js';
import { EVAL } from '../src/model/layers.js';
import { crossEntropySum, logSoftmax } from '../src/model/loss.js';
import { flattenParams, rebuildParams } from '../src/model/params.js';
import { initStack, stack } from '../src/model/transformer.js';
import { Rng } from '../src/tensor/rng.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';

const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
};

/** Rows [b, t, :] of a [B, L, d] tensor as a flat array. */
const at = (x: tfT.Tensor, b: number, t: number) => (x.arraySync() as number[][][])[b][t];

test('causal stack: the output at t does not depend on inputs after t, and does on inputs up to t', async () => {
  const tf = await initTensorRuntime();
  const cfg = transformerConfig('tiny', { nLayers: 2, dModel: 16, nHeads: 2 });
  const p = initStack(new Rng(1), cfg);
  const x = tf.randomNormal([2, 6, 16], 0, 1, 'float32', 3);
  const bias = causalBias(6);
  const y = stack(p, x, { self: bias }, cfg, EVAL);
  // Change only positions 3..5: outputs 0..2 must stay exactly, 3..5 must move.
  const noise = tf.concat([tf.zeros([2, 3, 16]), tf.randomNormal([2, 3, 16], 0, 1, 'float32', 4)], 1);
  const y2 = stack(p, tf.add(x, noise), { self: bias }, cfg, EVAL);
  for (let b = 0; b < 2; b++) {
    for (let t = 0; t < 3; t++) assert.equal(maxAbsDiff(at(y, b, t), at(y2, b, t)), 0, `position ${t} saw the future`);
    for (let t = 3; t < 6; t++) assert.ok(maxAbsDiff(at(y, b, t), at(y2, b, t)) > 1e-3, `position ${t} ignores its own input`);
  }
  // Gradient form: d (w . y[:, 2]) / d x is zero after position 2 and non-zero at 0..2. (A random
  // w: a plain sum of a LayerNorm output is constant.)
  const w = tf.randomNormal([2, 1, 16], 0, 1, 'float32', 5);
  const g = tf.grad((xx: tfT.Tensor) => tf.sum(tf.mul(tf.slice(stack(p, xx, { self: bias }, cfg, EVAL), [0, 2, 0], [2, 1, 16]), w)))(x);
  const ga = g.arraySync() as number[][][];
  for (let t = 0; t < 6; t++) {
    const norm = Math.max(...ga[0][t].map(Math.abs));
    if (t <= 2) assert.ok(norm > 1e-6, `no gradient from position 2 to ${t}`);
    else assert.equal(norm, 0, `gradient leaks from position 2 to future position ${t}`);
  }
});

test('padding bias: padded keys have no influence on any query', async () => {
  const tf = await initTensorRuntime();
  const p = initAttention(new Rng(2), 8, 0.3);
  const x = tf.randomNormal([2, 5, 8], 0, 1, 'float32', 5);
  const keyMask = tf.tensor2d([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]);
  const bias = paddingBias(keyMask);
  assert.deepEqual(bias.shape, [2, 1, 1, 5]);
  // Self-attention with separate query and key inputs: perturb only the padded keys of row 0.
  const change = tf.concat([tf.concat([tf.zeros([1, 3, 8]), tf.fill([1, 2, 8], 5)], 1), tf.zeros([1, 5, 8])], 0);
  const y = attention(p, x, x, bias, 2, 0, EVAL);
  const y2 = attention(p, x, tf.add(x, change), bias, 2, 0, EVAL);
  assert.ok(maxAbsDiff(y.dataSync(), y2.dataSync()) < 1e-6);
  // Without the bias the same change does reach the outputs (the test can fail).
  const y3 = attention(p, x, tf.add(x, change), undefined, 2, 0, EVAL);
  assert.ok(maxAbsDiff(y.dataSync(), y3.dataSync()) > 1e-3);
});

test('cross-attention: shapes, gradients to every parameter and to the unmasked memory only', async () => {
  const tf = await initTensorRuntime();
  const cfg = transformerConfig('tiny', { nLayers: 2, dModel: 16, nHeads: 4 });
  const p = initStack(new Rng(3), cfg, { cross: true });
  assert.ok(p.blocks.every((b) => b.cross && b.lnCross));
  const x = tf.randomNormal([2, 4, 16], 0, 1, 'float32', 6);
  const memory = tf.randomNormal([2, 7, 16], 0, 1, 'float32', 7);
  const memMask = tf.tensor2d([[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1]]);
  const memBias = paddingBias(memMask);
  const run = (pp: typeof p, mem: tfT.Tensor) => stack(pp, x, { self: causalBias(4), cross: { memory: mem, bias: memBias } }, cfg, EVAL);
  assert.deepEqual(run(p, memory).shape, [2, 4, 16]);
  const w = tf.randomNormal([2, 4, 16], 0, 1, 'float32', 8);
  const leaves = flattenParams(p).map(([, t]) => t);
  const grads = tf.grads((...xs: tfT.Tensor[]) => tf.sum(tf.mul(run(rebuildParams(p, xs.slice(1)), xs[0]), w)))([memory, ...leaves]);
  const [gMem, ...gParams] = grads;
  flattenParams(p).forEach(([name, t], i) => {
    assert.deepEqual(gParams[i].shape, t.shape, name);
    assert.ok(maxAbsDiff(gParams[i].dataSync(), new Float32Array(t.size)) > 0, `no gradient reaches ${name}`);
  });
  const gm = gMem.arraySync() as number[][][];
  for (let t = 0; t < 7; t++) {
    const norm = Math.max(...gm[0][t].map(Math.abs));
    if (t < 5) assert.ok(norm > 1e-7, `memory position ${t} gets no gradient`);
    else assert.equal(norm, 0, `masked memory position ${t} gets gradient`);
  }
  // A finite-difference check on one cross-attention weight.
  const name = 'blocks.1.cross.q.w';
  const i = flattenParams(p).findIndex(([n]) => n === name);
  const eps = 1e-2;
  const loss = (delta: number) => {
    const bumped = leaves.map((t, j) => (j === i ? tf.add(t, tf.mul(tf.oneHot(tf.tensor1d([5], 'int32'), t.size).reshape(t.shape), delta)) : t));
    return tf.sum(tf.mul(run(rebuildParams(p, bumped), memory), w)).dataSync()[0];
  };
  const numeric = (loss(eps) - loss(-eps)) / (2 * eps);
  const analytic = gParams[i].dataSync()[5];
  assert.ok(Math.abs(numeric - analytic) < 2e-2 * (1 + Math.abs(analytic)), `${name}[5]: numeric ${numeric} vs analytic ${analytic}`);
});

test('cross-entropy sum and its hand-written gradient match the plain formula', async () => {
  const tf = await initTensorRuntime();
  const logits = tf.randomNormal([5, 11], 0, 3, 'float32', 9);
  const targets = tf.tensor1d([0, 3, 10, 3, 7], 'int32');
  const naive = (z: tfT.Tensor) => tf.neg(tf.sum(tf.mul(logSoftmax(z), tf.oneHot(targets, 11))));
  assert.ok(Math.abs(crossEntropySum(logits, targets).dataSync()[0] - naive(logits).dataSync()[0]) < 1e-4);
  const g1 = tf.grad((z: tfT.Tensor) => crossEntropySum(z, targets))(logits);
  const g2 = tf.grad(naive)(logits);
  assert.ok(maxAbsDiff(g1.dataSync(), g2.dataSync()) < 1e-5);
});
