import { badInput } from '../errors.js';
import type { Tf } from '../tensor/runtime.js';
import { type FusionWeights, fuseKeywords } from './keywords/fusion.js';
import { type Keyword, KeywordPool } from './keywords/pool.js';
import { joinCodes, type SidLayout } from './layout.js';
import { checkVectors, type Matrix } from './matrix.js';
import { encodeOpq, type OpqModel } from './opq.js';
import { encodeRq } from './rq.js';

/** Everything needed to give new items or queries SIDs without a rebuild. */
export interface SidModel {
  layout: SidLayout;
  /** Dimension of the input embeddings. */
  dim: number;
  /** RQ codebooks, one k x dim matrix per level. */
  rq: Matrix[];
  opq: OpqModel | null;
  /** Keyword enhancement: the pool, one embedding per keyword, and the fusion weights. */
  keywords: { pool: Keyword[]; vectors: Matrix; weights: FusionWeights } | null;
  /** Version of the encoder whose embeddings the codebooks were trained on ('' if unknown). */
  encoderVersion: string;
}

/**
 * Keyword enhancement of raw embeddings: `texts[r]` are the texts of row r that keywords are
 * matched in (an item's title, brand, category segments; a query's text). Identity (a copy,
 * L2-normalised rows untouched) when the model has no keyword pool.
 */
export function enhance(model: SidModel, vectors: Matrix, texts: readonly (readonly string[])[] | null): Matrix {
  if (!model.keywords) return vectors;
  if (!texts) throw badInput('this SID model uses keyword enhancement: pass the texts to match keywords in');
  const pool = new KeywordPool(model.keywords.pool);
  const matches = texts.map((fields) => [...new Set(fields.flatMap((f) => pool.match(f)))]);
  return fuseKeywords(vectors, matches, model.keywords.vectors, model.keywords.weights);
}

/** SID codes (n x width, per-position numbering) of already-enhanced vectors. */
export function encodeEnhanced(tf: Tf, model: SidModel, vectors: Matrix): Int32Array {
  const rq = encodeRq(tf, model.rq, vectors);
  const opq = model.opq ? encodeOpq(tf, model.opq, rq.residual) : null;
  return joinCodes(rq.codes, model.rq.length, opq, model.opq?.codebooks.length ?? 0);
}

/**
 * Every SID token as a vector of the embedding space, one row per global token (RQ levels, then
 * OPQ sub-codes): an RQ centroid as it is, an OPQ sub-centroid rotated back (x = y R^T, zeros in
 * the other subspaces). The sum of an item's token rows is its quantized (enhanced) embedding.
 */
export function tokenVectors(model: SidModel): Matrix {
  const k = model.dim;
  const rows: number[] = [];
  for (const cb of model.rq) rows.push(...cb.data.subarray(0, cb.rows * k));
  if (model.opq) {
    const { rotation: r, bounds, codebooks } = model.opq;
    codebooks.forEach((cb, m) => {
      for (let c = 0; c < cb.rows; c++) {
        for (let j = 0; j < k; j++) {
          let x = 0;
          for (let col = bounds[m]; col < bounds[m + 1]; col++) x += cb.data[c * cb.cols + col - bounds[m]] * r.data[j * k + col];
          rows.push(x);
        }
      }
    });
  }
  return { data: Float32Array.from(rows), rows: rows.length / k, cols: k };
}

/** Each row's quantized embedding: the sum of its token rows (`tokens`: n x width global tokens). */
export function quantizedVectors(tokenRows: Matrix, tokens: Int32Array, width: number): Matrix {
  const d = tokenRows.cols;
  const n = tokens.length / width;
  const data = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < width; p++) {
      const t = tokens[i * width + p];
      for (let j = 0; j < d; j++) data[i * d + j] += tokenRows.data[t * d + j];
    }
  }
  return { data, rows: n, cols: d };
}

/**
 * Incremental assignment: SIDs for new items (or queries) from existing codebooks: keyword
 * enhancement with the saved pool, then the nearest code at every RQ level and in every OPQ
 * subspace. Balanced levels assign plainly (capacity only shapes training).
 */
export function assignSids(
  tf: Tf,
  model: SidModel,
  vectors: Matrix,
  texts: readonly (readonly string[])[] | null,
  label?: (row: number) => string,
): Int32Array {
  if (vectors.cols !== model.dim) {
    throw badInput(`embeddings have dimension ${vectors.cols}; the SID codebooks were built on dimension ${model.dim}`);
  }
  checkVectors(vectors, 'embeddings to assign', label);
  return encodeEnhanced(tf, model, enhance(model, vectors, texts));
}
