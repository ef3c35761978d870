/** Synthetic datasets for the evaluation and baseline tests, with known right answers. */
import { rng } from '../src/eval/random.js';
import type { Interactions } from '../src/store/interactions.js';
import type { ItemRecord } from '../src/store/types.js';

export const CATEGORIES = ['Nail Polish', 'Shampoos', 'Lipstick', 'Mascara', 'Body Lotions'];

export function syntheticItem(i: number): ItemRecord {
  const category = CATEGORIES[i % CATEGORIES.length];
  return {
    id: String(i + 1),
    title: `${category} number ${i + 1}`,
    brand: i % 2 ? 'Acme' : null,
    categories: [['Beauty', 'Section', category]],
    price: null,
    attributes: {},
  };
}

/** Dense interactions straight from item-index sequences (no store needed). */
export function interactionsFrom(sequences: number[][], nItems: number, dataset = 'synthetic'): Interactions {
  const items = Array.from({ length: nItems }, (_, i) => syntheticItem(i));
  return {
    dataset,
    items,
    itemIndex: new Map(items.map((it, i) => [it.id, i])),
    userIds: sequences.map((_, u) => `u${u}`),
    sequences: sequences.map((s) => Int32Array.from(s)),
    queries: sequences.map((s) => s.map(() => null)),
    types: sequences.map((s) => s.map(() => 'purchase' as const)),
  };
}

/**
 * Users walk a planted chain: after item i comes item (i + 1) mod nItems with probability
 * `follow`, else a random item; no repeats within a user. Co-occurrence methods recover the
 * chain, popularity cannot. Item 0 is made popular by starting a third of the walks there.
 */
export function plantedChain(options: { users?: number; nItems?: number; follow?: number; seed?: number } = {}): Interactions {
  const { users = 400, nItems = 60, follow = 0.8, seed = 7 } = options;
  const r = rng(seed);
  const sequences: number[][] = [];
  for (let u = 0; u < users; u++) {
    const length = 5 + r.int(4);
    const seq = [u % 3 === 0 ? 0 : r.int(nItems)];
    while (seq.length < length) {
      let next = r.next() < follow ? (seq[seq.length - 1] + 1) % nItems : r.int(nItems);
      while (seq.includes(next)) next = r.int(nItems);
      seq.push(next);
    }
    sequences.push(seq);
  }
  return interactionsFrom(sequences, nItems);
}
