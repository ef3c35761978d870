import assert from 'node:assert/strict';
import { test } from 'node:test';
import { initTensorRuntime } from '../src/tensor/runtime.js';

/** Reference gather over nested arrays: out[b..][outer..][idx..][slice..] (axis, batchDims). */
function reference(x: number[], shape: number[], idx: number[], idxShape: number[], axis: number, batchDims: number): number[] {
  const size = (s: number[]) => s.reduce((a, b) => a * b, 1);
  const batch = size(shape.slice(0, batchDims));
  const outer = size(shape.slice(batchDims, axis));
  const dim = shape[axis];
  const slice = size(shape.slice(axis + 1));
  const per = size(idxShape.slice(batchDims));
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < per; i++) {
        const row = idx[b * per + i];
        for (let s = 0; s < slice; s++) out.push(x[((b * outer + o) * dim + row) * slice + s]);
      }
    }
  }
  return out;
}

test('the fast wasm gather kernel matches the definition for every axis, batch dims and index shape', async () => {
  const tf = await initTensorRuntime();
  const cases: { shape: number[]; idxShape: number[]; axis: number; batchDims: number }[] = [
    { shape: [7, 5], idxShape: [9], axis: 0, batchDims: 0 },
    { shape: [7, 5], idxShape: [3, 4], axis: 0, batchDims: 0 },
    { shape: [4, 6, 3], idxShape: [5], axis: 1, batchDims: 0 },
    { shape: [4, 6, 3], idxShape: [4, 2], axis: 1, batchDims: 1 },
    { shape: [3, 4, 5], idxShape: [6], axis: 2, batchDims: 0 },
    { shape: [11], idxShape: [4], axis: 0, batchDims: 0 },
  ];
  let seed = 3;
  const rand = () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
  for (const c of cases) {
    const n = c.shape.reduce((a, b) => a * b, 1);
    const x = Array.from({ length: n }, () => Math.round(rand() * 1000) / 10);
    const m = c.idxShape.reduce((a, b) => a * b, 1);
    const idx = Array.from({ length: m }, () => Math.floor(rand() * c.shape[c.axis]));
    const xt = tf.tensor(x, c.shape);
    const it = tf.tensor(idx, c.idxShape, 'int32');
    for (const dtype of ['float32', 'int32'] as const) {
      const got = tf.gather(tf.cast(xt, dtype), it, c.axis, c.batchDims);
      const want = reference(dtype === 'int32' ? x.map((v) => Math.trunc(v)) : x, c.shape, idx, c.idxShape, c.axis, c.batchDims);
      assert.deepEqual(Array.from(got.dataSync()), want.map((v) => Math.fround(v)), `${JSON.stringify(c)} ${dtype}`);
    }
  }
  assert.throws(() => tf.gather(tf.zeros([3, 2]), tf.tensor1d([0, 3], 'int32')), /not in \[0, 2\]/);
});
