import type { Tensor, Tensor2D } from '@tensorflow/tfjs';
import { badInput } from '../errors.js';
import { Rng } from '../tensor/rng.js';
import type { Tf } from '../tensor/runtime.js';
import { checkVectors, gatherRows, type Matrix } from './matrix.js';

/** Score-block budget: a block of rows times k centroids stays under this many floats (16 MB). */
const BLOCK_FLOATS = 1 << 22;

/** Rows per block when scoring against `k` centroids. */
export function blockRows(k: number): number {
  return Math.max(64, Math.floor(BLOCK_FLOATS / Math.max(1, k)));
}

/**
 * Rows uploaded once to the tensor backend in blocks; nearest-centroid questions are answered as
 * matrix products, ||x - c||^2 = ||x||^2 - 2 x.c + ||c||^2, with the argmin / top-m taken on the
 * tensor side so only indices and distances come back to JS.
 */
export class BlockedRows {
  readonly rows: number;
  readonly cols: number;
  /** ||x||^2 per row. */
  readonly norms: Float32Array;
  /** Multiply-adds x2 spent in distance products so far (for rate reports). */
  flops = 0;
  private readonly blocks: { start: number; x: Tensor2D }[] = [];

  constructor(
    private readonly tf: Tf,
    m: Matrix,
    /** Largest number of centroids this will be asked about (sizes the blocks). */
    maxCentroids: number,
  ) {
    this.rows = m.rows;
    this.cols = m.cols;
    this.norms = new Float32Array(m.rows);
    for (let r = 0; r < m.rows; r++) {
      let s = 0;
      for (let j = r * m.cols; j < (r + 1) * m.cols; j++) s += m.data[j] * m.data[j];
      this.norms[r] = s;
    }
    const per = blockRows(maxCentroids);
    for (let start = 0; start < m.rows; start += per) {
      const end = Math.min(m.rows, start + per);
      this.blocks.push({ start, x: tf.tensor2d(m.data.subarray(start * m.cols, end * m.cols), [end - start, m.cols]) });
    }
  }

  /**
   * The `top` nearest centroids of every row, nearest first: `index[r*top + t]` and its squared
   * distance `dist[r*top + t]` (clamped at 0 against rounding).
   */
  nearest(centroids: Matrix, top = 1): { index: Int32Array; dist: Float32Array } {
    const tf = this.tf;
    top = Math.min(top, centroids.rows);
    const index = new Int32Array(this.rows * top);
    const dist = new Float32Array(this.rows * top);
    this.scoreBlocks(
      centroids,
      (s) => {
        if (top === 1) return [tf.argMin(s, 1), tf.min(s, 1)];
        const t = tf.topk(tf.neg(s), top, true);
        return [t.indices, tf.neg(t.values)];
      },
      (start, [iv, vv]) => {
        index.set(iv, start * top);
        this.addNorms(vv, start, top, dist);
      },
    );
    return { index, dist };
  }

  /** Full squared distances to a few centroids: rows x k, row-major (k small: seeding). */
  distances(centroids: Matrix): Float32Array {
    const out = new Float32Array(this.rows * centroids.rows);
    this.scoreBlocks(
      centroids,
      (s) => [s],
      (start, [v]) => this.addNorms(v as Float32Array, start, centroids.rows, out),
    );
    return out;
  }

  /**
   * Runs s = ||c||^2 - 2 X C^T block by block (-2 C^T and ||c||^2 once per call, the transpose
   * explicit: transpose flags are slow on wasm), reduces each block on the tensor side and
   * hands the reduced arrays to `take` with the block's first row.
   */
  private scoreBlocks(
    centroids: Matrix,
    reduce: (scores: Tensor2D) => Tensor[],
    take: (start: number, values: (Int32Array | Float32Array)[]) => void,
  ): void {
    const tf = this.tf;
    if (centroids.cols !== this.cols) {
      throw badInput(`centroids have dimension ${centroids.cols}; the vectors have ${this.cols}`);
    }
    const k = centroids.rows;
    const [ct, cn] = tf.tidy(() => {
      const c = tf.tensor2d(centroids.data, [k, this.cols]);
      return [tf.mul(tf.transpose(c), -2) as Tensor2D, tf.sum(tf.square(c), 1).reshape([1, k])];
    });
    try {
      for (const b of this.blocks) {
        const outs = tf.tidy(() => reduce(tf.add(tf.matMul(b.x, ct), cn)));
        const values = outs.map((t) => t.dataSync() as Int32Array | Float32Array);
        tf.dispose(outs);
        take(b.start, values);
        this.flops += 2 * b.x.shape[0] * k * this.cols;
      }
    } finally {
      tf.dispose([ct, cn]);
    }
  }

  /** out[start*width + j] = max(0, scores[j] + ||x_row||^2): scores hold ||c||^2 - 2 x.c. */
  private addNorms(scores: ArrayLike<number>, start: number, width: number, out: Float32Array): void {
    const off = start * width;
    for (let j = 0; j < scores.length; j++) out[off + j] = Math.max(0, scores[j] + this.norms[start + Math.floor(j / width)]);
  }

  dispose(): void {
    for (const b of this.blocks) b.x.dispose();
    this.blocks.length = 0;
  }
}

export interface KMeansOptions {
  k: number;
  /** Most Lloyd iterations (default 25). */
  iterations?: number;
  /** Stop when at most this share of the points changed cluster in an iteration (default 1e-3). */
  tolerance?: number;
  seed?: number;
  /**
   * Capacity-constrained assignment: no cluster takes more than ceil(n/k) points (see
   * `balancedAssign`). Off by default.
   */
  balanced?: boolean;
  /** Balanced mode: nearest centroids considered per point before the exact fallback (default 16). */
  candidates?: number;
  /** Warm start (skips k-means++ seeding): k x dim centroids. */
  init?: Matrix;
  /**
   * k-means++ seeds from a uniform sample of this many points (default 32 k, capped at n): the
   * k sequential seeding passes then cost O(32 k^2 d) whatever n is; Lloyd uses every point.
   */
  seedSample?: number;
  /** Names the data in error messages, e.g. "RQ level 2". */
  what?: string;
  onIteration?: (iteration: number, info: { moved: number; inertia: number }) => void;
}

export interface KMeansResult {
  centroids: Matrix;
  /** Cluster of every point. */
  assignment: Int32Array;
  /** Squared distance of every point to its centroid. */
  distance: Float32Array;
  /** Sum of squared distances. */
  inertia: number;
  /** Lloyd iterations run. */
  iterations: number;
  /** Empty clusters refilled over the run. */
  repairs: number;
  /** Floating-point operations spent in distance matrix products. */
  flops: number;
}

/**
 * Lloyd's k-means with k-means++ seeding, empty-cluster repair and an optional capacity
 * constraint. Distances run as blocked matrix products on the tensor backend; the centroid
 * update (O(n d), cheap next to the O(n k d) distances) runs in JS in float64.
 * Deterministic for a given seed: the seed drives the only random choices (the seeding).
 */
export function kmeans(tf: Tf, data: Matrix, options: KMeansOptions): KMeansResult {
  const what = options.what ?? 'k-means';
  checkVectors(data, what);
  const { k } = options;
  const n = data.rows;
  if (!Number.isInteger(k) || k < 1) throw badInput(`${what}: codebook size must be a positive integer; got ${k}`);
  if (k > n) {
    throw badInput(
      `${what}: codebook size ${k} is larger than the ${n} vectors to cluster; choose a codebook size <= ${n} (smaller codebooks for small catalogs)`,
    );
  }
  if (options.init && (options.init.rows !== k || options.init.cols !== data.cols)) {
    throw badInput(`${what}: init centroids are ${options.init.rows}x${options.init.cols}; expected ${k}x${data.cols}`);
  }
  const maxIter = options.iterations ?? 25;
  const tol = options.tolerance ?? 1e-3;
  const engine = new BlockedRows(tf, data, k);
  try {
    const centroids: Matrix = options.init
      ? { data: Float32Array.from(options.init.data), rows: k, cols: data.cols }
      : kmeansPlusPlus(tf, data, k, new Rng(options.seed ?? 0), options.seedSample);
    const cap = Math.ceil(n / k);
    let prev: Int32Array | null = null;
    let assignment: Int32Array = new Int32Array(n);
    let distance: Float32Array = new Float32Array(n);
    let repairs = 0;
    let iterations = 0;
    for (let it = 0; it < Math.max(1, maxIter); it++) {
      iterations = it + 1;
      const a = options.balanced
        ? balancedAssign(tf, engine, data, centroids, cap, options.candidates ?? 16)
        : engine.nearest(centroids);
      assignment = a.index;
      distance = a.dist;
      repairs += repairEmpty(engine, data, centroids, assignment, distance);
      let moved = n;
      if (prev) {
        moved = 0;
        for (let i = 0; i < n; i++) if (prev[i] !== assignment[i]) moved++;
      }
      options.onIteration?.(iterations, { moved, inertia: sum(distance) });
      if (moved <= tol * n || it === maxIter - 1) break;
      updateCentroids(data, assignment, centroids);
      prev = assignment;
    }
    return { centroids, assignment, distance, inertia: sum(distance), iterations, repairs, flops: engine.flops };
  } finally {
    engine.dispose();
  }
}

/** Nearest centroid of every row (plain argmin, also for codebooks trained balanced). */
export function assignNearest(tf: Tf, data: Matrix, centroids: Matrix): { index: Int32Array; dist: Float32Array } {
  const engine = new BlockedRows(tf, data, centroids.rows);
  try {
    return engine.nearest(centroids);
  } finally {
    engine.dispose();
  }
}

/**
 * k-means++ (Arthur & Vassilvitskii 2007), greedy variant: each next seed is the best of
 * 2 + ln k candidates drawn with probability proportional to their squared distance from the
 * nearest seed so far. It seeds from a uniform sample (Lloyd
 * iterations then use every point), which keeps the k sequential passes cheap.
 */
function kmeansPlusPlus(tf: Tf, data: Matrix, k: number, rng: Rng, sampleSize?: number): Matrix {
  const n = data.rows;
  const s = Math.min(n, Math.max(k, sampleSize ?? 32 * k));
  let sample: Matrix = data;
  if (s < n) {
    const idx = Int32Array.from({ length: n }, (_, i) => i);
    for (let i = 0; i < s; i++) {
      const j = i + rng.int(n - i);
      const t = idx[i];
      idx[i] = idx[j];
      idx[j] = t;
    }
    sample = gatherRows(data, idx.subarray(0, s).sort());
  }
  const d = data.cols;
  const out = new Float32Array(k * d);
  const trials = 2 + Math.floor(Math.log(k));
  const engine = new BlockedRows(tf, sample, trials);
  try {
    const minD = new Float64Array(s).fill(Number.POSITIVE_INFINITY);
    const cum = new Float64Array(s);
    const cand = new Float32Array(trials * d);
    let pick = rng.int(s);
    // Distances to the newest seed: column `col` of a rows x `stride` block.
    let dist = engine.distances({ data: sample.data.subarray(pick * d, (pick + 1) * d), rows: 1, cols: d });
    let stride = 1;
    let col = 0;
    for (let c = 0; ; c++) {
      out.set(sample.data.subarray(pick * d, (pick + 1) * d), c * d);
      let total = 0;
      for (let i = 0; i < s; i++) {
        const v = dist[i * stride + col];
        if (v < minD[i]) minD[i] = v;
        total += minD[i];
        cum[i] = total;
      }
      if (c === k - 1) break;
      if (total <= 0) {
        // Every point coincides with a seed (fewer distinct points than k): any point will do,
        // empty-cluster repair spreads them later.
        pick = rng.int(s);
        dist = engine.distances({ data: sample.data.subarray(pick * d, (pick + 1) * d), rows: 1, cols: d });
        stride = 1;
        col = 0;
        continue;
      }
      // Greedy k-means++ (as in scikit-learn): draw a few candidates by D^2 sampling and keep
      // the one that lowers the potential most; the candidates are scored in one product.
      const picks: number[] = [];
      for (let t = 0; t < trials; t++) {
        const r = rng.next() * total;
        let lo = 0;
        let hi = s - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (cum[mid] > r) hi = mid;
          else lo = mid + 1;
        }
        picks.push(lo);
        cand.set(sample.data.subarray(lo * d, (lo + 1) * d), t * d);
      }
      dist = engine.distances({ data: cand, rows: trials, cols: d });
      stride = trials;
      let bestPot = Number.POSITIVE_INFINITY;
      for (let t = 0; t < trials; t++) {
        let pot = 0;
        for (let i = 0; i < s; i++) pot += Math.min(minD[i], dist[i * trials + t]);
        if (pot < bestPot) [col, bestPot] = [t, pot];
      }
      pick = picks[col];
    }
  } finally {
    engine.dispose();
  }
  return { data: out, rows: k, cols: d };
}

/**
 * Capacity-constrained assignment: every cluster takes at most `cap` points. Greedy by cost:
 * all (point, centroid) pairs among each point's `m` nearest centroids are sorted by distance
 * and taken in that order while the point is free and the centroid has room; the few points
 * whose m candidates all filled up are then placed the same way against every centroid. This
 * is the usual greedy approximation of the balanced transport problem: O(n m log(n m)) after
 * one top-m distance pass, and exact whenever no point is displaced.
 */
export function balancedAssign(
  tf: Tf,
  engine: BlockedRows,
  data: Matrix,
  centroids: Matrix,
  cap: number,
  m: number,
): { index: Int32Array; dist: Float32Array } {
  const n = engine.rows;
  const k = centroids.rows;
  if (cap * k < n) throw badInput(`balanced k-means: capacity ${cap} x ${k} clusters cannot hold ${n} points`);
  const index = new Int32Array(n).fill(-1);
  const dist = new Float32Array(n);
  const load = new Int32Array(k);
  const greedy = (cand: { index: Int32Array; dist: Float32Array }, top: number, rows: ArrayLike<number>) => {
    for (const p of orderByValue(cand.dist)) {
      const row = rows[Math.floor(p / top)];
      const c = cand.index[p];
      if (index[row] !== -1 || load[c] >= cap) continue;
      index[row] = c;
      dist[row] = cand.dist[p];
      load[c]++;
    }
  };
  const top = Math.min(m, k);
  greedy(engine.nearest(centroids, top), top, Int32Array.from({ length: n }, (_, i) => i));
  const left: number[] = [];
  for (let i = 0; i < n; i++) if (index[i] === -1) left.push(i);
  if (left.length > 0) {
    const rest = new BlockedRows(tf, gatherRows(data, left), k);
    try {
      greedy(rest.nearest(centroids, k), k, left);
      engine.flops += rest.flops;
    } finally {
      rest.dispose();
    }
  }
  return { index, dist };
}

/**
 * Indices of `values` (all >= 0) in ascending order, ties by index, through one native
 * Float64Array sort: each key packs the float's bit pattern (monotonic for non-negative
 * floats) above the index. Past 2^22 entries the lowest mantissa bits are dropped, which only
 * turns near-ties into ties. About 10x faster than a comparator sort.
 */
export function orderByValue(values: Float32Array): Int32Array {
  const n = values.length;
  const idxBits = Math.max(1, Math.ceil(Math.log2(n + 1)));
  const shift = Math.max(0, 31 + idxBits - 53);
  const scale = 2 ** idxBits;
  const bits = new Uint32Array(values.buffer, values.byteOffset, n);
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) keys[i] = (bits[i] >>> shift) * scale + i;
  keys.sort();
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = keys[i] % scale;
  return out;
}

/**
 * Refills empty clusters by farthest-first traversal: each empty cluster takes the point
 * farthest from every centroid so far (the new ones included, one distance product each),
 * among clusters that keep at least one point, and its centroid moves onto that point. The next
 * Lloyd step reassigns the neighbours. Deterministic (ties by point order). Returns the count.
 */
function repairEmpty(
  engine: BlockedRows,
  data: Matrix,
  centroids: Matrix,
  assignment: Int32Array,
  distance: Float32Array,
): number {
  const k = centroids.rows;
  const sizes = new Int32Array(k);
  for (const c of assignment) sizes[c]++;
  const empty: number[] = [];
  for (let c = 0; c < k; c++) if (sizes[c] === 0) empty.push(c);
  if (empty.length === 0) return 0;
  const d = data.cols;
  const far = Float32Array.from(distance);
  for (const e of empty) {
    let p = -1;
    for (let i = 0; i < far.length; i++) if (sizes[assignment[i]] > 1 && (p < 0 || far[i] > far[p])) p = i;
    sizes[assignment[p]]--;
    assignment[p] = e;
    sizes[e] = 1;
    distance[p] = 0;
    const row = data.data.subarray(p * d, (p + 1) * d);
    centroids.data.set(row, e * d);
    const { dist } = engine.nearest({ data: row, rows: 1, cols: d });
    for (let i = 0; i < far.length; i++) if (dist[i] < far[i]) far[i] = dist[i];
  }
  return empty.length;
}

/** Centroid = mean of its points (float64 sums); every cluster is non-empty after repair. */
function updateCentroids(data: Matrix, assignment: Int32Array, centroids: Matrix): void {
  const d = data.cols;
  const sums = new Float64Array(centroids.rows * d);
  const counts = new Int32Array(centroids.rows);
  for (let i = 0; i < assignment.length; i++) {
    const c = assignment[i];
    counts[c]++;
    const src = i * d;
    const dst = c * d;
    for (let j = 0; j < d; j++) sums[dst + j] += data.data[src + j];
  }
  for (let c = 0; c < centroids.rows; c++) {
    if (counts[c] === 0) continue;
    const inv = 1 / counts[c];
    for (let j = 0; j < d; j++) centroids.data[c * d + j] = sums[c * d + j] * inv;
  }
}

function sum(a: Float32Array): number {
  let s = 0;
  for (const v of a) s += v;
  return s;
}
