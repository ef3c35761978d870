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
