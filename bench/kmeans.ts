// k-means and SID build speed: `npm run bench:kmeans`.
// 1. The machine's matmul rate, measured in this run on the shape k-means multiplies (a block of
//    rows times the transposed codebook), is the baseline. The machine is shared, so the
//    assignment step and the bare matmul of the same size are timed in turns, best of each.
// 2. Plain k-means on synthetic vectors: distance GFLOP/s (2 n k d per iteration) against it,
//    for the assignment step alone and for a whole run (seeding, updates and transfers included).
// 3. A whole SID build (3 RQ levels, last one balanced, + OPQ 2 x 256) on synthetic catalogs of
//    10k, 100k and 1M vectors: seconds per stage and how time grows with n. The 1M run uses
//    dimension 64 and fewer iterations to stay within minutes (printed with the results).
// Options: --sizes 10000,100000,1000000 --dim 128 --k 256 --repeats 3 --out bench/out/kmeans.json
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildSids, defaultSidConfig, type SidConfig } from '../src/sids/build.js';
import type { Tensor2D } from '@tensorflow/tfjs';
import { BlockedRows, blockRows, kmeans } from '../src/sids/kmeans.js';
import { gatherRows } from '../src/sids/matrix.js';
import { gaussianBlobs } from '../src/sids/synthetic.js';
import type { ItemRecord } from '../src/store/types.js';
import { initTensorRuntime, type Tf } from '../src/tensor/runtime.js';
import { benchArg } from './args.js';

process.env.GENSEARCH_QUIET = '1';
const sizes = benchArg('sizes', '10000,100000,1000000').split(',').filter(Boolean).map(Number);
const dim = Number(benchArg('dim', '128'));
const k = Number(benchArg('k', '256'));
const repeats = Number(benchArg('repeats', '3'));
const out = benchArg('out', 'bench/out/kmeans.json');

const tf: Tf = await initTensorRuntime();

/** Synthetic catalog: clustered vectors (many centres, like item embeddings) and bare item records. */
function synthetic(n: number, d: number) {
  const centres = Math.max(16, Math.round(Math.sqrt(n)));
  const sizesPer = Array.from({ length: centres }, (_, c) => Math.floor(n / centres) + (c < n % centres ? 1 : 0));
  const blobs = gaussianBlobs(sizesPer, d, { seed: 7, spread: 1, noise: 0.5 });
  const items: ItemRecord[] = Array.from({ length: n }, (_, i) => ({
    id: String(i),
    title: null,
    brand: null,
    categories: [['Synthetic', `c${blobs.labels[i]}`]],
    price: null,
    attributes: {},
  }));
  return { items, points: blobs.points };
}

// 1 + 2. Assignment step (blocked X C^T + ||c||^2, argmin, min, transfer back) against the bare
// blocked matmul of the same shapes, timed in turns on 100k x dim vectors.
const km = synthetic(100_000, dim);
const engine = new BlockedRows(tf, km.points, k);
const centroids = gatherRows(km.points, Int32Array.from({ length: k }, (_, i) => i * 97));
const ct = tf.transpose(tf.tensor2d(centroids.data, [k, dim])) as Tensor2D;
const blocks: Tensor2D[] = [];
const per = blockRows(k);
for (let at = 0; at < km.points.rows; at += per) {
  const end = Math.min(km.points.rows, at + per);
  blocks.push(tf.tensor2d(km.points.data.subarray(at * dim, end * dim), [end - at, dim]));
}
const time = (fn: () => void): number => {
  const t = performance.now();
  fn();
  return (performance.now() - t) / 1000;
};
let bestMatmul = Number.POSITIVE_INFINITY;
let bestAssign = Number.POSITIVE_INFINITY;
for (let i = 0; i <= repeats; i++) {
  const mm = time(() => {
    for (const b of blocks) {
      const y = tf.matMul(b, ct);
      y.dataSync();
      y.dispose();
    }
  });
  const as = time(() => engine.nearest(centroids));
  if (i === 0) continue; // warm-up
  bestMatmul = Math.min(bestMatmul, mm);
  bestAssign = Math.min(bestAssign, as);
}
tf.dispose([ct, ...blocks]);
engine.dispose();
const stepFlops = 2 * km.points.rows * k * dim;
const baseline = stepFlops / bestMatmul / 1e9;
const assignRate = stepFlops / bestAssign / 1e9;
console.log(`matmul baseline: ${baseline.toFixed(2)} GFLOP/s (n=100000 x d=${dim} @ ${k} centroids in blocks, tfjs ${tf.getBackend()}, best of ${repeats})`);
console.log(`k-means assignment step: ${assignRate.toFixed(2)} GFLOP/s = ${(assignRate / baseline).toFixed(2)} x the matmul rate`);

const kmIters = 10;
const t0 = performance.now();
const r = kmeans(tf, km.points, { k, iterations: kmIters, tolerance: 0, seed: 1 });
const kmSeconds = (performance.now() - t0) / 1000;
const kmRate = r.flops / kmSeconds / 1e9;
console.log(
  `k-means run n=100000 d=${dim} k=${k}, ${r.iterations} iterations incl. k-means++ seeding: ${kmSeconds.toFixed(2)} s, ` +
    `${kmRate.toFixed(2)} GFLOP/s of distance products over the whole run = ${(kmRate / baseline).toFixed(2)} x the matmul rate`,
);

// 3. Build time against catalog size.
interface BuildRow {
  n: number;
  dim: number;
  config: string;
  seconds: { keywords: number; rq: number; opq: number; total: number };
  gflops: number;
  icr: number;
}
const builds: BuildRow[] = [];
for (const n of sizes) {
  const big = n >= 1_000_000;
  const d = big ? 64 : dim;
  const { items, points } = synthetic(n, d);
  const config: SidConfig = {
    ...defaultSidConfig(n),
    levels: [k, k, k],
    opq: { k: 256, subspaces: 2 },
    iterations: big ? 5 : 15,
    opqIterations: big ? 2 : 4,
    keywords: null,
  };
  const b = buildSids(tf, { items, embeddings: points }, config);
  const row: BuildRow = {
    n,
    dim: d,
    config: `RQ ${config.levels.join('-')} (level 3 balanced), OPQ 2x256, ${config.iterations} RQ iterations, ${config.opqIterations} OPQ alternations`,
    seconds: b.stats.seconds,
    gflops: b.stats.flops / 1e9,
    icr: b.report.icr,
  };
  builds.push(row);
  console.log(
    `build n=${n} d=${d}: ${row.seconds.total.toFixed(1)} s (RQ ${row.seconds.rq.toFixed(1)} s, OPQ ${row.seconds.opq.toFixed(1)} s), ` +
      `${row.gflops.toFixed(0)} GFLOP in products = ${(row.gflops / row.seconds.total / baseline).toFixed(2)} x matmul rate; ${row.config}`,
  );
}
for (let i = 1; i < builds.length; i++) {
  const a = builds[i - 1];
  const b = builds[i];
  // Work per point is the same for equal d and config, so time should grow ~linearly with n.
  console.log(`n x${(b.n / a.n).toFixed(0)} -> time x${(b.seconds.total / a.seconds.total).toFixed(1)}${a.dim !== b.dim ? ` (d ${a.dim} -> ${b.dim}, fewer iterations)` : ''}`);
}
mkdirSync(dirname(out), { recursive: true });
writeFileSync(
  out,
  JSON.stringify(
    {
      date: new Date().toISOString(),
      baselineGflops: baseline,
      assignGflops: assignRate,
      kmeans: { n: 100_000, dim, k, iterations: r.iterations, seconds: kmSeconds, gflops: kmRate },
      builds,
    },
    null,
    1,
  ),
);
console.log(`wrote ${out}`);
