import assert from 'node:assert/strict';
import { test } from 'node:test';
import type * as tfT from '@tensorflow/tfjs';
import { attention, causalBias, initAttention, paddingBias } from '../src/model/attention.js';
import { transformerConfig } from '../src/model/config.js';
import { EVAL, gatherRows } from '../src/model/layers.js';
import { crossEntropySum, logSoftmax, softmaxCrossEntropy } from '../src/model/loss.js';
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

test('softmax cross-entropy of an output layer (in row chunks) and its gradients match autodiff of the plain formula', async () => {
  const tf = await initTensorRuntime();
  const h = tf.randomNormal([20, 4], 0, 1, 'float32', 9);
  const w = tf.randomNormal([11, 4], 0, 1, 'float32', 10);
  // Repeated targets: the scatter into the table must add up, not overwrite.
  const targets = tf.tensor1d([0, 3, 10, 3, 7, 3, 1, 2, 5, 5, 9, 8, 0, 0, 4, 6, 10, 3, 3, 2], 'int32');
  const naive = (hh: tfT.Tensor, ww: tfT.Tensor) => tf.neg(tf.sum(tf.mul(logSoftmax(tf.matMul(hh, tf.transpose(ww))), tf.oneHot(targets, 11))));
  const scale = 0.37; // stands for the 1 / batch terms the trainer divides by
  const plain = (hh: tfT.Tensor, ww: tfT.Tensor) => tf.mul(naive(hh, ww), scale);
  const [gh2, gw2] = tf.grads(plain)([h, w]);
  const expected = naive(h, w).dataSync()[0];
  // One chunk, and chunks of 8 rows (20 = 8 + 8 + 4).
  for (const chunk of [undefined, 8]) {
    assert.ok(Math.abs(softmaxCrossEntropy(h, w, targets, chunk).dataSync()[0] - expected) < 1e-4, 'forward-only value');
    const fused = (hh: tfT.Tensor, ww: tfT.Tensor) => tf.mul(softmaxCrossEntropy(hh, ww, targets, chunk), scale);
    const { value, grads } = tf.valueAndGrads(fused)([h, w]);
    assert.ok(Math.abs(value.dataSync()[0] - expected * scale) < 1e-4);
    assert.ok(maxAbsDiff(grads[0].dataSync(), gh2.dataSync()) < 1e-5, `dh, chunk ${chunk}`);
    assert.ok(maxAbsDiff(grads[1].dataSync(), gw2.dataSync()) < 1e-5, `dw, chunk ${chunk}`);
  }
  // The logits form gives the same loss and the same gradient with respect to the logits.
  const logits = tf.matMul(h, tf.transpose(w));
  assert.ok(Math.abs(crossEntropySum(logits, targets).dataSync()[0] - expected) < 1e-4);
  const gz1 = tf.grad((z: tfT.Tensor) => tf.mul(crossEntropySum(z, targets), scale))(logits);
  const gz2 = tf.grad((z: tfT.Tensor) => tf.mul(tf.neg(tf.sum(tf.mul(logSoftmax(z), tf.oneHot(targets, 11)))), scale))(logits);
  assert.ok(maxAbsDiff(gz1.dataSync(), gz2.dataSync()) < 1e-5);
});

test('gatherRows: rows in any index shape, gradient sums repeated rows', async () => {
  const tf = await initTensorRuntime();
  const table = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
  const idx = tf.tensor2d([[2, 0], [2, 1]], [2, 2], 'int32');
  assert.deepEqual(gatherRows(table, idx).arraySync(), [[[5, 6], [1, 2]], [[5, 6], [3, 4]]]);
  const w = tf.tensor3d([[[1, 1], [2, 2]], [[3, 3], [4, 4]]]);
  const g = tf.grad((t: tfT.Tensor) => tf.sum(tf.mul(gatherRows(t, idx), w)))(table);
  assert.deepEqual(g.arraySync(), [[2, 2], [4, 4], [4, 4]]);
});
