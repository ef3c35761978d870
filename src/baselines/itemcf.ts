import type { DenseScorer, EvalCase, TrainData } from '../eval/types.js';
import { itemCounts } from './popular.js';

export interface ItemCFParams {
  /** Weight of the t-th most recent history item is recency^t (t = 0 for the last one). */
  recency: number;
  /** A pair d positions apart in a user's sequence weighs distanceDecay^(d-1) (1 = no decay). */
  distanceDecay: number;
  /** Weight of a pair where the candidate came before the history item (forward pairs: 1). */
  backward: number;
  /** sim(i, j) = C(i, j) / (n_i^alpha * n_j^(1-alpha)); 0.5 is cosine. */
  alpha: number;
  /** 1: each user's pairs weigh 1/log2(1 + sequence length), so heavy users count less; 0: 1. */
  iuf: number;
  /** Keep only the strongest `neighbors` per item; 0 keeps all. */
  neighbors: number;
  /** Use only the last `maxHistory` history items; 0 uses all. */
  maxHistory: number;
}

/**
 * Tuned on Beauty validation, rec protocol, NDCG@10 with history excluded (valid 0.0662):
 * `gensearch tune --dataset beauty --protocol rec --system itemcf`, two rounds; see docs/RESULTS.md.
 */
export const ITEMCF_DEFAULTS: ItemCFParams = {
  recency: 0.5,
  distanceDecay: 0.9,
  backward: 0.25,
  alpha: 0.85,
  iuf: 0,
  neighbors: 0,
  maxHistory: 0,
};

/** A sparse item x item similarity in compressed rows. */
export interface SimilarityMatrix {
  rowStart: Int32Array;
  cols: Int32Array;
  vals: Float32Array;
}

/**
 * Item-to-item co-occurrence ("ItemCF") with recency weighting: score(j) = sum over the
 * history items h_t of recency^(age of h_t) * sim(h_t, j). Items no history item co-occurs with
 * are ordered by training popularity, below every co-occurring item.
 */
export class ItemCF implements DenseScorer {
  readonly name: string;
  readonly settings: ItemCFParams;
  private sim: SimilarityMatrix = { rowStart: new Int32Array(1), cols: new Int32Array(0), vals: new Float32Array(0) };
  private popularity: Float32Array = new Float32Array(0);

  constructor(params: Partial<ItemCFParams> = {}, name = 'itemcf') {
    this.name = name;
    this.settings = { ...ITEMCF_DEFAULTS, ...params };
  }

  params(): Record<string, unknown> {
    return { ...this.settings };
  }

  fit(train: TrainData): void {
    const counts = itemCounts(train);
    let max = 1;
    for (const c of counts) if (c > max) max = c;
    this.popularity = counts.map((c) => c / max);
    this.sim = cooccurrence(train, counts, this.settings);
  }

  /** The learned similarity (for inspection and reuse, e.g. i2i pairs for encoders). */
  similarity(): SimilarityMatrix {
    return this.sim;
  }

  scoreBatch(cases: readonly EvalCase[], out: Float32Array): void {
    const n = this.popularity.length;
    const { rowStart, cols, vals } = this.sim;
    const { recency, maxHistory } = this.settings;
    for (let b = 0; b < cases.length; b++) {
      const row = out.subarray(b * n, (b + 1) * n);
      const h = cases[b].history;
      const stop = maxHistory > 0 ? Math.max(0, h.length - maxHistory) : 0;
      let w = 1;
      for (let t = h.length - 1; t >= stop; t--, w *= recency) {
        const i = h[t];
        for (let e = rowStart[i]; e < rowStart[i + 1]; e++) row[cols[e]] += w * vals[e];
      }
      // Popularity below the smallest co-occurrence score: orders the rest without reordering.
      let minPositive = Number.POSITIVE_INFINITY;
      for (let j = 0; j < n; j++) if (row[j] > 0 && row[j] < minPositive) minPositive = row[j];
      const eps = Number.isFinite(minPositive) ? minPositive * 1e-3 : 1;
      for (let j = 0; j < n; j++) row[j] += eps * this.popularity[j];
    }
  }
}

/** Builds the normalised co-occurrence matrix row by row with a dense scratch row. */
export function cooccurrence(train: TrainData, counts: Float32Array, p: ItemCFParams): SimilarityMatrix {
  const n = train.nItems;
  const seqs = train.sequences;
  // Where each item occurs: (user, position) lists in compressed form.
  const occStart = new Int32Array(n + 1);
  for (const seq of seqs) for (const item of seq) occStart[item + 1]++;
  for (let i = 0; i < n; i++) occStart[i + 1] += occStart[i];
  const fill = occStart.slice(0, n);
  const occUser = new Int32Array(occStart[n]);
  const occPos = new Int32Array(occStart[n]);
  let longest = 0;
  for (let u = 0; u < seqs.length; u++) {
    const seq = seqs[u];
    longest = Math.max(longest, seq.length);
    for (let q = 0; q < seq.length; q++) {
      const at = fill[seq[q]]++;
      occUser[at] = u;
      occPos[at] = q;
    }
  }
  const decay = new Float64Array(longest + 1);
  for (let d = 1; d <= longest; d++) decay[d] = p.distanceDecay ** (d - 1);
  const scratch = new Float64Array(n);
  const touched = new Int32Array(n);
  const rowStart = new Int32Array(n + 1);
  let cols = new Int32Array(1 << 16);
  let vals = new Float32Array(1 << 16);
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    let nTouched = 0;
    for (let o = occStart[i]; o < occStart[i + 1]; o++) {
      const seq = seqs[occUser[o]];
      const pos = occPos[o];
      const wu = p.iuf ? 1 / Math.log2(1 + seq.length) : 1;
      for (let q = 0; q < seq.length; q++) {
        const j = seq[q];
        if (q === pos || j === i) continue;
        const w = wu * (q > pos ? decay[q - pos] : p.backward * decay[pos - q]);
        if (w === 0) continue;
        if (scratch[j] === 0) touched[nTouched++] = j;
        scratch[j] += w;
      }
    }
    let kept = touched.subarray(0, nTouched);
    const ni = counts[i] ** p.alpha;
    for (const j of kept) scratch[j] /= ni * counts[j] ** (1 - p.alpha);
    if (p.neighbors > 0 && kept.length > p.neighbors) {
      kept = kept.slice().sort((a, b) => scratch[b] - scratch[a] || a - b).subarray(0, p.neighbors);
    }
    if (nnz + kept.length > cols.length) {
      const size = Math.max(2 * cols.length, nnz + kept.length);
      cols = grow(cols, new Int32Array(size));
      vals = grow(vals, new Float32Array(size));
    }
    for (const j of kept) {
      cols[nnz] = j;
      vals[nnz++] = scratch[j];
    }
    for (let t = 0; t < nTouched; t++) scratch[touched[t]] = 0;
    rowStart[i + 1] = nnz;
  }
  return { rowStart, cols: cols.slice(0, nnz), vals: vals.slice(0, nnz) };
}

function grow<T extends Int32Array | Float32Array>(from: T, to: T): T {
  to.set(from);
  return to;
}
