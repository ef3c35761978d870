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

/**
 * A deterministic stand-in text encoder for tests: each text maps to a seeded random unit
 * vector (same text, same vector). Only for exercising the pipeline; it knows no semantics.
 */
export function hashEmbedder(dim: number, version = 'hash-1'): { dim: number; version: string; encode(texts: readonly string[]): Float32Array } {
  return {
    dim,
    version,
    encode(texts) {
      const out = new Float32Array(texts.length * dim);
      texts.forEach((t, i) => {
        let h = 2166136261;
        for (const c of t) h = Math.imul(h ^ c.charCodeAt(0), 16777619);
        const rng = new Rng(h >>> 0);
        let s = 0;
        for (let j = 0; j < dim; j++) {
          out[i * dim + j] = gaussian(rng);
          s += out[i * dim + j] ** 2;
        }
        for (let j = 0; j < dim; j++) out[i * dim + j] /= Math.sqrt(s);
      });
      return out;
    },
  };
}
