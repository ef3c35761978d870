import { BM25 } from '../baselines/bm25.js';
import { ItemCF } from '../baselines/itemcf.js';
import { itemCounts } from '../baselines/popular.js';
import { badInput } from '../errors.js';
import { TopKSelector } from '../eval/topk.js';
import type { EvalCase, TrainData } from '../eval/types.js';
import { AnnIndex, type HnswParams } from './ann.js';
import { type AlignedEmbeddings, type UserTower, userTowerVector } from './embeddings.js';

/** The recall channels, in the order their candidates are merged. */
export const CHANNELS = ['bm25', 'ann', 'itemcf'] as const;
export type Channel = (typeof CHANNELS)[number];

/** How many candidates each channel contributes (before dedup). */
export type Quotas = Record<Channel, number>;

/**
 * Pre-rank blend: e(query).e(item) + user * e(user).e(item) + bm25 * BM25/max + itemcf *
 * ItemCF/max. The two towers are the aligned encoder's (query, and the user tower over item
 * vectors); the channel scores are already computed by recall, so they cost nothing more.
 */
export interface PrerankWeights {
  user: number;
  bm25: number;
  itemcf: number;
}

/**
 * Per-candidate features, in this order, all roughly in [0, 1]: recall scores (each scaled by
 * its row maximum), tower cosines, popularity, which channels retrieved it and at what rank,
 * the history length, and the pre-rank score.
 */
export const FEATURES = [
  'bm25',
  'itemcf',
  'queryCos',
  'userCos',
  'lastItemCos',
  'popularity',
  'inBm25',
  'inAnn',
  'inItemcf',
  'rankBm25',
  'rankAnn',
  'rankItemcf',
  'historyLength',
  'prerank',
] as const;
export const N_FEATURES = FEATURES.length;
/** Distinct queries whose vectors and ANN hits are kept; past it the caches start over. */
const QUERY_CACHE = 100_000;
const F = Object.fromEntries(FEATURES.map((f, i) => [f, i])) as Record<(typeof FEATURES)[number], number>;
const IN_CHANNEL: Record<Channel, number> = { bm25: F.inBm25, ann: F.inAnn, itemcf: F.inItemcf };
const RANK_IN_CHANNEL: Record<Channel, number> = { bm25: F.rankBm25, ann: F.rankAnn, itemcf: F.rankItemcf };

/** One case's merged candidates, best pre-rank first, with their features (items x N_FEATURES). */
export interface Candidates {
  items: Int32Array;
  features: Float32Array;
  /** The case's query vector (dim). */
  query: Float32Array;
  /** How many candidates each channel returned (before dedup). */
  channelSizes: Record<Channel, number>;
  /** Per channel, the returned items (for per-channel recall). */
  channelItems: Record<Channel, Int32Array>;
}

export interface CandidateOptions {
  quotas: Quotas;
  hnsw: HnswParams;
  userTower: UserTower;
  prerank: PrerankWeights;
}

/**
 * Recall and pre-rank of the search cascade: BM25 over item text, ANN over the aligned
 * embeddings of the query, and ItemCF from the user's history each return their top quota;
 * the union (deduplicated, in channel order) gets its features and is sorted by the pre-rank
 * blend. Fitted on a training view like any system.
 */
export class CandidateGenerator {
  private bm25 = new BM25();
  private itemcf = new ItemCF();
  private ann: AnnIndex | undefined;
  private popularity = new Float32Array(0);
  private nItems = 0;
  private readonly selector = new TopKSelector();
  /** Search queries repeat: their vectors and ANN hits are kept by query text (up to QUERY_CACHE). */
  private readonly queryCache = new Map<string, Float32Array>();
  private readonly annCache = new Map<string, Int32Array>();

  constructor(
    readonly emb: AlignedEmbeddings,
    readonly options: CandidateOptions,
  ) {
    for (const c of CHANNELS) {
      const q = options.quotas[c];
      if (!Number.isInteger(q) || q < 0) throw badInput(`recall quota of ${c} must be an integer >= 0; got ${q}`);
    }
    if (CHANNELS.every((c) => options.quotas[c] === 0)) throw badInput('every recall quota is 0: the cascade would retrieve nothing');
    const { history, recency } = options.userTower;
    if (!Number.isInteger(history) || history < 1) throw badInput(`user tower history must be an integer >= 1; got ${history}`);
    if (!(recency > 0 && recency <= 1)) throw badInput(`user tower recency must be in (0, 1]; got ${recency}`);
  }

  fit(train: TrainData): void {
    if (this.emb.items.length !== train.nItems * this.emb.dim) {
      throw badInput(`aligned embeddings hold ${this.emb.items.length / this.emb.dim} items; the catalog has ${train.nItems}`);
    }
    this.nItems = train.nItems;
    this.bm25.fit(train);
    this.itemcf.fit(train);
    this.ann = new AnnIndex(this.emb.items, this.emb.dim, this.options.hnsw);
    this.annCache.clear();
    this.queryCache.clear();
    const counts = itemCounts(train);
    const top = Math.log1p(counts.reduce((a, b) => Math.max(a, b), 0)) || 1;
    this.popularity = counts.map((c) => Math.log1p(c) / top);
  }

  /** Dense BM25 rows (cases x nItems). */
  bm25Rows(cases: readonly EvalCase[]): Float32Array {
    const out = new Float32Array(cases.length * this.nItems);
    this.bm25.scoreBatch(cases, out);
    return out;
  }

  /** Dense ItemCF rows (cases x nItems). */
  itemcfRows(cases: readonly EvalCase[]): Float32Array {
    const out = new Float32Array(cases.length * this.nItems);
    this.itemcf.scoreBatch(cases, out);
    return out;
  }

  /** Query vectors, cached by text. */
  queryVectors(queries: readonly string[]): Float32Array[] {
    let missing = [...new Set(queries.filter((q) => !this.queryCache.has(q)))];
    if (this.queryCache.size + missing.length > QUERY_CACHE) {
      this.queryCache.clear();
      this.annCache.clear();
      missing = [...new Set(queries)];
    }
    if (missing.length) {
      const rows = this.emb.encodeQueries(missing);
      missing.forEach((q, i) => this.queryCache.set(q, rows.slice(i * this.emb.dim, (i + 1) * this.emb.dim)));
    }
    return queries.map((q) => this.queryCache.get(q)!);
  }

  /** The ANN channel's items for a query vector (no cache). */
  annSearch(vector: Float32Array): Int32Array {
    if (!this.ann) throw badInput('cascade: fit() must run before recall');
    return this.ann.search(vector, this.options.quotas.ann).items;
  }

  /** The ANN channel's items for a query, cached by its text. */
  annItems(query: string, vector: Float32Array): Int32Array {
    let hit = this.annCache.get(query);
    if (!hit) {
      hit = this.annSearch(vector);
      this.annCache.set(query, hit);
    }
    return hit;
  }

  /** A channel's top items from a dense row: positive scores only (no term matched = no recall). */
  topOfRow(row: Float32Array, quota: number): Int32Array {
    const items = new Int32Array(Math.min(quota, row.length));
    const got = this.selector.select(row, quota, items);
    let n = 0;
    while (n < got && row[items[n]] > 0) n++;
    return items.slice(0, n);
  }

  /** Recall, features and pre-rank for a batch of search cases. */
  generate(cases: readonly EvalCase[]): Candidates[] {
    if (!this.ann) throw badInput('cascade: fit() must run before recall');
    for (const [b, c] of cases.entries()) {
      if (c.query === null) throw badInput(`the cascade ranks search cases; case ${b} has no query (use --protocol search)`);
    }
    const queries = this.queryVectors(cases.map((c) => c.query!));
    const bm25 = this.bm25Rows(cases);
    const itemcf = this.itemcfRows(cases);
    const n = this.nItems;
    return cases.map((c, b) => {
      const query = queries[b];
      const bRow = bm25.subarray(b * n, (b + 1) * n);
      const cRow = itemcf.subarray(b * n, (b + 1) * n);
      const channelItems: Record<Channel, Int32Array> = {
        bm25: this.topOfRow(bRow, this.options.quotas.bm25),
        ann: this.options.quotas.ann > 0 ? this.annItems(c.query!, query) : new Int32Array(0),
        itemcf: this.topOfRow(cRow, this.options.quotas.itemcf),
      };
      return this.merge(c, query, bRow, cRow, channelItems);
    });
  }

  /**
   * Merges the channels' items (dedup, channel order) and computes every candidate's features
   * and pre-rank score; `bRow` / `cRow` are the case's dense BM25 and ItemCF rows.
   */
  merge(c: EvalCase, query: Float32Array, bRow: Float32Array, cRow: Float32Array, channelItems: Record<Channel, Int32Array>): Candidates {
    const dim = this.emb.dim;
    const at = new Map<number, number>();
    for (const ch of CHANNELS) for (const item of channelItems[ch]) if (!at.has(item)) at.set(item, at.size);
    const items = Int32Array.from(at.keys());
    const feats = new Float32Array(items.length * N_FEATURES);
    for (const ch of CHANNELS) {
      channelItems[ch].forEach((item, r) => {
        const row = at.get(item)! * N_FEATURES;
        feats[row + IN_CHANNEL[ch]] = 1;
        feats[row + RANK_IN_CHANNEL[ch]] = 1 / Math.log2(2 + r);
      });
    }
    const user = this.userVector(c.history);
    const last = c.history.length ? this.emb.items.subarray(c.history[c.history.length - 1] * dim, (c.history[c.history.length - 1] + 1) * dim) : undefined;
    const bMax = rowMax(bRow) || 1;
    const cMax = rowMax(cRow) || 1;
    const historyLength = Math.min(1, Math.log1p(c.history.length) / Math.log1p(50));
    const w = this.options.prerank;
    const prerank = new Float32Array(items.length);
    items.forEach((item, i) => {
      const row = i * N_FEATURES;
      const v = this.emb.items.subarray(item * dim, (item + 1) * dim);
      feats[row + F.bm25] = bRow[item] / bMax;
      feats[row + F.itemcf] = cRow[item] / cMax;
      feats[row + F.queryCos] = dot(query, v);
      feats[row + F.userCos] = user ? dot(user, v) : 0;
      feats[row + F.lastItemCos] = last ? dot(last, v) : 0;
      feats[row + F.popularity] = this.popularity[item];
      feats[row + F.historyLength] = historyLength;
      prerank[i] = prerankScore(feats.subarray(row, row + N_FEATURES), w);
      feats[row + F.prerank] = prerank[i];
    });
    // Best pre-rank first (ties: earlier merged position first).
    const order = Array.from(items.keys()).sort((a, b) => prerank[b] - prerank[a] || a - b);
    const sortedFeats = new Float32Array(feats.length);
    order.forEach((from, to) => sortedFeats.set(feats.subarray(from * N_FEATURES, (from + 1) * N_FEATURES), to * N_FEATURES));
    return {
      items: Int32Array.from(order, (i) => items[i]),
      features: sortedFeats,
      query,
      channelSizes: { bm25: channelItems.bm25.length, ann: channelItems.ann.length, itemcf: channelItems.itemcf.length },
      channelItems,
    };
  }

  /** The user tower of a history (`userTowerVector`). */
  userVector(history: Int32Array): Float32Array | undefined {
    return userTowerVector(this.emb, history, this.options.userTower);
  }
}

/** The pre-rank blend of one candidate's features. */
export function prerankScore(features: Float32Array, w: PrerankWeights): number {
  return features[F.queryCos] + w.user * features[F.userCos] + w.bm25 * features[F.bm25] + w.itemcf * features[F.itemcf];
}

/** Re-sorts candidates by the pre-rank blend with other weights (tuning), updating the feature. */
export function reprerank(c: Candidates, w: PrerankWeights): Candidates {
  const n = c.items.length;
  const scores = new Float32Array(n);
  for (let i = 0; i < n; i++) scores[i] = prerankScore(c.features.subarray(i * N_FEATURES, (i + 1) * N_FEATURES), w);
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b] - scores[a] || a - b);
  const features = new Float32Array(c.features.length);
  order.forEach((from, to) => {
    features.set(c.features.subarray(from * N_FEATURES, (from + 1) * N_FEATURES), to * N_FEATURES);
    features[to * N_FEATURES + F.prerank] = scores[from];
  });
  return { ...c, items: Int32Array.from(order, (i) => c.items[i]), features };
}

function rowMax(row: Float32Array): number {
  let m = 0;
  for (let j = 0; j < row.length; j++) if (row[j] > m) m = row[j];
  return m;
}

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j] * b[j];
  return s;
}
