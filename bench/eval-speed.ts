// Evaluation speed at Beauty scale: `npm run bench:eval`. A dense scorer (user x item dot
// products, tfjs wasm matmul) over 22,363 users x 12,101 items, against costs measured in the
// same run: the raw scoring alone, and a full sort of every row as the naive way to a top list.
import { evaluateSystem } from '../src/eval/evaluate.js';
import { rng } from '../src/eval/random.js';
import { TopKSelector, topKBySort } from '../src/eval/topk.js';
import type { DenseScorer, EvalCase } from '../src/eval/types.js';
import { initTensorRuntime, type Tf } from '../src/tensor/runtime.js';

process.env.GENSEARCH_QUIET = '1';
const arg = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
};
const nUsers = arg('users', 22363);
const nItems = arg('items', 12101);
const dim = arg('dim', 64);
const k = arg('k', 350);
const sortRows = arg('sort-rows', 1000);
const repeats = arg('repeats', 2);

const tf: Tf = await initTensorRuntime();
const r = rng(42);
const userVectors = Float32Array.from({ length: nUsers * dim }, () => r.next() - 0.5);
const itemsT = tf.tensor2d(
  Float32Array.from({ length: nItems * dim }, () => r.next() - 0.5),
  [dim, nItems],
);
const cases: EvalCase[] = Array.from({ length: nUsers }, (_, user) => ({
  user,
  history: Int32Array.from({ length: 3 + r.int(12) }, () => r.int(nItems)),
  query: null,
  targets: Int32Array.of(r.int(nItems)),
}));

/** What SASRec-like models do at eval time: a batch of user vectors times all item vectors. */
const scorer: DenseScorer = {
  name: 'matmul',
  batchSize: 256,
  fit() {},
  async scoreBatch(batch, out) {
    const rows = new Float32Array(batch.length * dim);
    batch.forEach((c, b) => {
      rows.set(userVectors.subarray(c.user * dim, (c.user + 1) * dim), b * dim);
    });
    const scores = tf.tidy(() => tf.matMul(tf.tensor2d(rows, [batch.length, dim]), itemsT));
    out.set(await scores.data<'float32'>());
    scores.dispose();
  },
};

const seconds = async (fn: () => Promise<void> | void): Promise<number> => {
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repeats; i++) {
    const t = performance.now();
    await fn();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
};

/** Scores every case batch by batch; `perRow` sees each scored row (timed apart). */
async function scoreAll(perRow?: (row: Float32Array) => void, limit = nUsers): Promise<number> {
  const bs = scorer.batchSize!;
  const out = new Float32Array(bs * nItems);
  let rowSeconds = 0;
  for (let from = 0; from < limit; from += bs) {
    const batch = cases.slice(from, Math.min(limit, from + bs));
    const view = out.subarray(0, batch.length * nItems);
    view.fill(0);
    await scorer.scoreBatch(batch, view);
    if (!perRow) continue;
    const t = performance.now();
    for (let b = 0; b < batch.length; b++) perRow(view.subarray(b * nItems, (b + 1) * nItems));
    rowSeconds += (performance.now() - t) / 1000;
  }
  return rowSeconds;
}

const scoring = await seconds(() => scoreAll().then(() => undefined));
const harness = await seconds(async () => {
  await evaluateSystem(scorer, cases, { nItems, ks: [5, 10, 50, 350], excludeHistory: 'both' });
});
const selector = new TopKSelector(k);
const items = new Int32Array(k);
const values = new Float32Array(k);
let selection = Number.POSITIVE_INFINITY;
for (let i = 0; i < repeats; i++) selection = Math.min(selection, await scoreAll((row) => selector.select(row, k, items, values)));
let sorted = Number.POSITIVE_INFINITY;
for (let i = 0; i < repeats; i++) sorted = Math.min(sorted, await scoreAll((row) => topKBySort(row, k), sortRows));
const sortAll = (sorted / sortRows) * nUsers; // extrapolated from `sortRows` rows

const us = (s: number) => ((s / nUsers) * 1e6).toFixed(1);
const rows: [string, number, string][] = [
  [`scoring only (wasm matmul, d=${dim})`, scoring, '1.00x (baseline)'],
  ['harness eval: scoring + exact target ranks, 2 history variants, R/N/MRR at 5,10,50,350', harness, `${(harness / scoring).toFixed(2)}x scoring`],
  [`top-${k} selection per row (heap), selection only`, selection, `${(sortAll / selection).toFixed(1)}x faster than full sort`],
  [`full sort per row, selection only (measured on ${sortRows} rows, scaled)`, sortAll, '1.00x (baseline)'],
  [`scoring + top-${k} selection`, scoring + selection, `${((scoring + selection) / scoring).toFixed(2)}x scoring`],
];
console.log(`eval speed: ${nUsers} users x ${nItems} items, best of ${repeats}, Node ${process.versions.node}, tfjs ${tf.getBackend()}`);
console.log('| step | total s | µs / user | ratio |');
console.log('|---|---:|---:|---|');
for (const [name, s, ratio] of rows) console.log(`| ${name} | ${s.toFixed(2)} | ${us(s)} | ${ratio} |`);
itemsT.dispose();
