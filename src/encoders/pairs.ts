import { cooccurrence, ITEMCF_DEFAULTS } from '../baselines/itemcf.js';
import { itemCounts } from '../baselines/popular.js';
import { SWING_DEFAULTS, swingSimilarity } from '../baselines/swing.js';
import { badInput } from '../errors.js';
import type { Rng } from '../eval/random.js';
import type { TrainData } from '../eval/types.js';

/** The three pair types of KHQE's aligned-embedding training. */
export type LossType = 'q2i' | 'i2i' | 'q2q';
export const LOSS_TYPES: readonly LossType[] = ['q2i', 'i2i', 'q2q'];

/**
 * What the encoder learns from: the training view of a split (`TrainData`: sequences without
 * the held-out items, the catalog and each item's HEM query). Where the logs carry real search
 * queries, `queries` (parallel to `sequences`) gives the query of each interaction; null or
 * absent entries fall back to the item's HEM query.
 */
export type EncoderTrainData = TrainData & {
  queries?: readonly (readonly (string | null)[])[];
};

/**
 * All texts that pairs refer to, numbered: items 0..nItems-1 first, then distinct queries.
 * Pairs hold text numbers, so a step encodes each distinct text once.
 */
export interface PairSource {
  texts: string[];
  nItems: number;
  /** Log of how often each text is drawn as a positive, for the sampled-softmax correction. */
  logFrequency: Float32Array;
  /**
   * Draws up to `n` pairs of `type` as [a0, b0, a1, b1, ...] text numbers (q2q may return
   * fewer when the data has few pairs of distinct queries).
   */
  sample(type: LossType, n: number, rng: Rng): Int32Array;
  /** Whether `type` has any pair to draw on this data. */
  has(type: LossType): boolean;
}

/** A sparse item x item similarity in compressed rows (as the ItemCF / Swing baselines build it). */
export type ItemSimilarity = ReturnType<typeof cooccurrence>;

/** Where i2i pairs come from: an item-to-item similarity learned on the training view. */
export type SimilarityBuilder = (train: TrainData) => ItemSimilarity;

/** Strongest neighbours per item kept for i2i pairs: the tail of a row is mostly noise. */
const I2I_NEIGHBOURS = 20;

/** i2i sources by name, each the tuned baseline's similarity: ItemCF (default) or Swing. */
export const I2I_SOURCES = {
  itemcf: (train) => cooccurrence(train, itemCounts(train), { ...ITEMCF_DEFAULTS, neighbors: I2I_NEIGHBOURS }),
  swing: (train) => swingSimilarity(train, { ...SWING_DEFAULTS, neighbors: I2I_NEIGHBOURS }),
} satisfies Record<string, SimilarityBuilder>;
export type I2ISource = keyof typeof I2I_SOURCES;
export const I2I_SOURCE_NAMES = Object.keys(I2I_SOURCES) as I2ISource[];

/**
 * Builds the pair source: q2i from every training interaction (its query -> its item), i2i
 * from the top neighbours of `similarity` (anchor drawn like an interaction, neighbour in
 * proportion to similarity), q2q from queries of one item or of similar items (identical
 * texts skipped).
 */
export function buildPairSource(
  data: EncoderTrainData,
  itemTexts: readonly string[],
  similarity: SimilarityBuilder = I2I_SOURCES.itemcf,
): PairSource {
  const nItems = data.items.length;
  if (nItems === 0) throw badInput('the catalog is empty: import items before training the encoder');
  if (itemTexts.length !== nItems) throw badInput(`expected ${nItems} item texts, got ${itemTexts.length}`);
  const texts = [...itemTexts];
  const queryId = new Map<string, number>();
  const textOf = (q: string): number => {
    let id = queryId.get(q);
    if (id === undefined) {
      id = texts.length;
      queryId.set(q, id);
      texts.push(q);
    }
    return id;
  };
  // q2i: one (query, item) per training interaction.
  const q2iQuery: number[] = [];
  const q2iItem: number[] = [];
  // Distinct queries per item (for q2q), in first-seen order.
  const itemQueries: number[][] = Array.from({ length: nItems }, () => []);
  data.sequences.forEach((seq, u) => {
    seq.forEach((item, t) => {
      if (!(item >= 0 && item < nItems)) throw badInput(`user ${u} has item index ${item}; expected 0..${nItems - 1}`);
      const q = data.queries?.[u]?.[t] ?? data.itemQueries[item];
      if (!q) return;
      const id = textOf(q);
      q2iQuery.push(id);
      q2iItem.push(item);
      if (!itemQueries[item].includes(id)) itemQueries[item].push(id);
    });
  });
  const freq = new Float64Array(texts.length);
  for (let i = 0; i < q2iQuery.length; i++) {
    freq[q2iQuery[i]]++;
    freq[q2iItem[i]]++;
  }
  const total = freq.reduce((a, b) => a + b, 0) || 1;
  // Texts never drawn as positives get the smallest frequency, not log 0.
  const logFrequency = Float32Array.from(freq, (f) => Math.log(Math.max(f, 0.5) / total));

  const sim = similarity(data);
  const draw = neighbourDraw(sim);
  const anchors = q2iItem.filter((i) => sim.rowStart[i + 1] > sim.rowStart[i]);
  const neighbour = (item: number, rng: Rng): number => draw(item, rng.next());
  const pick = (list: readonly number[], rng: Rng): number => list[rng.int(list.length)];
  // Items with a query that co-occur, or carry two queries, can make q2q pairs.
  const q2qAnchors = anchors.filter((i) => itemQueries[i].length > 0);
  const hasQ2q = q2qAnchors.length > 0 && queryId.size > 1;

  return {
    texts,
    nItems,
    logFrequency,
    has(type) {
      if (type === 'q2i') return q2iQuery.length > 0;
      if (type === 'i2i') return anchors.length > 0;
      return hasQ2q;
    },
    sample(type, n, rng) {
      const out = new Int32Array(2 * n);
      let kept = 0;
      for (let p = 0; p < n; p++) {
        let a: number;
        let b: number;
        if (type === 'q2i') {
          const i = rng.int(q2iQuery.length);
          a = q2iQuery[i];
          b = q2iItem[i];
        } else if (type === 'i2i') {
          a = pick(anchors, rng);
          b = neighbour(a, rng);
        } else {
          // A few tries for two different query texts; co-purchases often share a category.
          a = b = -1;
          for (let tries = 0; tries < 32 && a === b; tries++) {
            const i = pick(q2qAnchors, rng);
            const j = rng.next() < 0.5 && itemQueries[i].length > 1 ? i : neighbour(i, rng);
            if (itemQueries[j].length === 0) continue;
            a = pick(itemQueries[i], rng);
            b = pick(itemQueries[j], rng);
          }
        }
        if (a === b) continue;
        out[2 * kept] = a;
        out[2 * kept + 1] = b;
        kept++;
      }
      return out.subarray(0, 2 * kept);
    },
  };
}

/**
 * Draws a neighbour of an item in proportion to its similarity: `u` uniform in [0, 1) picks
 * the neighbour. -1 for an item with no neighbour.
 */
export function neighbourDraw(sim: ItemSimilarity): (item: number, u: number) => number {
  const cumulative = new Float64Array(sim.vals.length);
  for (let i = 0; i + 1 < sim.rowStart.length; i++) {
    let s = 0;
    for (let e = sim.rowStart[i]; e < sim.rowStart[i + 1]; e++) cumulative[e] = s += sim.vals[e];
  }
  return (item, u) => {
    const from = sim.rowStart[item];
    const to = sim.rowStart[item + 1];
    if (to <= from) return -1;
    const x = u * cumulative[to - 1];
    let lo = from;
    let hi = to - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] > x) hi = mid;
      else lo = mid + 1;
    }
    return sim.cols[lo];
  };
}
