import { GensearchError } from '../errors.js';

/** Entries sampled to guess a floor for long rows. */
const SAMPLE = 512;

/**
 * Top-K selection with a bounded binary heap whose root is the worst kept entry; its arrays
 * are reused across calls so the hot loop allocates nothing.
 */
export class TopKSelector {
  private heapScores: Float64Array;
  private heapItems: Int32Array;
  private readonly sample = new Float32Array(SAMPLE);
  private readonly sampleItems = new Int32Array(SAMPLE);

  constructor(capacity = 0) {
    this.heapScores = new Float64Array(capacity);
    this.heapItems = new Int32Array(capacity);
  }

  /**
   * Writes the `k` best entries of `scores` (higher first; equal scores by lower index first,
   * so results never depend on the order of evaluation) into `items` / `outScores` and returns
   * how many there were. Entries at -Infinity are "not a candidate" and never returned; NaN is
   * a bug in the scorer and throws. One pass, O(n + m log k) for m heap replacements; no sort.
   */
  select(scores: Float32Array, k: number, items: Int32Array, outScores?: Float32Array): number {
    k = Math.min(k, scores.length);
    if (k <= 0) return 0;
    // A floor that about 2k scores clear (from a strided sample) spares the heap most of the
    // replacements; if fewer than k clear it, the exact pass below runs without one.
    const floor = scores.length >= 16 * SAMPLE && 8 * k <= scores.length ? this.sampledFloor(scores, k) : -Infinity;
    if (floor > Number.NEGATIVE_INFINITY) {
      const got = this.heapSelect(scores, k, floor, items, outScores);
      if (got === k) return k;
    }
    return this.heapSelect(scores, k, Number.NEGATIVE_INFINITY, items, outScores);
  }

  /** A score that about 2k + slack of the row reach, estimated from SAMPLE strided entries. */
  private sampledFloor(scores: Float32Array, k: number): number {
    const stride = scores.length / SAMPLE;
    const sample = this.sample;
    for (let s = 0; s < SAMPLE; s++) sample[s] = scores[Math.floor(s * stride)];
    const rank = Math.min(SAMPLE, Math.ceil((2 * k * SAMPLE) / scores.length) + 8);
    // The rank-th largest of the sample through the same heap (rank is small).
    const n = this.heapSelect(sample, rank, Number.NEGATIVE_INFINITY, this.sampleItems);
    return n === rank ? sample[this.sampleItems[rank - 1]] : Number.NEGATIVE_INFINITY;
  }

  /**
   * Bounded heap over the entries >= floor (entries below it are skipped; -Infinity never
   * enters). Indices arrive in increasing order, so an equal score is worse than everything
   * kept: only a strictly greater one enters a full heap.
   */
  private heapSelect(scores: Float32Array, k: number, floor: number, items: Int32Array, outScores?: Float32Array): number {
    if (this.heapScores.length < k) {
      this.heapScores = new Float64Array(k);
      this.heapItems = new Int32Array(k);
    }
    const hs = this.heapScores;
    const hi = this.heapItems;
    const n = scores.length;
    let size = 0;
    let i = 0;
    // Fill: push while the heap is not full.
    for (; i < n && size < k; i++) {
      const s = scores[i];
      if (!(s > Number.NEGATIVE_INFINITY && s >= floor)) {
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
