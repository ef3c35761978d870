import type { DenseScorer, EvalCase, TrainData } from '../eval/types.js';
import { itemCounts } from './popular.js';

/** A sparse item x item similarity in compressed rows. */
export interface SimilarityMatrix {
  rowStart: Int32Array;
  cols: Int32Array;
  vals: Float32Array;
}

/** How an item-to-item scorer weighs the user's history. */
export interface HistoryWeighting {
  /** Weight of the t-th most recent history item is recency^t (t = 0 for the last one). */
  recency: number;
  /** Use only the last `maxHistory` history items; 0 uses all. */
  maxHistory: number;
}

/**
 * Scores candidates from an item-to-item similarity: score(j) = sum over the history items
 * h_t of recency^(age of h_t) * sim(h_t, j). Items no history item is similar to are ordered
 * by training popularity, below every similar item. Subclasses say how `sim` is learned.
 */
export abstract class ItemToItemScorer<P extends HistoryWeighting> implements DenseScorer {
  private sim: SimilarityMatrix = { rowStart: new Int32Array(1), cols: new Int32Array(0), vals: new Float32Array(0) };
  private popularity: Float32Array = new Float32Array(0);

  constructor(
    readonly name: string,
    readonly settings: P,
  ) {}

  protected abstract buildSimilarity(train: TrainData, counts: Float32Array): SimilarityMatrix;

  params(): Record<string, unknown> {
    return Object.fromEntries(Object.entries(this.settings));
  }

  fit(train: TrainData): void {
    const counts = itemCounts(train);
    let max = 1;
    for (const c of counts) if (c > max) max = c;
    this.popularity = counts.map((c) => c / max);
    this.sim = this.buildSimilarity(train, counts);
  }

  /** The learned similarity (for inspection and reuse, e.g. i2i pairs for encoders). */
  similarity(): SimilarityMatrix {
    return this.sim;
  }

  /**
   * Adds to `row` each item's similarity to the history, sum over the history items h_t of
   * recency^(age of h_t) * sim(h_t, j): 0 for items no history item is similar to.
   */
  addHistoryScores(history: ArrayLike<number>, row: Float32Array): void {
    const { rowStart, cols, vals } = this.sim;
    const { recency, maxHistory } = this.settings;
    const stop = maxHistory > 0 ? Math.max(0, history.length - maxHistory) : 0;
    let w = 1;
    for (let t = history.length - 1; t >= stop; t--, w *= recency) {
      const i = history[t];
      for (let e = rowStart[i]; e < rowStart[i + 1]; e++) row[cols[e]] += w * vals[e];
    }
  }

  scoreBatch(cases: readonly EvalCase[], out: Float32Array): void {
    const n = this.popularity.length;
    for (let b = 0; b < cases.length; b++) {
      const row = out.subarray(b * n, (b + 1) * n);
      this.addHistoryScores(cases[b].history, row);
      // Popularity below the smallest similarity score: orders the rest without reordering.
      let minPositive = Number.POSITIVE_INFINITY;
      for (let j = 0; j < n; j++) if (row[j] > 0 && row[j] < minPositive) minPositive = row[j];
      const eps = Number.isFinite(minPositive) ? minPositive * 1e-3 : 1;
      for (let j = 0; j < n; j++) row[j] += eps * this.popularity[j];
    }
  }
}

/** Where each item occurs in the training sequences: (user, position) lists, compressed. */
export interface Occurrences {
  start: Int32Array;
  user: Int32Array;
  position: Int32Array;
  longest: number;
}

export function occurrences(train: TrainData): Occurrences {
  const n = train.nItems;
  const seqs = train.sequences;
  const start = new Int32Array(n + 1);
  for (const seq of seqs) for (const item of seq) start[item + 1]++;
  for (let i = 0; i < n; i++) start[i + 1] += start[i];
  const fill = start.slice(0, n);
  const user = new Int32Array(start[n]);
  const position = new Int32Array(start[n]);
  let longest = 0;
  for (let u = 0; u < seqs.length; u++) {
    const seq = seqs[u];
    longest = Math.max(longest, seq.length);
    for (let q = 0; q < seq.length; q++) {
      const at = fill[seq[q]]++;
      user[at] = u;
      position[at] = q;
    }
  }
  return { start, user, position, longest };
}

/**
 * Builds a similarity row by row: `fillRow(i, add)` calls `add(j, w)` for each contribution;
 * the builder sums them in a dense scratch row, applies `finish(i, j, sum)` (normalisation),
 * keeps the `neighbors` strongest (0 = all), and packs the rows.
 */
export function buildRows(
  n: number,
  neighbors: number,
  fillRow: (i: number, add: (j: number, w: number) => void) => void,
  finish: (i: number, j: number, sum: number) => number,
): SimilarityMatrix {
  const scratch = new Float64Array(n);
  const touched = new Int32Array(n);
  let nTouched = 0;
  const add = (j: number, w: number): void => {
    if (w === 0) return;
    if (scratch[j] === 0) touched[nTouched++] = j;
    scratch[j] += w;
  };
  const rowStart = new Int32Array(n + 1);
  let cols = new Int32Array(1 << 16);
  let vals = new Float32Array(1 << 16);
  let nnz = 0;
  for (let i = 0; i < n; i++) {
    nTouched = 0;
    fillRow(i, add);
    let kept = touched.subarray(0, nTouched);
    for (const j of kept) scratch[j] = finish(i, j, scratch[j]);
    if (neighbors > 0 && kept.length > neighbors) {
      kept = kept.slice().sort((a, b) => scratch[b] - scratch[a] || a - b).subarray(0, neighbors);
    }
    if (nnz + kept.length > cols.length) {
      const size = Math.max(2 * cols.length, nnz + kept.length);
      const c = new Int32Array(size);
      c.set(cols);
      cols = c;
      const v = new Float32Array(size);
      v.set(vals);
      vals = v;
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
