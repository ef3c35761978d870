import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GensearchError } from '../src/errors.js';
import { kmeans } from '../src/sids/kmeans.js';
import type { Matrix } from '../src/sids/matrix.js';
import { gaussianBlobs } from '../src/sids/synthetic.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';

/** For each found cluster, the true label most of its points carry, and the share that do. */
function matchClusters(found: Int32Array, truth: Int32Array, k: number): { map: number[]; purity: number } {
  const counts = new Map<string, number>();
  for (let i = 0; i < found.length; i++) counts.set(`${found[i]},${truth[i]}`, (counts.get(`${found[i]},${truth[i]}`) ?? 0) + 1);
  const map: number[] = [];
  let agree = 0;
  for (let c = 0; c < k; c++) {
    let best = -1;
    let bestN = 0;
    for (const [key, v] of counts) {
      const [f, t] = key.split(',').map(Number);
      if (f === c && v > bestN) [best, bestN] = [t, v];
    }
    map.push(best);
    agree += bestN;
  }
  return { map, purity: agree / found.length };
}

test('k-means recovers well-separated blobs and their centers', async () => {
  const tf = await initTensorRuntime();
  const blobs = gaussianBlobs([200, 150, 120, 200, 90, 160, 100, 180], 16, { seed: 3 });
  const r = kmeans(tf, blobs.points, { k: 8, seed: 7 });
  const { map, purity } = matchClusters(r.assignment, blobs.labels, 8);
  assert.equal(purity, 1);
  assert.deepEqual([...map].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
  for (let c = 0; c < 8; c++) {
    for (let j = 0; j < 16; j++) {
      const got = r.centroids.data[c * 16 + j];
      const want = blobs.centers.data[map[c] * 16 + j];
      assert.ok(Math.abs(got - want) < 0.35, `centroid ${c} dim ${j}: ${got} vs ${want}`);
    }
  }
  // Inertia ~ n * dim * noise^2 when the clustering is right.
  assert.ok(Math.abs(r.inertia / (1200 * 16) - 1) < 0.1, `inertia per coordinate ${r.inertia / (1200 * 16)}`);
  assert.ok(r.flops > 0);
});

test('k-means is deterministic under a seed', async () => {
  const tf = await initTensorRuntime();
  const { points } = gaussianBlobs([300, 300, 300], 8, { seed: 5, spread: 1.5 });
  const a = kmeans(tf, points, { k: 20, seed: 11 });
  const b = kmeans(tf, points, { k: 20, seed: 11 });
  const c = kmeans(tf, points, { k: 20, seed: 12 });
  assert.deepEqual(a.assignment, b.assignment);
  assert.deepEqual(a.centroids.data, b.centroids.data);
  assert.notDeepEqual(a.centroids.data, c.centroids.data);
});

test('balanced k-means keeps every cluster within ceil(n/k) and stays near plain k-means cost', async () => {
  const tf = await initTensorRuntime();
  const { points } = gaussianBlobs([500, 80, 20], 6, { seed: 9, spread: 3 });
  const plain = kmeans(tf, points, { k: 12, seed: 1 });
  const bal = kmeans(tf, points, { k: 12, seed: 1, balanced: true });
  const sizes = (a: Int32Array) => {
    const s = new Array(12).fill(0);
    for (const c of a) s[c]++;
    return s;
  };
  assert.ok(Math.max(...sizes(plain.assignment)) > 50, 'plain k-means should be unbalanced on this data');
  for (const s of sizes(bal.assignment)) assert.ok(s <= 50 && s > 0, `cluster size ${s} exceeds ceil(600/12) = 50`);
  assert.ok(bal.inertia < 3 * plain.inertia, `balanced inertia ${bal.inertia} vs plain ${plain.inertia}`);
});

test('empty clusters are repaired', async () => {
  const tf = await initTensorRuntime();
  const blobs = gaussianBlobs([100, 100, 100, 100], 4, { seed: 2 });
  // Every initial centroid is the same point: all points tie to cluster 0, three start empty.
  const first = blobs.points.data.subarray(0, 4);
  const init: Matrix = { data: Float32Array.from([...first, ...first, ...first, ...first]), rows: 4, cols: 4 };
  const r = kmeans(tf, blobs.points, { k: 4, init, iterations: 50 });
  assert.ok(r.repairs >= 3, `repairs ${r.repairs}`);
  const sizes = new Array(4).fill(0);
  for (const c of r.assignment) sizes[c]++;
  assert.ok(sizes.every((s) => s > 0), `sizes ${sizes}`);
  assert.equal(matchClusters(r.assignment, blobs.labels, 4).purity, 1);
});

test('k-means rejects bad input with clear errors', async () => {
  const tf = await initTensorRuntime();
  const points: Matrix = { data: new Float32Array([0, 0, 1, 1, 2, 2]), rows: 3, cols: 2 };
  const expectBad = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof GensearchError && e.code === 'BAD_INPUT' && pattern.test(e.message));
  expectBad(() => kmeans(tf, points, { k: 4, what: 'RQ level 1' }), /RQ level 1: codebook size 4 is larger than the 3 vectors/);
  expectBad(() => kmeans(tf, { data: new Float32Array(0), rows: 0, cols: 2 }, { k: 1 }), /no vectors to quantize/);
  const nan: Matrix = { data: new Float32Array([0, 0, 1, Number.NaN, 2, 2]), rows: 3, cols: 2 };
  expectBad(() => kmeans(tf, nan, { k: 2 }), /row 1 has NaN at dimension 1/);
  expectBad(() => kmeans(tf, points, { k: 0 }), /positive integer/);
});
