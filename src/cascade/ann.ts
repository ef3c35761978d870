import usearch from 'usearch';
import { badInput } from '../errors.js';

/** HNSW graph knobs (usearch): edges per node, and the candidate lists of insertion and search. */
export interface HnswParams {
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
}

export const HNSW_DEFAULTS: HnswParams = { connectivity: 16, expansionAdd: 128, expansionSearch: 256 };

/** Item indices and their inner products with the query, best first. */
export interface Hits {
  items: Int32Array;
  scores: Float32Array;
}

/**
 * Approximate inner-product search over item vectors with an HNSW graph (usearch). Items are
 * added with one thread, so the graph, and with it every result, is the same from run to run.
 */
export class AnnIndex {
  private readonly index: InstanceType<typeof usearch.Index>;

  constructor(
    rows: Float32Array,
    readonly dim: number,
    readonly params: HnswParams = HNSW_DEFAULTS,
  ) {
    for (const [k, v] of Object.entries(params)) {
      if (!Number.isInteger(v) || v < 2) throw badInput(`HNSW ${k} must be an integer >= 2; got ${v}`);
    }
    if (rows.length % dim !== 0) throw badInput(`ANN rows: ${rows.length} floats is not a multiple of dim ${dim}`);
    const n = rows.length / dim;
    this.index = new usearch.Index({
      dimensions: dim,
      metric: usearch.MetricKind.IP,
      // Full-precision vectors: the index is small, and scores stay exact dot products.
      quantization: usearch.ScalarKind.F32,
      multi: false,
      connectivity: params.connectivity,
      expansion_add: params.expansionAdd,
      expansion_search: params.expansionSearch,
    });
    if (n > 0) this.index.add(BigUint64Array.from({ length: n }, (_, i) => BigInt(i)), rows, 1);
  }

  get size(): number {
    return this.index.size();
  }

  /** The `k` items with the largest inner product with `vector` (approximately). */
  search(vector: Float32Array, k: number): Hits {
    if (vector.length !== this.dim) throw badInput(`ANN query has ${vector.length} dimensions; the index has ${this.dim}`);
    if (this.size === 0 || k <= 0) return { items: new Int32Array(0), scores: new Float32Array(0) };
    const m = this.index.search(vector, Math.min(k, this.size), 1);
    const items = Int32Array.from(m.keys, (key) => Number(key));
    // usearch's "ip" distance is 1 - dot.
    const scores = Float32Array.from(m.distances, (d) => 1 - d);
    return { items, scores };
  }
}
