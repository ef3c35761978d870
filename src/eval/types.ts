import type { ItemRecord } from '../store/types.js';

/** Which task a case poses: next-item recommendation (no query) or personalised search. */
export type Protocol = 'rec' | 'search';
/** Which held-out item is the target: the second-last ('valid') or the last ('test'). */
export type Split = 'valid' | 'test';

export const PROTOCOLS: readonly Protocol[] = ['rec', 'search'];
export const SPLITS: readonly Split[] = ['valid', 'test'];

/** One ranking request with its answer key. */
export interface EvalCase {
  /** Dense user index into `TrainData.sequences` / `Interactions.userIds`. */
  user: number;
  /** What the system may see: the user's items before the target, oldest first. */
  history: Int32Array;
  /** The search query (HEM protocol), or null for recommendation. */
  query: string | null;
  /** The held-out items a perfect system ranks first (one item in leave-one-out). */
  targets: Int32Array;
}

/**
 * What a system may learn from for one split: every user's sequence with the held-out items
 * removed (all but the last two, for both splits), plus the catalog.
 */
export interface TrainData {
  dataset: string;
  protocol: Protocol;
  split: Split;
  items: ItemRecord[];
  nItems: number;
  /** Per dense user index: the training prefix, oldest first (may be empty). */
  sequences: Int32Array[];
  /** The HEM query of every item: the text a search case with that item as target carries. */
  itemQueries: string[];
}

/** A ranked list: best first, `items.length === scores.length`, no repeated item. */
export interface RankedList {
  items: Int32Array;
  scores: Float32Array;
}

interface SystemBase {
  readonly name: string;
  /** Protocols the system can serve; absent means all. */
  readonly protocols?: readonly Protocol[];
  /** Learns from the training view; called once before any ranking for that split. */
  fit(train: TrainData): Promise<void> | void;
  /** Knob values, recorded in reports. */
  params?(): Record<string, unknown>;
  /** Cases per call (default 256 for dense scorers, 64 for rankers). */
  readonly batchSize?: number;
}

/**
 * A system that scores every item: fill `out` (cases.length x nItems, row-major, zeroed by
 * the harness) with higher-is-better scores. The harness masks and selects the top K.
 */
export interface DenseScorer extends SystemBase {
  scoreBatch(cases: readonly EvalCase[], out: Float32Array): Promise<void> | void;
}

/**
 * A system that produces its own top list (e.g. beam search). It must return, per case, at
 * least `k` items when it can; `k` already includes room for the history items the harness
 * drops in the exclude-history variant (max K + that case batch's longest history).
 */
export interface TopKRanker extends SystemBase {
  /**
   * True when the system can leave each case's history out while it ranks: the harness then
   * asks for the exclude-history variant separately (`excludeHistory` = true, `k` = max K)
   * instead of dropping history items from the one list, so no list depth is spent on them.
   */
  readonly excludesHistory?: boolean;
  rankBatch(cases: readonly EvalCase[], k: number, excludeHistory?: boolean): Promise<RankedList[]> | RankedList[];
}

export type RankingSystem = DenseScorer | TopKRanker;

export function isDenseScorer(system: RankingSystem): system is DenseScorer {
  return typeof (system as DenseScorer).scoreBatch === 'function';
}
