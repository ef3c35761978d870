import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { encoderDir, ITEM_EMBEDDINGS } from '../encoders/embed.js';
import { loadTextEncoder, readEmbeddings } from '../encoders/index.js';
import { badInput, notFound } from '../errors.js';
import type { ItemRecord } from '../store/types.js';

/** The aligned query/item vectors the cascade's ANN channel, pre-rank and ranker read. */
export interface AlignedEmbeddings {
  dim: number;
  /** nItems x dim, row-major, unit rows, in the dataset's item order. */
  items: Float32Array;
  /** Query texts -> texts.length x dim unit rows. */
  encodeQueries(texts: readonly string[]): Float32Array;
  /** Which encoder made them (part of a trained cascade's identity). */
  version: string;
}

/**
 * The item embeddings `gensearch embed` wrote for a dataset and its encoder for queries. Item
 * rows are put in the catalog's order by id.
 */
export async function loadAlignedEmbeddings(home: string, dataset: string, items: readonly ItemRecord[]): Promise<AlignedEmbeddings> {
  const dir = encoderDir(home, dataset);
  if (!hasAlignedEmbeddings(home, dataset)) {
    throw notFound(`aligned embeddings of dataset "${dataset}" (${dir})`, `run \`gensearch embed --dataset ${dataset}\` first`);
  }
  const stored = readEmbeddings(join(dir, ITEM_EMBEDDINGS));
  const encoder = await loadTextEncoder(dir);
  if (stored.modelVersion !== encoder.version) {
    throw badInput(`${dir}: item embeddings come from encoder ${stored.modelVersion}, the saved encoder is ${encoder.version}; rerun \`gensearch embed\``);
  }
  const row = new Map(stored.ids.map((id, i) => [id, i]));
  const dim = stored.dim;
  const rows = new Float32Array(items.length * dim);
  items.forEach((item, i) => {
    const at = row.get(item.id);
    if (at === undefined) throw badInput(`${dir}: no embedding for item "${item.id}"; the catalog changed since \`gensearch embed\`: rerun it`);
    rows.set(stored.data.subarray(at * dim, (at + 1) * dim), i * dim);
  });
  return alignedEmbeddings(dim, rows, (texts) => encoder.encode(texts), encoder.version);
}

/** Whether `gensearch embed` has written the aligned embeddings of a dataset. */
export function hasAlignedEmbeddings(home: string, dataset: string): boolean {
  return existsSync(join(encoderDir(home, dataset), ITEM_EMBEDDINGS));
}

/** `loadAlignedEmbeddings` where they were built; undefined where `gensearch embed` has not run. */
export async function loadAlignedEmbeddingsIfBuilt(home: string, dataset: string, items: readonly ItemRecord[]): Promise<AlignedEmbeddings | undefined> {
  return hasAlignedEmbeddings(home, dataset) ? loadAlignedEmbeddings(home, dataset, items) : undefined;
}

/** Embeddings from item rows and a query encoder, checked for shape. */
export function alignedEmbeddings(dim: number, items: Float32Array, encodeQueries: (texts: readonly string[]) => Float32Array, version: string): AlignedEmbeddings {
  if (!Number.isInteger(dim) || dim < 1 || items.length % dim !== 0) throw badInput(`aligned embeddings: ${items.length} floats do not make rows of dim ${dim}`);
  return { dim, items, encodeQueries, version };
}

/** The user tower: a recency-weighted mean of the last items' vectors. */
export interface UserTower {
  /** Items of the history the tower reads (most recent first). */
  history: number;
  /** Weight of the t-th most recent item is recency^t. */
  recency: number;
}

/** The user tower of a history: the unit-length recency-weighted mean of its last items' vectors; none for an empty one. */
export function userTowerVector(emb: Pick<AlignedEmbeddings, 'dim' | 'items'>, history: ArrayLike<number>, tower: UserTower): Float32Array | undefined {
  if (history.length === 0) return undefined;
  const { dim, items } = emb;
  const u = new Float32Array(dim);
  let w = 1;
  for (let t = history.length - 1; t >= Math.max(0, history.length - tower.history); t--, w *= tower.recency) {
    const at = history[t] * dim;
    for (let j = 0; j < dim; j++) u[j] += w * items[at + j];
  }
  let squares = 0;
  for (let j = 0; j < dim; j++) squares += u[j] * u[j];
  const norm = Math.sqrt(squares) || 1;
  for (let j = 0; j < dim; j++) u[j] /= norm;
  return u;
}
