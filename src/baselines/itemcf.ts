import type { TrainData } from '../eval/types.js';
import { buildRows, type HistoryWeighting, ItemToItemScorer, occurrences, type SimilarityMatrix } from './similarity.js';

export interface ItemCFParams extends HistoryWeighting {
  /** A pair d positions apart in a user's sequence weighs distanceDecay^(d-1) (1 = no decay). */
  distanceDecay: number;
  /** Weight of a pair where the candidate came before the history item (forward pairs: 1). */
  backward: number;
  /** sim(i, j) = C(i, j) / (n_i^alpha * n_j^(1-alpha)); 0.5 is cosine, 1 is P(j | i). */
  alpha: number;
  /** 1: each user's pairs weigh 1/log2(1 + sequence length), so heavy users count less; 0: 1. */
  iuf: number;
  /** Keep only the strongest `neighbors` per item; 0 keeps all. */
  neighbors: number;
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

/**
 * Item-to-item co-occurrence ("ItemCF") with recency weighting of the history. Co-occurrence
 * is directional (a later item counts fully, an earlier one by `backward`) and decays with
 * the distance between the two purchases.
 */
export class ItemCF extends ItemToItemScorer<ItemCFParams> {
  constructor(params: Partial<ItemCFParams> = {}, name = 'itemcf') {
    super(name, { ...ITEMCF_DEFAULTS, ...params });
  }

  protected buildSimilarity(train: TrainData, counts: Float32Array): SimilarityMatrix {
    return cooccurrence(train, counts, this.settings);
  }
}

/** The normalised co-occurrence matrix. */
export function cooccurrence(train: TrainData, counts: Float32Array, p: ItemCFParams): SimilarityMatrix {
  const seqs = train.sequences;
  const occ = occurrences(train);
  const decay = new Float64Array(occ.longest + 1);
  for (let d = 1; d <= occ.longest; d++) decay[d] = p.distanceDecay ** (d - 1);
  return buildRows(
    train.nItems,
    p.neighbors,
    (i, add) => {
      for (let o = occ.start[i]; o < occ.start[i + 1]; o++) {
        const seq = seqs[occ.user[o]];
        const pos = occ.position[o];
        const wu = p.iuf ? 1 / Math.log2(1 + seq.length) : 1;
        for (let q = 0; q < seq.length; q++) {
          const j = seq[q];
          if (q === pos || j === i) continue;
          add(j, wu * (q > pos ? decay[q - pos] : p.backward * decay[pos - q]));
        }
      }
    },
    (i, j, sum) => sum / (counts[i] ** p.alpha * counts[j] ** (1 - p.alpha)),
  );
}
