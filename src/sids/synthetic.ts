import { Rng } from '../tensor/rng.js';
import type { Matrix } from './matrix.js';

/** A standard normal draw (Box-Muller) from a seeded generator. */
export function gaussian(rng: Rng): number {
  const u = 1 - rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.next());
}

export interface Blobs {
  points: Matrix;
  /** The true cluster of every point. */
  labels: Int32Array;
  centers: Matrix;
}

/**
 * Gaussian blobs with a known answer, for tests and benchmarks: `sizes[c]` points around center c
 * (centers drawn N(0, spread^2) per dimension), noise N(0, noise^2). Points are interleaved so
 * cluster order does not follow row order.
 */
export function gaussianBlobs(
  sizes: number[],
  dim: number,
  options: { seed?: number; spread?: number; noise?: number } = {},
): Blobs {
  const rng = new Rng(options.seed ?? 1);
  const spread = options.spread ?? 10;
  const noise = options.noise ?? 1;
  const k = sizes.length;
  const centers = new Float32Array(k * dim);
  for (let i = 0; i < centers.length; i++) centers[i] = spread * gaussian(rng);
  const labels = Int32Array.from(sizes.flatMap((s, c) => Array<number>(s).fill(c)));
  rng.shuffle(labels);
  const n = labels.length;
  const data = new Float32Array(n * dim);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) data[i * dim + j] = centers[labels[i] * dim + j] + noise * gaussian(rng);
  }
  return { points: { data, rows: n, cols: dim }, labels, centers: { data: centers, rows: k, cols: dim } };
}
