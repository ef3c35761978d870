import type { PerCaseMetrics } from './metrics.js';
import type { EvalCase, TrainData } from './types.js';

/**
 * Lower bounds of the popularity buckets: how often a case's target was bought in the training
 * view (0-4, 5-9, 10-19, 20-49, 50 and more). Leave-one-out lists lean on popular items; these
 * show how a system does on the long tail.
 */
export const POPULARITY_BOUNDS: readonly number[] = [0, 5, 10, 20, 50];

/** One bucket's cases and their mean metrics. */
export interface PopularityBucket {
  /** "0-4", ..., "50+". */
  label: string;
  cases: number;
  /** Means over the bucket's cases (0 when it has none), keyed as `RunRecord.metrics`. */
  metrics: Record<string, number>;
}

/** Per item: its purchases (events) in the training view's sequences. */
export function trainingCounts(train: TrainData): Int32Array {
  const counts = new Int32Array(train.nItems);
  for (const seq of train.sequences) for (const item of seq) counts[item]++;
  return counts;
}

function bucketLabel(b: number): string {
  const next = POPULARITY_BOUNDS[b + 1];
  return next === undefined ? `${POPULARITY_BOUNDS[b]}+` : `${POPULARITY_BOUNDS[b]}-${next - 1}`;
}

/** The bucket of each case, by its first target's training count. */
export function caseBuckets(cases: readonly EvalCase[], counts: Int32Array): Uint8Array {
  return Uint8Array.from(cases, (c) => {
    const n = counts[c.targets[0]];
    let b = 0;
    while (b + 1 < POPULARITY_BOUNDS.length && n >= POPULARITY_BOUNDS[b + 1]) b++;
    return b;
  });
}

/** Mean metrics per popularity bucket, every bucket listed (empty ones with 0 cases). */
export function popularityBreakdown(buckets: Uint8Array, perCase: PerCaseMetrics): PopularityBucket[] {
  return POPULARITY_BOUNDS.map((_, b) => {
    let cases = 0;
    for (const x of buckets) if (x === b) cases++;
    const metrics: Record<string, number> = {};
    for (const [key, values] of perCase) {
      let sum = 0;
      values.forEach((v, i) => {
        if (buckets[i] === b) sum += v;
      });
      metrics[key] = cases > 0 ? sum / cases : 0;
    }
    return { label: bucketLabel(b), cases, metrics };
  });
}
