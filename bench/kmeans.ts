// k-means and SID build speed: `npm run bench:kmeans`.
// 1. The machine's matmul rate, measured in this run on the shape k-means multiplies (a block of
//    rows times the transposed codebook), is the baseline.
// 2. Plain k-means on synthetic vectors: distance GFLOP/s (2 n k d per iteration) against it.
// 3. A whole SID build (3 RQ levels, last one balanced, + OPQ 2 x 256) on synthetic catalogs of
//    10k, 100k and 1M vectors: seconds per stage and how time grows with n. The 1M run uses
//    dimension 64 and fewer iterations to stay within minutes (printed with the results).
// Options: --sizes 10000,100000,1000000 --dim 128 --k 256 --repeats 3 --out bench/out/kmeans.json
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { buildSids, defaultSidConfig, type SidConfig } from '../src/sids/build.js';
import { kmeans } from '../src/sids/kmeans.js';
import { gaussianBlobs } from '../src/sids/synthetic.js';
import type { ItemRecord } from '../src/store/types.js';
import { initTensorRuntime, type Tf } from '../src/tensor/runtime.js';

process.env.GENSEARCH_QUIET = '1';
const arg = (name: string, fallback: string): string => {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? process.argv[at + 1] : fallback;
};
const sizes = arg('sizes', '10000,100000,1000000').split(',').map(Number);
const dim = Number(arg('dim', '128'));
const k = Number(arg('k', '256'));
const repeats = Number(arg('repeats', '3'));
const out = arg('out', 'bench/out/kmeans.json');

const tf: Tf = await initTensorRuntime();

/** Best-of-`repeats` GFLOP/s of X[rows x d] @ C^T[d x k], as k-means runs it (explicit transpose once). */
function matmulRate(rows: number, d: number, kk: number): number {
  const x = tf.randomNormal([rows, d], 0, 1, 'float32', 1);
  const ct = tf.transpose(tf.randomNormal([kk, d], 0, 1, 'float32', 2));
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i <= repeats; i++) {
    const t = performance.now();
    const y = tf.matMul(x, ct as import('@tensorflow/tfjs').Tensor2D);
    y.dataSync();
    y.dispose();
    if (i > 0) best = Math.min(best, (performance.now() - t) / 1000);
  }
  tf.dispose([x, ct]);
  return (2 * rows * d * kk) / best / 1e9;
}

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

const baseline = matmulRate(8192, dim, k);
console.log(`matmul baseline: ${baseline.toFixed(2)} GFLOP/s ([8192 x ${dim}] @ [${dim} x ${k}], tfjs ${tf.getBackend()})`);

// 2. k-means rate on 100k x dim (fixed iteration count: tolerance 0).
const km = synthetic(100_000, dim);
const kmIters = 10;
const t0 = performance.now();
const r = kmeans(tf, km.points, { k, iterations: kmIters, tolerance: 0, seed: 1 });
const kmSeconds = (performance.now() - t0) / 1000;
// Wall time includes k-means++ seeding, argmin, transfers and the centroid updates in JS.
const kmRate = r.flops / kmSeconds / 1e9;
console.log(
  `k-means n=100000 d=${dim} k=${k}, ${r.iterations} iterations: ${kmSeconds.toFixed(2)} s, ` +
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
  JSON.stringify({ date: new Date().toISOString(), baselineGflops: baseline, kmeans: { n: 100_000, dim, k, seconds: kmSeconds, gflops: kmRate }, builds }, null, 1),
);
console.log(`wrote ${out}`);
