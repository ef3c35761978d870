import { GensearchError } from '../errors.js';

/**
 * Scratch space for `topK`: a binary heap whose root is the worst kept entry. Reused across
 * calls so the hot loop allocates nothing.
 */
export class TopKSelector {
  private heapScores: Float64Array;
  private heapItems: Int32Array;

  constructor(capacity = 0) {
    this.heapScores = new Float64Array(capacity);
    this.heapItems = new Int32Array(capacity);
  }

  /**
   * Writes the `k` best entries of `scores` (higher first; equal scores by lower index first,
   * so results never depend on the order of evaluation) into `items` / `outScores` and returns
   * how many there were. Entries at -Infinity are "not a candidate" and never returned; NaN is
   * a bug in the scorer and throws. O(n + m log k) for m heap replacements, no full sort.
   */
  select(scores: Float32Array, k: number, items: Int32Array, outScores?: Float32Array): number {
    k = Math.min(k, scores.length);
    if (k <= 0) return 0;
    if (this.heapScores.length < k) {
      this.heapScores = new Float64Array(k);
      this.heapItems = new Int32Array(k);
    }
    const hs = this.heapScores;
    const hi = this.heapItems;
    let size = 0;
    const n = scores.length;
    let i = 0;
    // Fill: push while the heap is not full.
    for (; i < n && size < k; i++) {
      const s = scores[i];
      if (!(s > Number.NEGATIVE_INFINITY)) {
        if (Number.isNaN(s)) throw nanScore(i);
        continue;
      }
      let c = size++;
      // Sift up: parent must be worse than (or equal to) the child.
      while (c > 0) {
        const p = (c - 1) >> 1;
        if (!worse(s, i, hs[p], hi[p])) break;
        hs[c] = hs[p];
        hi[c] = hi[p];
        c = p;
      }
      hs[c] = s;
      hi[c] = i;
    }
    // Scan: a later index with an equal score is worse than everything kept, so only a
    // strictly greater score enters.
    let threshold = size === k ? hs[0] : Number.NEGATIVE_INFINITY;
    for (; i < n; i++) {
      const s = scores[i];
      if (!(s > threshold)) {
        if (Number.isNaN(s)) throw nanScore(i);
        continue;
      }
      siftDown(hs, hi, size, s, i);
      threshold = hs[0];
    }
    // Drain worst-first into the tail of the output: best ends up first.
    for (let out = size - 1; out >= 0; out--) {
      items[out] = hi[0];
      if (outScores) outScores[out] = hs[0];
      if (out > 0) siftDown(hs, hi, out, hs[out], hi[out]);
    }
    return size;
  }
}

/** a is worse than b: lower score, or the same score at a higher index. */
function worse(sa: number, ia: number, sb: number, ib: number): boolean {
  return sa < sb || (sa === sb && ia > ib);
}

/** Replaces the root with (s, item) and restores the heap over the first `size` slots. */
function siftDown(hs: Float64Array, hi: Int32Array, size: number, s: number, item: number): void {
  let c = 0;
  for (;;) {
    const l = 2 * c + 1;
    if (l >= size) break;
    const r = l + 1;
    const w = r < size && worse(hs[r], hi[r], hs[l], hi[l]) ? r : l;
    if (!worse(hs[w], hi[w], s, item)) break;
    hs[c] = hs[w];
    hi[c] = hi[w];
    c = w;
  }
  hs[c] = s;
  hi[c] = item;
}

function nanScore(index: number): GensearchError {
  return new GensearchError('INTERNAL', `the scorer returned NaN for item index ${index}; scores must be numbers`);
}

/** The reference answer: a full sort by (score desc, index asc). For tests and benchmarks. */
export function topKBySort(scores: Float32Array, k: number): Int32Array {
  const order: number[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] > Number.NEGATIVE_INFINITY) order.push(i);
  order.sort((a, b) => scores[b] - scores[a] || a - b);
  return Int32Array.from(order.slice(0, k));
}
