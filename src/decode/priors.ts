import { BM25_DEFAULTS, type BM25Index, buildBM25, scoreBM25 } from '../baselines/bm25.js';
import { ItemCF } from '../baselines/itemcf.js';
import type { TrainData } from '../eval/types.js';

/** Items with a score > 0, the rest left out (a sparse row). */
export interface SparseScores {
  items: Int32Array;
  scores: Float32Array;
}

/** What one request's history and query say about the items, beside the model (`GenerateOptions.priors`). */
export interface PromptPriors {
  /** The items bought together with the history and their ItemCF scores. */
  coPurchase?: SparseScores;
  /** The items matching the query and their BM25 scores. */
  textMatch?: SparseScores;
}

/**
 * The item head's priors, fitted on known behaviour and the catalog: ItemCF (default knobs)
 * for the co-purchase prior, BM25 (default knobs) for the text-match prior. A model's head
 * multiplies them into its softmax (`GenerateOptions.priors`).
 */
export class HeadPriors {
  private constructor(
    private readonly itemcf: ItemCF,
    private readonly bm25: BM25Index,
  ) {}

  /** Fits both on `train`; an ItemCF already fitted on it (with default knobs) is reused. */
  static fit(train: TrainData, fitted?: ItemCF): HeadPriors {
    let itemcf = fitted;
    if (!itemcf) {
      itemcf = new ItemCF();
      itemcf.fit(train);
    }
    return new HeadPriors(itemcf, buildBM25(train.items, BM25_DEFAULTS));
  }

  of(history: ArrayLike<number>, query: string | null): PromptPriors {
    const n = this.bm25.nItems;
    const coPurchase = sparse(n, (row) => this.itemcf.addHistoryScores(history, row));
    return query?.trim() ? { coPurchase, textMatch: sparse(n, (row) => scoreBM25(this.bm25, query, row)) } : { coPurchase };
  }
}

/** The items `fill` gives a score > 0 in a zeroed row of `n`. */
function sparse(n: number, fill: (row: Float32Array) => void): SparseScores {
  const row = new Float32Array(n);
  fill(row);
  let m = 0;
  for (const s of row) if (s > 0) m++;
  const items = new Int32Array(m);
  const scores = new Float32Array(m);
  m = 0;
  row.forEach((s, j) => {
    if (s > 0) {
      items[m] = j;
      scores[m++] = s;
    }
  });
  return { items, scores };
}
