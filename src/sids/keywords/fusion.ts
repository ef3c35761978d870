import { badInput } from '../../errors.js';
import { type Matrix, normalizeRows } from '../matrix.js';

export interface FusionWeights {
  /** Weight of the encoder embedding (default 0.5). */
  embedding: number;
  /** Weight of the mean keyword embedding (default 0.5). */
  keywords: number;
}

export const DEFAULT_FUSION: FusionWeights = { embedding: 0.5, keywords: 0.5 };

/**
 * Keyword enhancement (OneSearch KHQE): e' = L2norm(w_e e + w_k mean(keyword embeddings)).
 * Rows without keywords become L2norm(e), so every row stays on the unit sphere.
 * `matches[r]` lists row r's keyword ids (rows of `keywordVectors`).
 */
export function fuseKeywords(
  embeddings: Matrix,
  matches: readonly (readonly number[])[],
  keywordVectors: Matrix,
  weights: FusionWeights = DEFAULT_FUSION,
): Matrix {
  if (matches.length !== embeddings.rows) {
    throw badInput(`keyword matches cover ${matches.length} rows; the embeddings have ${embeddings.rows}`);
  }
  if (keywordVectors.rows > 0 && keywordVectors.cols !== embeddings.cols) {
    throw badInput(`keyword embeddings have dimension ${keywordVectors.cols}; item embeddings have ${embeddings.cols}`);
  }
  const d = embeddings.cols;
  const out = Float32Array.from(embeddings.data);
  const mean = new Float64Array(d);
  matches.forEach((ids, r) => {
    if (ids.length === 0) return;
    mean.fill(0);
    for (const k of ids) {
      if (k < 0 || k >= keywordVectors.rows) throw badInput(`keyword id ${k} is outside the pool of ${keywordVectors.rows}`);
      for (let j = 0; j < d; j++) mean[j] += keywordVectors.data[k * d + j];
    }
    for (let j = 0; j < d; j++) out[r * d + j] = weights.embedding * out[r * d + j] + (weights.keywords * mean[j]) / ids.length;
  });
  return normalizeRows({ data: out, rows: embeddings.rows, cols: d });
}
