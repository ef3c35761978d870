import type { SimilarityMatrix } from '../baselines/similarity.js';
import { badInput } from '../errors.js';
import type { Matrix } from './matrix.js';

/** Co-occurrence smoothing of the vectors a SID build quantizes. */
export interface CooccurrenceConfig {
  /** Weight of the similarity-weighted mean of an item's neighbours added to its own vector. */
  weight: number;
  /**
   * First RQ level (1-based) that clusters the smoothed vectors; the levels before it cluster
   * the plain ones. Default 1. From 2 on, level 1 stays what the text says (the category a query
   * points at) and co-purchase shapes the codes under it.
   */
  fromLevel?: number;
}

/** `levels`: the number of RQ levels, when known (the smoothing alone does not need it). */
export function checkCooccurrenceConfig(config: CooccurrenceConfig, levels = Number.POSITIVE_INFINITY): void {
  if (!(config.weight > 0 && Number.isFinite(config.weight))) {
    throw badInput(`co-occurrence weight must be a positive number; got ${config.weight}`);
  }
  const from = config.fromLevel ?? 1;
  if (!Number.isInteger(from) || from < 1) throw badInput(`co-occurrence fromLevel must be an integer >= 1; got ${from}`);
  if (from > levels) throw badInput(`co-occurrence fromLevel ${from} is past the ${levels} RQ levels`);
}

/**
 * v'(i) = v(i) + w * sum_j s(i, j) v(j) / sum_j s(i, j), rescaled to the length of v(i), over the
 * item's neighbours j in `similarity` (rows in the order of `vectors`); items without neighbours
 * keep their vector. Why: k-means puts items with close vectors on one code, so pulling items
 * toward what is bought with them makes co-purchased items share SID prefixes - what LETTER's
 * collaborative regulariser does for an RQ-VAE, here for RQ-KMeans, with the ItemCF neighbours
 * the encoder's i2i loss already learns from. Queries and items added later are encoded without
 * it: it shapes the codebooks and the catalog's codes, not the encoding of a new vector.
 */
export function smoothByCooccurrence(vectors: Matrix, similarity: SimilarityMatrix, config: CooccurrenceConfig): Matrix {
  checkCooccurrenceConfig(config);
  const { rows: n, cols: d } = vectors;
  if (similarity.rowStart.length !== n + 1) {
    throw badInput(`the co-occurrence similarity has ${similarity.rowStart.length - 1} rows for ${n} items`);
  }
  const out = Float32Array.from(vectors.data);
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    const from = similarity.rowStart[i];
    const to = similarity.rowStart[i + 1];
    let total = 0;
    mean.fill(0);
    for (let e = from; e < to; e++) {
      const s = similarity.vals[e];
      const j = similarity.cols[e];
      total += s;
      for (let c = 0; c < d; c++) mean[c] += s * vectors.data[j * d + c];
    }
    if (!(total > 0)) continue;
    let before = 0;
    let after = 0;
    for (let c = 0; c < d; c++) {
      const v = vectors.data[i * d + c];
      const x = v + (config.weight * mean[c]) / total;
      out[i * d + c] = x;
      before += v * v;
      after += x * x;
    }
    if (after > 0) {
      const scale = Math.sqrt(before / after);
      for (let c = 0; c < d; c++) out[i * d + c] *= scale;
    }
  }
  return { data: out, rows: n, cols: d };
}
