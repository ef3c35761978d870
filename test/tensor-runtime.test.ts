import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initTensorRuntime, matMulT, parseTensorBackend, registerChunkedAddN } from '../src/tensor/runtime.js';

const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-4) => {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= tol * (1 + Math.abs(b[i])), `at ${i}: ${a[i]} vs ${b[i]}`);
};

test('matmul gradients match finite differences for every transpose flag and batch broadcast', async () => {
  const tf = await initTensorRuntime();
  const a0 = tf.randomNormal([2, 3, 4], 0, 1, 'float32', 1);
  const b0 = tf.randomNormal([4, 5], 0, 1, 'float32', 2);
  // Loss = sum(w * (a @ b)) for a fixed random w; its gradient is analytic: dA = w b^T, dB = sum_batch a^T w.
  const w = tf.randomNormal([2, 3, 5], 0, 1, 'float32', 3);
  const grads = tf.grads((a: typeof a0, b: typeof b0) => tf.sum(tf.mul(w, tf.matMul(a, b))));
  const [da, db] = grads([a0, b0]);
  const wa = w.arraySync() as number[][][];
  const bArr = b0.arraySync() as number[][];
  const aArr = a0.arraySync() as number[][][];
  const expA: number[] = [];
  for (let n = 0; n < 2; n++)
    for (let i = 0; i < 3; i++)
      for (let k = 0; k < 4; k++) expA.push(wa[n][i].reduce((s, wv, j) => s + wv * bArr[k][j], 0));
  const expB: number[] = [];
  for (let k = 0; k < 4; k++)
    for (let j = 0; j < 5; j++) {
      let s = 0;
      for (let n = 0; n < 2; n++) for (let i = 0; i < 3; i++) s += aArr[n][i][k] * wa[n][i][j];
      expB.push(s);
    }
  close(da.dataSync(), expA);
  assert.deepEqual(db.shape, [4, 5]);
  close(db.dataSync(), expB);
  // Flags give the same gradients as explicit transposes.
  const bt = tf.transpose(b0);
  const [, dbt] = tf.grads((a: typeof a0, b: typeof bt) => tf.sum(tf.mul(w, tf.matMul(a, b, false, true))))([a0, bt]);
  close(dbt.dataSync(), tf.transpose(db).dataSync());
  close(matMulT(a0, bt).dataSync(), tf.matMul(a0, b0).dataSync());
});

test('gather gradient sums rows at repeated indices', async () => {
  const tf = await initTensorRuntime();
  const table = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
  const idx = tf.tensor1d([2, 0, 2], 'int32');
  const g = tf.grad((t: import("@tensorflow/tfjs").Tensor) => tf.sum(tf.mul(tf.gather(t, idx), tf.tensor2d([[1, 1], [2, 2], [3, 3]]))))(table);
  assert.deepEqual(g.arraySync(), [[2, 2], [0, 0], [4, 4]]);
});

test('AddN in rounds of a few inputs gives the same sums and gradients and frees its partial sums', async () => {
  const tf = await initTensorRuntime();
  const xs = Array.from({ length: 11 }, (_, i) => tf.fill([3, 4], i + 1));
  const x = tf.tensor1d([1, 2, 3]);
  // A tensor used 9 times: its gradient is the AddN of 9 terms.
  const grad = () => tf.grad((t: import("@tensorflow/tfjs").Tensor) => tf.addN(Array.from({ length: 9 }, (_, i) => tf.mul(t, i + 1))).sum())(x).dataSync();
  const plain = { sum: tf.addN(xs).dataSync(), grad: grad() };
  assert.throws(() => registerChunkedAddN('wasm', 1), /at least 2 inputs/);
  registerChunkedAddN('wasm', 3);
  const backend = tf.engine().backend as unknown as { numDataIds(): number };
  const before = backend.numDataIds();
  const chunked = tf.addN(xs);
  assert.equal(backend.numDataIds() - before, 1, 'only the output stays allocated');
  assert.deepEqual(Array.from(chunked.dataSync()), Array.from(plain.sum));
  assert.equal(plain.sum[0], 66);
  assert.deepEqual(Array.from(grad()), Array.from(plain.grad));
  assert.deepEqual(Array.from(plain.grad), [45, 45, 45]);
});

test('tensor backends are checked by name, and webgpu without its package or a GPU says what is missing', async () => {
  assert.equal(parseTensorBackend('webgpu', '--backend'), 'webgpu');
  assert.throws(() => parseTensorBackend('cuda', '--backend'), /--backend expects wasm, webgpu, tensorflow; got "cuda"/);
  // CI installs neither the optional package nor a GPU driver; a developer may have the package.
  await assert.rejects(initTensorRuntime({ backend: 'webgpu' }), /backend 'webgpu' needs webgpu \(npm install webgpu\)|backend 'webgpu' failed to start \(no GPU adapter/);
});
