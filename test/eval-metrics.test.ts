import assert from 'node:assert/strict';
import { test } from 'node:test';
import { metricKeys, parseKs, perCaseMetrics } from '../src/eval/metrics.js';
import { rng } from '../src/eval/random.js';
import { pairedRandomizationTest, pairedTest, pairedTTest, studentTTwoSided } from '../src/eval/significance.js';
import { TopKSelector, topKBySort } from '../src/eval/topk.js';

/** Case ranks from a list of per-case target ranks (0 = not in the list). */
const ranksOf = (cases: number[][]) => {
  const offsets = new Int32Array(cases.length + 1);
  cases.forEach((c, i) => {
    offsets[i + 1] = offsets[i] + c.length;
  });
  return { offsets, ranks: Int32Array.from(cases.flat()) };
};
const close = (a: number, b: number, msg?: string) => assert.ok(Math.abs(a - b) < 1e-6, `${msg ?? ''} ${a} != ${b}`);

test('metrics on hand-computed ranks', () => {
  // Cases: target at rank 1; at rank 3; not ranked; at rank 6; two targets at ranks 1 and 3.
  const m = perCaseMetrics(ranksOf([[1], [3], [0], [6], [1, 3]]), [2, 5, 10]);
  const at = (key: string) => Array.from(m.get(key as never)!);
  assert.deepEqual(at('recall@5'), [1, 1, 0, 0, 1]);
  assert.deepEqual(at('recall@10'), [1, 1, 0, 1, 1]);
  assert.deepEqual(at('recall@2'), [1, 0, 0, 0, 0.5]);
  // NDCG: 1/log2(rank + 1); two targets: (1 + 1/log2(4)) / (1 + 1/log2(3)).
  const ndcg5 = at('ndcg@5');
  close(ndcg5[1], 0.5, 'rank 3');
  close(ndcg5[4], 1.5 / (1 + 1 / Math.log2(3)), 'two targets');
  close(at('ndcg@10')[3], 1 / Math.log2(7), 'rank 6');
  assert.equal(ndcg5[3], 0, 'rank 6 is cut at K = 5');
  // MRR is cut at K: rank 6 counts at 10, not at 5.
  close(at('mrr@5')[1], 1 / 3);
  assert.equal(at('mrr@5')[3], 0);
  close(at('mrr@10')[3], 1 / 6);
  assert.equal(at('mrr@10')[4], 1, 'best target decides the reciprocal rank');
  assert.deepEqual(metricKeys([5]), ['recall@5', 'ndcg@5', 'mrr@5']);
});

test('parseKs sorts, dedupes and rejects bad cut-offs', () => {
  assert.deepEqual(parseKs('10,5,10,350'), [5, 10, 350]);
  assert.throws(() => parseKs('5,0'), /positive integers/);
  assert.throws(() => parseKs('5,x'), /got "5,x"/);
});

test('top-K selection equals a full sort on random data, ties broken by lower index', () => {
  const r = rng(3);
  const selector = new TopKSelector();
  // Short rows take the heap; long ones the sampled threshold, with its fallbacks when the
  // guess is too high (skewed rows) or lets too many through (heavy ties).
  for (let trial = 0; trial < 240; trial++) {
    const long = trial % 2 === 1;
    const n = long ? 4096 + r.int(16000) : 1 + r.int(400);
    const k = long ? 1 + r.int(n / 8) : 1 + r.int(n + 5);
    const shape = trial % 6;
    const distinct = shape < 2 ? 1 + r.int(12) : 1 << 20;
    const scores = Float32Array.from({ length: n }, (_, i) => {
      if (r.next() < 0.05) return Number.NEGATIVE_INFINITY;
      if (shape === 3 && i % 2) return -0; // -0 and +0 are the same score
      if (shape === 5) return i < n / 2 ? 0 : r.next(); // skewed: the sample misleads
      return r.int(distinct) - distinct / 2;
    });
    const items = new Int32Array(n);
    const values = new Float32Array(n);
    const count = selector.select(scores, k, items, values);
    const expected = topKBySort(scores, k);
    assert.deepEqual(Array.from(items.subarray(0, count)), Array.from(expected), `trial ${trial} n=${n} k=${k}`);
    assert.deepEqual(Array.from(values.subarray(0, count)), Array.from(expected, (i) => scores[i]));
  }
});

test('top-K rejects NaN scores as a scorer bug, on short and long rows', () => {
  const scores = Float32Array.of(1, 2, Number.NaN, 0.5);
  assert.throws(() => new TopKSelector().select(scores, 2, new Int32Array(4)), /NaN for item index 2/);
  const long = Float32Array.from({ length: 10000 }, (_, i) => i % 97);
  long[7777] = Number.NaN;
  long[9] = Number.POSITIVE_INFINITY; // infinities are fine
  assert.throws(() => new TopKSelector().select(long, 50, new Int32Array(10000)), /NaN for item index 7777/);
});

test('significance: identical systems give p = 1, clearly different ones p < 0.01', () => {
  const r = rng(11);
  const n = 600;
  const a = Float32Array.from({ length: n }, () => (r.next() < 0.3 ? 1 : 0));
  assert.equal(pairedRandomizationTest(a, a.slice()), 1);
  assert.equal(pairedTTest(a, a.slice()), 1);
  const better = Float32Array.from(a, (v) => (v === 0 && r.next() < 0.3 ? 1 : v));
  const t = pairedTest(better, a, 2000, 5);
  assert.ok(t.delta > 0.1, `delta ${t.delta}`);
  assert.ok(t.pRandomization < 0.01, `randomization p ${t.pRandomization}`);
  assert.ok(t.pTTest < 0.01, `t-test p ${t.pTTest}`);
  // Noise only: a random re-labelling of the same values should not look significant.
  const shuffled = Float32Array.from(a, (_, i) => a[(i * 7919) % n]);
  assert.ok(pairedTest(shuffled, a, 2000, 5).pRandomization > 0.05);
  assert.equal(pairedRandomizationTest(better, a, 500, 9), pairedRandomizationTest(better, a, 500, 9), 'seeded');
  assert.throws(() => pairedTTest(a, a.subarray(1)), /same cases/);
});

test("Student's t tail matches tables", () => {
  close(studentTTwoSided(1, 1), 0.5); // Cauchy: P(|T| >= 1) = 1/2
  assert.ok(Math.abs(studentTTwoSided(2.228139, 10) - 0.05) < 1e-5);
  assert.ok(Math.abs(studentTTwoSided(2.575829, 1e6) - 0.01) < 1e-5, 'large df -> normal');
  assert.equal(studentTTwoSided(0, 5), 1);
});
