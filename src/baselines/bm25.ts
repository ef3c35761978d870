import { badInput } from '../errors.js';
import { STOPWORDS, tokenize, uniqueTerms } from '../eval/query.js';
import type { DenseScorer, EvalCase, Protocol, TrainData } from '../eval/types.js';
import type { ItemRecord } from '../store/types.js';

export interface BM25Params {
  k1: number;
  b: number;
  /** Term-frequency weight of each field (BM25F-style: weighted tf and length). */
  titleWeight: number;
  brandWeight: number;
  categoryWeight: number;
}

/**
 * Tuned on Beauty validation, search protocol, NDCG@10 (valid 0.0635 vs 0.0574 with the usual
 * k1 1.2, b 0.75, equal fields): `gensearch tune --dataset beauty --protocol search --system bm25`.
 */
export const BM25_DEFAULTS: BM25Params = { k1: 1.2, b: 0.3, titleWeight: 2, brandWeight: 1, categoryWeight: 4 };

/** An inverted index whose postings hold each (term, item) BM25 contribution, precomputed. */
export interface BM25Index {
  postings: Map<string, { items: Int32Array; impacts: Float32Array }>;
  nItems: number;
}

/** The text fields of an item, as BM25 sees them (the importers already decode HTML entities). */
export function itemFields(item: ItemRecord): { title: string; brand: string; category: string } {
  return {
    title: item.title ?? '',
    brand: item.brand && item.brand !== 'Unknown' ? item.brand : '',
    category: item.categories.map((p) => p.join(' ')).join(' '),
  };
}

/**
 * Okapi BM25 with Lucene's non-negative idf, ln(1 + (N - df + 0.5) / (df + 0.5)), over
 * title + brand + category path with per-field tf weights; stopwords are not indexed.
 */
export function buildBM25(items: readonly ItemRecord[], p: BM25Params = BM25_DEFAULTS): BM25Index {
  const weights = { title: p.titleWeight, brand: p.brandWeight, category: p.categoryWeight };
  const docs: Map<string, number>[] = [];
  const lengths = new Float64Array(items.length);
  for (let d = 0; d < items.length; d++) {
    const tf = new Map<string, number>();
    const fields = itemFields(items[d]);
    for (const field of ['title', 'brand', 'category'] as const) {
      for (const t of tokenize(fields[field])) {
        if (STOPWORDS.has(t)) continue;
        tf.set(t, (tf.get(t) ?? 0) + weights[field]);
        lengths[d] += weights[field];
      }
    }
    docs.push(tf);
  }
  const avg = lengths.reduce((a, b) => a + b, 0) / Math.max(1, items.length) || 1;
  const lists = new Map<string, { items: number[]; tfs: number[] }>();
  docs.forEach((tf, d) => {
    for (const [t, f] of tf) {
      let l = lists.get(t);
      if (!l) {
        l = { items: [], tfs: [] };
        lists.set(t, l);
      }
      l.items.push(d);
      l.tfs.push(f);
    }
  });
  const postings: BM25Index['postings'] = new Map();
  const n = items.length;
  for (const [t, l] of lists) {
    const df = l.items.length;
    const idf = Math.log(1 + (n - df + 0.5) / (df + 0.5));
    const impacts = new Float32Array(df);
    for (let e = 0; e < df; e++) {
      const f = l.tfs[e];
      const norm = p.k1 * (1 - p.b + (p.b * lengths[l.items[e]]) / avg);
      impacts[e] = (idf * f * (p.k1 + 1)) / (f + norm);
    }
    postings.set(t, { items: Int32Array.from(l.items), impacts });
  }
  return { postings, nItems: n };
}

/** Adds the BM25 score of `query` for every item into `row` (length nItems). */
export function scoreBM25(index: BM25Index, query: string, row: Float32Array): void {
  for (const t of uniqueTerms(query)) {
    const p = index.postings.get(t);
    if (!p) continue;
    for (let e = 0; e < p.items.length; e++) row[p.items[e]] += p.impacts[e];
  }
}

/** Text retrieval only: ranks items by BM25 of the case's query, ignoring the user. */
export class BM25 implements DenseScorer {
  readonly name: string;
  readonly protocols: readonly Protocol[] = ['search'];
  readonly settings: BM25Params;
  private index: BM25Index | undefined;

  constructor(params: Partial<BM25Params> = {}, name = 'bm25') {
    this.name = name;
    this.settings = { ...BM25_DEFAULTS, ...params };
  }

  params(): Record<string, unknown> {
    return { ...this.settings };
  }

  fit(train: TrainData): void {
    this.index = buildBM25(train.items, this.settings);
  }

  scoreBatch(cases: readonly EvalCase[], out: Float32Array): void {
    const index = this.index;
    if (!index) throw badInput(`${this.name}: fit() must run before scoring`);
    const n = index.nItems;
    for (let b = 0; b < cases.length; b++) {
      const q = cases[b].query;
      if (q === null) throw badInput(`${this.name} ranks by query text, but case ${b} has no query: use --protocol search`);
      scoreBM25(index, q, out.subarray(b * n, (b + 1) * n));
    }
  }
}
