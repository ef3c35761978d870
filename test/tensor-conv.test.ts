import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Tensor4D } from '@tensorflow/tfjs';
import { initTensorRuntime } from '../src/tensor/runtime.js';

test('conv2d gradients on wasm (filter via a convolution, input via a transposed one) match finite differences', async () => {
  const tf = await initTensorRuntime();
  for (const pad of ['same', 'valid'] as const) {
    const x = tf.randomNormal([2, 5, 6, 3], 0, 1, 'float32', 1) as Tensor4D;
    const w = tf.randomNormal([3, 3, 3, 4], 0, 1, 'float32', 2) as Tensor4D;
    const probe = tf.randomNormal(pad === 'same' ? [2, 5, 6, 4] : [2, 3, 4, 4], 0, 1, 'float32', 3);
    const f = (a: typeof x, b: typeof w) => tf.sum(tf.mul(tf.conv2d(a, b, 1, pad), probe));
    const [gx, gw] = tf.grads((a, b) => f(a as typeof x, b as typeof w))([x, w]);
    const eps = 1e-2;
    const numeric = (t: typeof x, at: number, which: 0 | 1) => {
      const flat = t.dataSync().slice();
      flat[at] += eps;
      const plus = tf.tensor(flat, t.shape) as typeof x;
      flat[at] -= 2 * eps;
      const minus = tf.tensor(flat, t.shape) as typeof x;
      const fp = (which === 0 ? f(plus, w) : f(x, plus)).dataSync()[0];
      const fm = (which === 0 ? f(minus, w) : f(x, minus)).dataSync()[0];
      return (fp - fm) / (2 * eps);
    };
    for (const at of [0, 17, 100, 179]) assert.ok(Math.abs(gx.dataSync()[at] - numeric(x, at, 0)) < 2e-2, `${pad} dx[${at}]`);
    for (const at of [0, 33, 70, 107]) assert.ok(Math.abs(gw.dataSync()[at] - numeric(w, at, 1)) < 2e-2, `${pad} dw[${at}]`);
  }
  assert.throws(() => tf.grad((a) => tf.sum(tf.conv2d(a as Tensor4D, tf.ones([3, 3, 1, 1]) as Tensor4D, 2, 'same')))(tf.ones([1, 4, 4, 1])), /stride 1/);
});
