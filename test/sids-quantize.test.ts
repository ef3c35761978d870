import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GensearchError } from '../src/errors.js';
import type { Matrix } from '../src/sids/matrix.js';
import { encodeOpq, procrustes, trainOpq } from '../src/sids/opq.js';
import { encodeRq, trainRq } from '../src/sids/rq.js';
import { gaussian, gaussianBlobs } from '../src/sids/synthetic.js';
import { Rng } from '../src/tensor/rng.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';

/** True if `found` equals `truth` up to a renaming of the labels (a bijection). */
function samePartition(found: ArrayLike<number>, truth: ArrayLike<number>): boolean {
  const f2t = new Map<number, number>();
  const t2f = new Map<number, number>();
  for (let i = 0; i < found.length; i++) {
    if ((f2t.get(found[i]) ?? truth[i]) !== truth[i] || (t2f.get(truth[i]) ?? found[i]) !== found[i]) return false;
    f2t.set(found[i], truth[i]);
    t2f.set(truth[i], found[i]);
  }
  return true;
}

/** x = A[a] + B[b] + noise: level 1 should find a, level 2 (on the residual) b. */
function twoLevelData(n: number, dim: number, seed: number) {
  const rng = new Rng(seed);
  const A = gaussianBlobs([1, 1, 1, 1], dim, { seed, spread: 20, noise: 0 }).centers.data;
  const B = gaussianBlobs([1, 1, 1, 1], dim, { seed: seed + 1, spread: 3, noise: 0 }).centers.data;
  const a = new Int32Array(n);
  const b = new Int32Array(n);
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    a[i] = rng.int(4);
    b[i] = rng.int(4);
    for (let j = 0; j < dim; j++) data[i * dim + j] = A[a[i] * dim + j] + B[b[i] * dim + j] + 0.2 * gaussian(rng);
  }
  return { points: { data, rows: n, cols: dim } as Matrix, a, b };
}

const column = (codes: Int32Array, width: number, c: number) => codes.filter((_, i) => i % width === c);

test('RQ-KMeans recovers a two-level code and encodes new points the same way', async () => {
  const tf = await initTensorRuntime();
  const { points, a, b } = twoLevelData(800, 12, 4);
  const rq = trainRq(tf, points, { levels: [4, 4], seed: 2 });
  assert.ok(samePartition(column(rq.codes, 2, 0), a), 'level 1 should equal the coarse cluster');
  assert.ok(samePartition(column(rq.codes, 2, 1), b), 'level 2 should equal the shared offset');
  // What is left is small next to the level-2 offsets (variance 9 per coordinate).
  let res = 0;
  for (const v of rq.residual.data) res += v * v;
  // Noise (0.04 per coordinate) plus the greedy bias of RQ (level 1 absorbs a sample mean of B).
  assert.ok(res / points.data.length < 0.1, `residual per coordinate ${res / points.data.length}`);
  assert.ok(rq.stats[0].inertia > rq.stats[1].inertia);
  const again = encodeRq(tf, rq.codebooks, points);
  assert.deepEqual(again.codes, rq.codes);
});

test('RQ with a balanced last level caps its clusters; deterministic under a seed', async () => {
  const tf = await initTensorRuntime();
  const { points } = gaussianBlobs([400, 100, 50, 50], 8, { seed: 8, spread: 2 });
  const cfg = { levels: [4, 8, 8], balancedLevels: [3], seed: 5 };
  const r1 = trainRq(tf, points, cfg);
  const r2 = trainRq(tf, points, cfg);
  assert.deepEqual(r1.codes, r2.codes);
  assert.deepEqual(r1.codebooks[2].data, r2.codebooks[2].data);
  const sizes = new Array(8).fill(0);
  for (const c of column(r1.codes, 3, 2)) sizes[c]++;
  assert.ok(Math.max(...sizes) <= 75, `level-3 sizes ${sizes}`);
  assert.deepEqual(
    r1.stats.map((s) => s.balanced),
    [false, false, true],
  );
});

/** A random d x d orthogonal matrix (Gram-Schmidt on Gaussian rows), as nested arrays. */
function orthogonal(d: number, seed: number): number[][] {
  const rng = new Rng(seed);
  const q = Array.from({ length: d }, () => Array.from({ length: d }, () => gaussian(rng)));
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < i; j++) {
      const dot = q[i].reduce((s, x, t) => s + x * q[j][t], 0);
      for (let t = 0; t < d; t++) q[i][t] -= dot * q[j][t];
    }
    const norm = Math.hypot(...q[i]);
    for (let t = 0; t < d; t++) q[i][t] /= norm;
  }
  return q;
}

/** y = [u | v] with u, v drawn from `k` clusters each in `w` dims, then hidden: x = y Q. */
function hiddenProduct(k: number, w: number, n: number) {
  const u = gaussianBlobs(Array(k).fill(n / k), w, { seed: 1, spread: 4, noise: 0.1 });
  const v = gaussianBlobs(Array(k).fill(n / k), w, { seed: 2, spread: 4, noise: 0.1 });
  const d = 2 * w;
  const q = orthogonal(d, 3);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const y = [...u.points.data.subarray(i * w, (i + 1) * w), ...v.points.data.subarray(i * w, (i + 1) * w)];
    for (let j = 0; j < d; j++) data[i * d + j] = y.reduce((s, yv, t) => s + yv * q[t][j], 0);
  }
  return { x: { data, rows: n, cols: d } as Matrix, u: u.labels, v: v.labels, noise: n * d * 0.01 };
}

test('Procrustes recovers a known rotation', () => {
  // X^T Y with Y = X Q: the best orthogonal map from X onto Y is Q itself.
  const d = 6;
  const q = orthogonal(d, 9);
  const rng = new Rng(4);
  const n = 50;
  const X = Array.from({ length: n }, () => Array.from({ length: d }, () => gaussian(rng)));
  const Y = X.map((row) => q[0].map((_, j) => row.reduce((s, xv, t) => s + xv * q[t][j], 0)));
  const cross = new Float32Array(d * d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) cross[i * d + j] = X.reduce((s, row, r) => s + row[i] * Y[r][j], 0);
  const R = procrustes(cross, d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) assert.ok(Math.abs(R.data[i * d + j] - q[i][j]) < 1e-4);
});

test('OPQ learns the rotation that makes a hidden product code exact', async () => {
  const tf = await initTensorRuntime();
  const { x, u, v, noise } = hiddenProduct(2, 2, 1000);
  const r = trainOpq(tf, x, { k: 2, subspaces: 2, iterations: 20, seed: 1 });
  const first = r.distortion[0];
  const last = r.distortion[r.distortion.length - 1];
  assert.ok(last < 1.5 * noise, `final distortion ${last} should reach the noise floor ${noise} (start ${first})`);
  assert.ok(first > 20 * last, `rotation learning should cut distortion: ${first} -> ${last}`);
  const [c0, c1] = [column(r.codes, 2, 0), column(r.codes, 2, 1)];
  const found = (samePartition(c0, u) && samePartition(c1, v)) || (samePartition(c0, v) && samePartition(c1, u));
  assert.ok(found, 'each sub-code should be one hidden factor');
  const R = r.model.rotation.data;
  for (let i = 0; i < 4; i++) {
    for (let j = 0; j < 4; j++) {
      const dot = [0, 1, 2, 3].reduce((s, t) => s + R[i * 4 + t] * R[j * 4 + t], 0);
      assert.ok(Math.abs(dot - (i === j ? 1 : 0)) < 1e-4, 'R must stay orthogonal');
    }
  }
  assert.deepEqual(encodeOpq(tf, r.model, x), r.codes);
});

test('OPQ distortion never rises across alternations (harder, local-optimum case)', async () => {
  // OPQ is a local method: on 4 x 4 hidden clusters it need not reach the floor, but every
  // alternation (codebooks, then the optimal rotation for them) can only lower the error.
  const tf = await initTensorRuntime();
  const { x } = hiddenProduct(4, 4, 1200);
  const r = trainOpq(tf, x, { k: 4, subspaces: 2, iterations: 10, seed: 4 });
  for (let i = 1; i < r.distortion.length; i++) {
    assert.ok(r.distortion[i] <= r.distortion[i - 1] * 1.001, `distortion rose at ${i}: ${r.distortion}`);
  }
  assert.ok(r.distortion[0] > 1.3 * r.distortion[r.distortion.length - 1], `${r.distortion}`);
});

test('RQ and OPQ reject codebooks larger than the data and bad configs', async () => {
  const tf = await initTensorRuntime();
  const { points } = gaussianBlobs([10, 10], 4, { seed: 1 });
  const bad = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof GensearchError && e.code === 'BAD_INPUT' && pattern.test(e.message));
  bad(() => trainRq(tf, points, { levels: [4, 64] }), /RQ level 2: codebook size 64 is larger than the 20 vectors/);
  bad(() => trainRq(tf, points, { levels: [] }), /at least one level/);
  bad(() => trainRq(tf, points, { levels: [4], balancedLevels: [3] }), /balanced level 3 is not one of the RQ levels 1..1/);
  bad(() => trainOpq(tf, points, { k: 256 }), /OPQ sub-quantizer 1: codebook size 256 is larger than the 20 vectors/);
  bad(() => trainOpq(tf, points, { k: 4, subspaces: 5 }), /OPQ sub-quantizers must be an integer in 1..4/);
});
