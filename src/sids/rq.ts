import { badInput } from '../errors.js';
import { Rng } from '../tensor/rng.js';
import type { Tf } from '../tensor/runtime.js';
import { assignNearest, kmeans } from './kmeans.js';
import type { Matrix } from './matrix.js';

/** Called once per k-means iteration (and with the skipped rest when a level converges early). */
export type Tick = (n?: number, info?: string) => void;

export interface RqConfig {
  /** Codebook size per level, coarse to fine, e.g. [128, 128, 128]. */
  levels: number[];
  /** 1-based levels clustered with balanced (capacity-constrained) k-means, e.g. [3]. */
  balancedLevels?: number[];
  /** Most Lloyd iterations per level (default 25). */
  iterations?: number;
  seed?: number;
}

export interface LevelStats {
  k: number;
  balanced: boolean;
  /** Sum of squared residual norms left after this level. */
  inertia: number;
  iterations: number;
  repairs: number;
  flops: number;
}

export interface RqResult {
  /** One k x dim codebook per level. */
  codebooks: Matrix[];
  /** n x levels codes, row-major. */
  codes: Int32Array;
  /** What the last level leaves: x minus the sum of its chosen centroids. */
  residual: Matrix;
  stats: LevelStats[];
}

export function checkRqConfig(config: RqConfig): void {
  if (config.levels.length === 0) throw badInput('RQ needs at least one level; got an empty --levels list');
  for (const k of config.levels) {
    if (!Number.isInteger(k) || k < 2) throw badInput(`RQ codebook sizes must be integers >= 2; got ${config.levels.join(',')}`);
  }
  for (const l of config.balancedLevels ?? []) {
    if (!Number.isInteger(l) || l < 1 || l > config.levels.length) {
      throw badInput(`balanced level ${l} is not one of the RQ levels 1..${config.levels.length}`);
    }
  }
}

/** Other vectors for the levels from `fromLevel` (1-based) on: see `trainRq`. */
export interface LaterLevelVectors {
  fromLevel: number;
  data: Matrix;
}

/**
 * Residual k-means (RQ-KMeans): level 1 clusters the vectors, each next level clusters what the
 * previous levels left unexplained. Coarse levels carry the shared semantics (category), fine
 * ones tell neighbours apart. Each level has its own seed drawn from `seed`. With `later`, the
 * levels from `later.fromLevel` on cluster `later.data` minus the centroids chosen so far, so
 * the coarse levels follow `data` and the fine ones the other vectors.
 */
export function trainRq(tf: Tf, data: Matrix, config: RqConfig, tick?: Tick, later?: LaterLevelVectors): RqResult {
  checkRqConfig(config);
  if (later && (later.data.rows !== data.rows || later.data.cols !== data.cols)) {
    throw badInput(`the later levels' vectors are ${later.data.rows} x ${later.data.cols}; the data is ${data.rows} x ${data.cols}`);
  }
  const rng = new Rng(config.seed ?? 0);
  const iterations = config.iterations ?? 25;
  const L = config.levels.length;
  const codes = new Int32Array(data.rows * L);
  const residual: Matrix = { data: Float32Array.from(data.data), rows: data.rows, cols: data.cols };
  const codebooks: Matrix[] = [];
  const stats: LevelStats[] = [];
  config.levels.forEach((k, l) => {
    const balanced = (config.balancedLevels ?? []).includes(l + 1);
    // residual = data - chosen centroids; switching to later.data adds (later.data - data).
    if (later && l + 1 === later.fromLevel) {
      if (l === 0) residual.data.set(later.data.data);
      else for (let i = 0; i < residual.data.length; i++) residual.data[i] += later.data.data[i] - data.data[i];
    }
    let done = 0;
    const r = kmeans(tf, residual, {
      k,
      iterations,
      balanced,
      seed: rng.seed(),
      what: `RQ level ${l + 1}`,
      onIteration: (it, info) => {
        done = it;
        tick?.(1, `RQ level ${l + 1}/${L} iter ${it} moved ${info.moved}`);
      },
    });
    tick?.(iterations - done);
    subtractCodes(residual, r.centroids, r.assignment);
    for (let i = 0; i < data.rows; i++) codes[i * L + l] = r.assignment[i];
    codebooks.push(r.centroids);
    stats.push({ k, balanced, inertia: r.inertia, iterations: r.iterations, repairs: r.repairs, flops: r.flops });
  });
  return { codebooks, codes, residual, stats };
}

/**
 * Codes for new vectors from trained codebooks: the nearest centroid at every level (balanced
 * levels too: capacity only shapes training, a new item just takes its nearest code).
 */
export function encodeRq(tf: Tf, codebooks: Matrix[], data: Matrix): { codes: Int32Array; residual: Matrix } {
  const L = codebooks.length;
  const codes = new Int32Array(data.rows * L);
  const residual: Matrix = { data: Float32Array.from(data.data), rows: data.rows, cols: data.cols };
  codebooks.forEach((cb, l) => {
    if (cb.cols !== data.cols) {
      throw badInput(`vectors have dimension ${data.cols}; the RQ codebooks were trained on dimension ${cb.cols}`);
    }
    const { index } = assignNearest(tf, residual, cb);
    subtractCodes(residual, cb, index);
    for (let i = 0; i < data.rows; i++) codes[i * L + l] = index[i];
  });
  return { codes, residual };
}

function subtractCodes(residual: Matrix, centroids: Matrix, code: Int32Array): void {
  const d = residual.cols;
  for (let i = 0; i < residual.rows; i++) {
    const c = code[i] * d;
    for (let j = 0; j < d; j++) residual.data[i * d + j] -= centroids.data[c + j];
  }
}
