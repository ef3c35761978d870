import type { HostBatch } from './objective.js';
import type { Rng } from './rng.js';

/** Training examples the trainer can shuffle, batch and hand to an objective. */
export interface ExampleSource {
  size: number;
  /** Cost of an example (e.g. its sequence length): batches group similar lengths to cut padding. */
  length?(index: number): number;
  /** Host arrays for a batch of example indices. */
  collate(indices: Int32Array): HostBatch;
}

/** Batches sorted by length are built from windows of this many batches. */
const BUCKET_WINDOW = 50;

/**
 * One epoch's batches: a seeded permutation of 0..n-1 cut into batches. With lengths, each
 * window of 50 batches is sorted by length before cutting ("sortish" bucketing: little padding,
 * still random), and the batch order is shuffled again so long batches do not come in runs.
 */
export function epochBatches(n: number, batchSize: number, rng: Rng, length?: (i: number) => number): Int32Array[] {
  const order = rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
  if (length) {
    const window = batchSize * BUCKET_WINDOW;
    for (let from = 0; from < n; from += window) {
      const part = order.subarray(from, Math.min(n, from + window));
      const lens = new Map<number, number>();
      for (const i of part) lens.set(i, length(i));
      part.sort((a, b) => lens.get(a)! - lens.get(b)! || a - b);
    }
  }
  const batches: Int32Array[] = [];
  for (let from = 0; from < n; from += batchSize) batches.push(order.slice(from, Math.min(n, from + batchSize)));
  return length ? rng.shuffle(batches) : batches;
}

/** Deals a batch into `parts` shards round-robin, so length-sorted batches split evenly. */
export function shardBatch(indices: Int32Array, parts: number): Int32Array[] {
  const shards: Int32Array[] = [];
  for (let p = 0; p < parts; p++) {
    const n = Math.ceil((indices.length - p) / parts);
    const shard = new Int32Array(Math.max(0, n));
    for (let i = 0; i < shard.length; i++) shard[i] = indices[p + i * parts];
    shards.push(shard);
  }
  return shards.filter((s) => s.length > 0);
}
