import { BM25_DEFAULTS, type BM25Index, buildBM25, scoreBM25 } from '../baselines/bm25.js';
import { ItemCF } from '../baselines/itemcf.js';
import { type AlignedEmbeddings, type UserTower, userTowerVector } from '../cascade/embeddings.js';
import { CASCADE_DEFAULTS } from '../cascade/knobs.js';
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
  /** The items matching the query's words and their BM25 scores. */
  textMatch?: SparseScores;
  /** The query in the aligned embedding space (unit length), scored against `GenerateOptions.itemVectors`. */
  queryVector?: Float32Array;
  /** The history's user tower in that space (unit length; `userTowerVector`). */
  userVector?: Float32Array;
  /** The vectors of the history's last items in that space (rows, oldest first; as many as the user tower reads). */
  historyVectors?: Float32Array;
}

/**
 * Cosines become log-probabilities at the aligned encoder's own temperature (its InfoNCE
 * training default): weight 1 multiplies the head's softmax by the encoder's.
 */
export const COSINE_TEMPERATURE = 0.05;

/** The user tower of the head's priors: the cascade's. */
export const HEAD_USER_TOWER: UserTower = { history: CASCADE_DEFAULTS.userHistory, recency: CASCADE_DEFAULTS.userRecency };

/** What the priors are fitted from besides the training view; each is built when absent. */
export interface PriorSources {
  /** An ItemCF with default knobs already fitted on the same view (reused). */
  itemcf?: ItemCF;
  /** The aligned query/item embeddings (`gensearch embed`); without them, no query or user vector. */
  embeddings?: AlignedEmbeddings;
}

/**
 * The item head's priors, fitted on known behaviour and the catalog: ItemCF (default knobs)
 * for the co-purchase prior, BM25 (default knobs) for the text-match prior, and, given the
 * aligned embeddings, the query's vector and the history's user tower, whose cosines with each
 * item the head adds (`GenerateOptions.itemVectors`). A model's head multiplies them into its
 * softmax (`GenerateOptions.priors`).
 */
export class HeadPriors {
  private constructor(
    private readonly itemcf: ItemCF,
    private readonly bm25: BM25Index,
    /** The aligned embeddings, where given. */
    readonly embeddings?: AlignedEmbeddings,
  ) {}

  static fit(train: TrainData, sources: PriorSources = {}): HeadPriors {
    let itemcf = sources.itemcf;
    if (!itemcf) {
      itemcf = new ItemCF();
      itemcf.fit(train);
    }
    return new HeadPriors(itemcf, buildBM25(train.items, BM25_DEFAULTS), sources.embeddings);
  }

  of(history: ArrayLike<number>, query: string | null): PromptPriors {
    const n = this.bm25.nItems;
    const priors: PromptPriors = { coPurchase: sparse(n, (row) => this.itemcf.addHistoryScores(history, row)) };
    const text = query?.trim();
    if (text) priors.textMatch = sparse(n, (row) => scoreBM25(this.bm25, text, row));
    if (this.embeddings) {
      if (text) priors.queryVector = this.embeddings.encodeQueries([text]);
      const user = userTowerVector(this.embeddings, history, HEAD_USER_TOWER);
      if (user) priors.userVector = user;
      const { dim, items } = this.embeddings;
      const recent = Array.from(history).slice(-HEAD_USER_TOWER.history);
      if (recent.length > 0) {
        priors.historyVectors = new Float32Array(recent.length * dim);
        recent.forEach((item, t) => priors.historyVectors!.set(items.subarray(item * dim, (item + 1) * dim), t * dim));
      }
    }
    return priors;
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
