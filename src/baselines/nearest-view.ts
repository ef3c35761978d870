import { badInput } from '../errors.js';

/**
 * The cascade's recall for photo search: exact nearest catalog photo by cosine (embeddings are
 * unit length, so a dot product). An item scores the best similarity over its photos. Exact
 * search, not ANN: a few thousand catalog photos take well under a millisecond per query.
 */
export class NearestView {
  readonly nItems: number;
  private readonly views: number;

  constructor(
    private readonly embeddings: Float32Array,
    private readonly viewItem: Int32Array,
    readonly dim: number,
  ) {
    this.views = viewItem.length;
    if (embeddings.length !== this.views * dim) throw badInput(`${embeddings.length / dim} view embeddings for ${this.views} views`);
    this.nItems = viewItem.reduce((m, i) => Math.max(m, i + 1), 0);
  }

  /** Per item, the best similarity of the query to any of its photos. */
  itemScores(query: Float32Array): Float32Array {
    const d = this.dim;
    const best = new Float32Array(this.nItems).fill(Number.NEGATIVE_INFINITY);
    for (let v = 0; v < this.views; v++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += query[j] * this.embeddings[v * d + j];
      const it = this.viewItem[v];
      if (s > best[it]) best[it] = s;
    }
    return best;
  }

  /** The top k items, best first (ties: lower item index first). */
  search(query: Float32Array, k: number): { items: Int32Array; scores: Float32Array } {
    const scores = this.itemScores(query);
    const order = Int32Array.from(scores.keys()).sort((a, b) => scores[b] - scores[a] || a - b).subarray(0, k);
    return { items: Int32Array.from(order), scores: Float32Array.from(order, (i) => scores[i]) };
  }
}
