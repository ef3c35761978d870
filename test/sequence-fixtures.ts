import type { EvalCase, TrainData } from '../src/eval/types.js';
import { Rng } from '../src/tensor/rng.js';

/**
 * Sequences with a planted rule: every item has one fixed successor (a seeded random
 * permutation), so the next item is fully determined by the current one. A sequence model
 * that learns reaches recall near 1; chance is k / nItems.
 */
export function plantedSequences(nUsers: number, nItems: number, seed = 7, minLen = 4, maxLen = 10): { sequences: Int32Array[]; successor: Int32Array } {
  const rng = new Rng(seed);
  const successor = rng.shuffle(Int32Array.from({ length: nItems }, (_, i) => i));
  const sequences: Int32Array[] = [];
  for (let u = 0; u < nUsers; u++) {
    const n = minLen + rng.int(maxLen - minLen + 1);
    const s = new Int32Array(n);
    s[0] = rng.int(nItems);
    for (let t = 1; t < n; t++) s[t] = successor[s[t - 1]];
    sequences.push(s);
  }
  return { sequences, successor };
}

/** Leave-one-out over planted sequences: train on all but the last item, the last is the target. */
export function plantedEvalData(nUsers: number, nItems: number, seed = 7): { train: TrainData; cases: EvalCase[] } {
  const { sequences } = plantedSequences(nUsers, nItems, seed);
  const train: TrainData = {
    dataset: 'planted',
    protocol: 'rec',
    split: 'valid',
    items: Array.from({ length: nItems }, (_, i) => ({ id: String(i), title: null, brand: null, categories: [], price: null, attributes: {} })),
    nItems,
    sequences: sequences.map((s) => s.subarray(0, s.length - 1)),
    itemQueries: Array.from({ length: nItems }, () => ''),
  };
  const cases = sequences.map((s, user) => ({ user, history: s.subarray(0, s.length - 1), query: null, targets: s.subarray(s.length - 1) }));
  return { train, cases };
}
