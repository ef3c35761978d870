import { BM25_DEFAULTS, type BM25Index, buildBM25, scoreBM25 } from '../baselines/bm25.js';
import { ItemCF } from '../baselines/itemcf.js';
import type { AlignedEmbeddings } from '../cascade/embeddings.js';
import { trainingCounts } from '../eval/popularity.js';
import { TopKSelector } from '../eval/topk.js';
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
  /** The items the aligned embeddings match to the query beyond their popularity (`HeadPriors`). */
  semanticMatch?: SparseScores;
}

/** How many items the semantic prior keeps (the cascade's ANN quota). */
export const SEMANTIC_NEIGHBOURS = 200;
/** Softmax temperature over the query-item cosines: the aligned encoder's own (its InfoNCE training default). */
export const SEMANTIC_TEMPERATURE = 0.05;

/** What the priors are fitted from besides the training view; each is built when absent. */
export interface PriorSources {
  /** An ItemCF with default knobs already fitted on the same view (reused). */
  itemcf?: ItemCF;
  /** The aligned query/item embeddings (`gensearch embed`); without them, no semantic prior. */
  embeddings?: AlignedEmbeddings;
}

/**
 * The item head's priors, fitted on known behaviour and the catalog: ItemCF (default knobs)
 * for the co-purchase prior, BM25 (default knobs) for the text-match prior, and, given the
 * aligned embeddings, a semantic prior: the encoder's softmax over the catalog (cosine /
 * temperature) divided by each item's 1 + purchases, i.e. how much more the query points to the
 * item than its popularity does (pointwise mutual information), over its best
 * SEMANTIC_NEIGHBOURS items. The encoder was trained on purchases, so its raw nearest items are
 * the popular ones the head already ranks high; what it adds is the rarely bought item that
 * fits the query. A model's head multiplies the priors into its softmax (`GenerateOptions.priors`).
 */
export class HeadPriors {
  private readonly selector = new TopKSelector();

  private constructor(
    private readonly itemcf: ItemCF,
    private readonly bm25: BM25Index,
    private readonly semantic?: { embeddings: AlignedEmbeddings; logCounts: Float32Array },
  ) {}

  static fit(train: TrainData, sources: PriorSources = {}): HeadPriors {
    let itemcf = sources.itemcf;
    if (!itemcf) {
      itemcf = new ItemCF();
      itemcf.fit(train);
    }
    const { embeddings } = sources;
    const semantic = embeddings && { embeddings, logCounts: Float32Array.from(trainingCounts(train), (c) => Math.log1p(c)) };
    return new HeadPriors(itemcf, buildBM25(train.items, BM25_DEFAULTS), semantic);
  }

  /** Whether a query gets a semantic prior (the embeddings were given). */
  get hasSemantic(): boolean {
    return this.semantic !== undefined;
  }

  of(history: ArrayLike<number>, query: string | null): PromptPriors {
    const n = this.bm25.nItems;
    const coPurchase = sparse(n, (row) => this.itemcf.addHistoryScores(history, row));
    const text = query?.trim();
    if (!text) return { coPurchase };
    const textMatch = sparse(n, (row) => scoreBM25(this.bm25, text, row));
    return this.semantic ? { coPurchase, textMatch, semanticMatch: this.nearest(text) } : { coPurchase, textMatch };
  }

  private nearest(query: string): SparseScores {
    const { embeddings, logCounts } = this.semantic!;
    const { dim, items: rows } = embeddings;
    const vector = embeddings.encodeQueries([query]);
    // Exact over the catalog: the head scores every item anyway, and an ANN's nearest by
    // cosine alone would miss the rare items this prior is for.
    const logits = new Float32Array(logCounts.length);
    for (let j = 0; j < logits.length; j++) {
      let dot = 0;
      for (let d = 0, at = j * dim; d < dim; d++, at++) dot += rows[at] * vector[d];
      logits[j] = dot / SEMANTIC_TEMPERATURE - logCounts[j];
    }
    const items = new Int32Array(Math.min(SEMANTIC_NEIGHBOURS, logits.length));
    const scores = new Float32Array(items.length);
    const m = this.selector.select(logits, items.length, items, scores);
    // Shifted by the best logit so that exp cannot overflow; the prior is normalised anyway.
    return { items: items.subarray(0, m), scores: scores.subarray(0, m).map((s) => Math.exp(s - scores[0])) };
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
