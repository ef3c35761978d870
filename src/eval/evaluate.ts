import { badInput, GensearchError } from '../errors.js';
import { progress } from '../progress.js';
import { type CaseRanks, DEFAULT_KS, meanMetrics, type PerCaseMetrics, perCaseMetrics } from './metrics.js';
import { type EvalCase, isDenseScorer, type RankedList, type RankingSystem } from './types.js';

/** Which history variants to compute: the harness ranks once and derives both. */
export type HistoryMode = 'both' | 'yes' | 'no';

export function historyVariants(mode: HistoryMode): boolean[] {
  if (mode === 'both') return [false, true];
  if (mode === 'yes') return [true];
  if (mode === 'no') return [false];
  throw badInput(`--exclude-history expects both, yes or no; got "${mode}"`);
}

export const historyLabel = (excludeHistory: boolean): string =>
  excludeHistory ? "user's history items excluded from the ranking" : "user's history items kept in the ranking";

export interface EvaluateOptions {
  nItems: number;
  ks?: readonly number[];
  excludeHistory?: HistoryMode;
  /** Cases per call to the system; default the system's own, else 256 (dense) / 64 (ranker). */
  batchSize?: number;
  /** Label of the progress bar. */
  label?: string;
}

/** One system's results on one case set, for one history variant. */
export interface VariantResult {
  excludeHistory: boolean;
  ranks: CaseRanks;
  perCase: PerCaseMetrics;
  means: Record<string, number>;
}

export interface SystemEvaluation {
  system: string;
  rankSeconds: number;
  variants: VariantResult[];
}

/**
 * Ranks every case with `system` (already fitted) and scores the result. Dense scorers fill a
 * batch x nItems matrix; the harness needs no list from it, only each target's exact rank:
 * 1 + the items that beat it (higher score, or equal score at a lower index, the order
 * `TopKSelector` uses), one O(nItems) pass per target, cheaper than any top-K selection.
 * Rankers return lists of max K + history length items. Both history variants come from the
 * same scores or list: excluding the history removes the history items that beat the target.
 */
export async function evaluateSystem(
  system: RankingSystem,
  cases: readonly EvalCase[],
  options: EvaluateOptions,
): Promise<SystemEvaluation> {
  const { nItems } = options;
  const ks = options.ks ?? DEFAULT_KS;
  const maxK = Math.max(...ks);
  const variants = historyVariants(options.excludeHistory ?? 'both');
  const needsExclude = variants.includes(true);
  const dense = isDenseScorer(system);
  const batchSize = options.batchSize ?? system.batchSize ?? (dense ? 256 : 64);
  const collector = new RankCollector(cases, nItems, maxK, variants);
  const scores = dense ? new Float32Array(Math.min(batchSize, cases.length) * nItems) : new Float32Array(0);
  const bar = progress(options.label ?? `eval ${system.name}`, cases.length, 'cases');
  const start = performance.now();
  for (let from = 0; from < cases.length; from += batchSize) {
    const batch = cases.slice(from, from + batchSize);
    if (dense) {
      const out = scores.subarray(0, batch.length * nItems);
      out.fill(0);
      await system.scoreBatch(batch, out);
      for (let b = 0; b < batch.length; b++) {
        const row = out.subarray(b * nItems, (b + 1) * nItems);
        if (!collector.addScores(from + b, row)) throw nanRow(system.name, batch[b], row);
      }
    } else if (system.excludesHistory && needsExclude) {
      for (let v = 0; v < variants.length; v++) {
        const lists = checkLists(system.name, await system.rankBatch(batch, Math.min(nItems, maxK), variants[v]), batch.length);
        for (let b = 0; b < batch.length; b++) collector.addList(from + b, checkList(system.name, lists[b], nItems), v);
      }
    } else {
      let longest = 0;
      if (needsExclude) for (const c of batch) longest = Math.max(longest, c.history.length);
      const lists = checkLists(system.name, await system.rankBatch(batch, Math.min(nItems, maxK + longest)), batch.length);
      for (let b = 0; b < batch.length; b++) collector.addList(from + b, checkList(system.name, lists[b], nItems));
    }
    bar.tick(batch.length);
  }
  bar.stop();
  const rankSeconds = (performance.now() - start) / 1000;
  return {
    system: system.name,
    rankSeconds,
    variants: variants.map((excludeHistory, v) => {
      const ranks = collector.ranks[v];
      const perCase = perCaseMetrics(ranks, ks);
      return { excludeHistory, ranks, perCase, means: meanMetrics(perCase) };
    }),
  };
}

/** Validates a ranker's list (in range, no repeats) so a buggy system cannot inflate metrics. */
function checkLists(name: string, lists: unknown, cases: number): RankedList[] {
  if (!Array.isArray(lists) || lists.length !== cases) {
    throw new GensearchError(
      'INTERNAL',
      `system "${name}" returned ${Array.isArray(lists) ? lists.length : typeof lists} lists for ${cases} cases; rankBatch must return one list per case`,
    );
  }
  return lists as RankedList[];
}

function checkList(name: string, list: RankedList, nItems: number): Int32Array {
  const items = list?.items;
  if (!(items instanceof Int32Array)) {
    throw new GensearchError('INTERNAL', `system "${name}" returned a list without an Int32Array of items`);
  }
  const seen = new Set<number>();
  for (const it of items) {
    if (!(it >= 0 && it < nItems)) {
      throw new GensearchError('INTERNAL', `system "${name}" ranked item index ${it}; expected 0..${nItems - 1}`);
    }
    if (seen.has(it)) throw new GensearchError('INTERNAL', `system "${name}" ranked item index ${it} twice in one list`);
    seen.add(it);
  }
  return items;
}

/**
 * Items that beat `target` (a higher score, or an equal one at a lower index), or -1 if the
 * row holds NaN. Branch-free counting: a data-dependent branch mispredicts about half the
 * time on real scores and costs 3-4x.
 */
export function countBeating(row: Float32Array, target: number): number {
  const st = row[target];
  if (Number.isNaN(st)) return -1;
  let better = 0;
  for (let j = 0; j < target; j++) {
    const v = row[j];
    better += +(v >= st);
    if (Number.isNaN(v)) return -1;
  }
  for (let j = target + 1; j < row.length; j++) {
    const v = row[j];
    better += +(v > st);
    if (Number.isNaN(v)) return -1;
  }
  return better;
}

function nanRow(name: string, c: EvalCase, row: Float32Array): GensearchError {
  return new GensearchError(
    'INTERNAL',
    `system "${name}" scored item index ${row.findIndex((v) => Number.isNaN(v))} as NaN for user ${c.user}; scores must be numbers (-Infinity for "never")`,
  );
}

/**
 * Target ranks per variant. From lists: positions, cut at max K (0 = not in the list). From
 * dense scores: exact ranks over all items (0 = the target scored -Infinity).
 */
class RankCollector {
  readonly ranks: CaseRanks[];
  private readonly historyStamp: Int32Array;
  private readonly targetStamp: Int32Array;

  constructor(
    private readonly cases: readonly EvalCase[],
    nItems: number,
    private readonly maxK: number,
    private readonly variants: boolean[],
  ) {
    const offsets = new Int32Array(cases.length + 1);
    for (let c = 0; c < cases.length; c++) {
      const t = cases[c].targets;
      for (const item of t) {
        if (!(item >= 0 && item < nItems)) throw badInput(`case ${c} (user ${cases[c].user}) has target ${item}; expected 0..${nItems - 1}`);
      }
      offsets[c + 1] = offsets[c] + t.length;
    }
    this.ranks = variants.map(() => ({ offsets, ranks: new Int32Array(offsets[cases.length]) }));
    // Stamps hold (case index + 1) so no clearing is needed between cases.
    this.historyStamp = new Int32Array(nItems);
    this.targetStamp = new Int32Array(nItems);
  }

  /** Records the exact rank of each target; false if the row holds NaN. */
  addScores(c: number, row: Float32Array): boolean {
    const { history, targets } = this.cases[c];
    const stamp = c + 1;
    for (const item of history) this.historyStamp[item] = stamp;
    for (let t = 0; t < targets.length; t++) {
      const target = targets[t];
      const better = countBeating(row, target);
      if (better < 0) return false;
      const st = row[target];
      if (st === Number.NEGATIVE_INFINITY) continue; // not a candidate: rank 0 everywhere
      for (let v = 0; v < this.variants.length; v++) {
        const { offsets, ranks } = this.ranks[v];
        let rank = better + 1;
        if (this.variants[v]) {
          if (this.historyStamp[target] === stamp) rank = 0; // excluded items cannot be found
          else rank -= this.historyBeating(history, stamp, row, target, st);
        }
        ranks[offsets[c] + t] = rank;
      }
    }
    return true;
  }

  /** Distinct history items that outrank the target. */
  private historyBeating(history: Int32Array, stamp: number, row: Float32Array, target: number, st: number): number {
    let n = 0;
    for (const h of history) {
      if (this.historyStamp[h] !== stamp) continue; // counted already (repeated item)
      this.historyStamp[h] = -stamp;
      if (row[h] > st || (row[h] === st && h < target)) n++;
    }
    for (const h of history) this.historyStamp[h] = stamp;
    return n;
  }

  /** Ranks from a list, for every variant or only variant `only`. */
  addList(c: number, list: Int32Array, only?: number): void {
    const { history, targets } = this.cases[c];
    const stamp = c + 1;
    for (const item of history) this.historyStamp[item] = stamp;
    for (const item of targets) this.targetStamp[item] = stamp;
    for (let v = 0; v < this.variants.length; v++) {
      if (only !== undefined && v !== only) continue;
      const exclude = this.variants[v];
      const { offsets, ranks } = this.ranks[v];
      let position = 0;
      for (let i = 0; i < list.length && position < this.maxK; i++) {
        const item = list[i];
        if (exclude && this.historyStamp[item] === stamp) continue;
        position++;
        if (this.targetStamp[item] === stamp) ranks[offsets[c] + targets.indexOf(item)] = position;
      }
    }
  }
}
