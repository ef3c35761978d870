import { BM25_DEFAULTS, type BM25Index, buildBM25, scoreBM25 } from '../baselines/bm25.js';
import { ItemCF } from '../baselines/itemcf.js';
import { AnnIndex } from '../cascade/ann.js';
import type { AlignedEmbeddings } from '../cascade/embeddings.js';
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
  /** The items nearest the query in the aligned embedding space, scored exp(cosine / temperature). */
  semanticMatch?: SparseScores;
}

/** How many of the query's nearest items the semantic prior keeps (the cascade's ANN quota). */
export const SEMANTIC_NEIGHBOURS = 200;
/**
 * Softmax temperature over the query-item cosines: the aligned encoder's own (its InfoNCE
 * training default), so the prior is the encoder's distribution over its nearest items.
 */
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
 * aligned embeddings, their nearest items to the query for the semantic prior: BM25 lifts every
 * item that names the query's category alike, the embeddings tell them apart. A model's head
 * multiplies them into its softmax (`GenerateOptions.priors`).
 */
export class HeadPriors {
  private constructor(
    private readonly itemcf: ItemCF,
    private readonly bm25: BM25Index,
    private readonly semantic?: { embeddings: AlignedEmbeddings; index: AnnIndex },
  ) {}

  static fit(train: TrainData, sources: PriorSources = {}): HeadPriors {
    let itemcf = sources.itemcf;
    if (!itemcf) {
      itemcf = new ItemCF();
      itemcf.fit(train);
    }
    const { embeddings } = sources;
    const semantic = embeddings && { embeddings, index: new AnnIndex(embeddings.items, embeddings.dim) };
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
    const { embeddings, index } = this.semantic!;
    const hits = index.search(embeddings.encodeQueries([query]), SEMANTIC_NEIGHBOURS);
    // Shifted by the best cosine so that exp cannot overflow; the prior is normalised anyway.
    const best = hits.scores[0] ?? 0;
    return { items: hits.items, scores: hits.scores.map((s) => Math.exp((s - best) / SEMANTIC_TEMPERATURE)) };
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
