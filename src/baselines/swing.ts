import type { TrainData } from '../eval/types.js';
import { buildRows, type HistoryWeighting, ItemToItemScorer, occurrences, type SimilarityMatrix } from './similarity.js';

export interface SwingParams extends HistoryWeighting {
  /** The alpha of Swing: smooths 1 / (alpha + |I_u ∩ I_v|). */
  smoothing: number;
  /** User weight (|I_u| + 5)^-userPower, so heavy users count less (0 = off). */
  userPower: number;
  /** Keep only the strongest `neighbors` per item; 0 keeps all. */
  neighbors: number;
}

/**
 * Tuned on Beauty validation, rec protocol, NDCG@10 with history excluded (valid 0.0559):
 * `gensearch tune --dataset beauty --protocol rec --system swing`; see docs/RESULTS.md.
 */
export const SWING_DEFAULTS: SwingParams = { recency: 0.3, maxHistory: 0, smoothing: 1, userPower: 0.7, neighbors: 0 };

/**
 * Swing (Yang et al., "Large Scale Product Graph Construction for Recommendation in
 * E-commerce", 2020): two items are close when pairs of users who both bought them share few
 * other items, sim(i, j) = sum over user pairs {u, v} who bought both of
 * w_u * w_v / (alpha + |I_u ∩ I_v|). Order-blind, unlike ItemCF.
 */
export class Swing extends ItemToItemScorer<SwingParams> {
  constructor(params: Partial<SwingParams> = {}, name = 'swing') {
    super(name, { ...SWING_DEFAULTS, ...params });
  }

  protected buildSimilarity(train: TrainData): SimilarityMatrix {
    return swingSimilarity(train, this.settings);
  }
}

export function swingSimilarity(train: TrainData, p: SwingParams): SimilarityMatrix {
  const seqs = train.sequences;
  const occ = occurrences(train);
  const userWeight = Float64Array.from(seqs, (s) => (s.length + 5) ** -p.userPower);
  // Stamp of the items of user u (u + 1), so |I_u ∩ I_v| is one pass over I_v.
  const mark = new Int32Array(train.nItems);
  const common = new Int32Array(occ.longest);
  return buildRows(
    train.nItems,
    p.neighbors,
    (i, add) => {
      const from = occ.start[i];
      const to = occ.start[i + 1];
      for (let a = from; a < to; a++) {
        const u = occ.user[a];
        for (const item of seqs[u]) mark[item] = u + 1;
        for (let b = a + 1; b < to; b++) {
          const v = occ.user[b];
          if (v === u) continue;
          let size = 0;
          for (const item of seqs[v]) if (mark[item] === u + 1) common[size++] = item;
          const w = (userWeight[u] * userWeight[v]) / (p.smoothing + size);
          for (let c = 0; c < size; c++) if (common[c] !== i) add(common[c], w);
        }
      }
    },
    (_i, _j, sum) => sum,
  );
}
