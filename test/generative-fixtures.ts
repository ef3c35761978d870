import type { Interactions } from '../src/store/interactions.js';
import type { ItemRecord } from '../src/store/types.js';
import type { DenseSids } from '../src/tasks/train.js';
import { plantedSequences } from './sequence-fixtures.js';

const COLOURS = ['red', 'blue', 'green', 'black', 'white', 'pink', 'gold', 'silver'];
const KINDS = ['lipstick', 'mascara', 'shampoo', 'perfume'];

/**
 * A small shop with a planted next-item rule (see `plantedSequences`): item i is a
 * "<colour> <kind> <i>" in category Beauty > <kind>, so its HEM query is "beauty <kind>". SIDs:
 * level 1 = the kind, level 2 = the colour, level 3 = a distinct code, so every SID is unique
 * and its prefix means something, as a real build's would.
 */
export function plantedShop(nUsers: number, nItems: number, seed = 7): { inter: Interactions; sids: DenseSids } {
  const { sequences } = plantedSequences(nUsers, nItems, seed, 5, 9);
  const items: ItemRecord[] = Array.from({ length: nItems }, (_, i) => ({
    id: `item${i}`,
    title: `${COLOURS[i % COLOURS.length]} ${KINDS[i % KINDS.length]} number ${i}`,
    brand: null,
    categories: [['Beauty', KINDS[i % KINDS.length]]],
    price: null,
    attributes: {},
  }));
  const inter: Interactions = {
    dataset: 'planted',
    items,
    itemIndex: new Map(items.map((it, i) => [it.id, i])),
    userIds: sequences.map((_, u) => `u${u}`),
    sequences,
    queries: sequences.map((s) => Array.from(s, () => null)),
    types: sequences.map((s) => Array.from(s, () => 'purchase' as const)),
  };
  const layout = { levels: [KINDS.length, COLOURS.length], opq: { k: Math.ceil(nItems / 8), subspaces: 1 } };
  const itemTokens = new Int32Array(nItems * 3);
  for (let i = 0; i < nItems; i++) {
    itemTokens.set([i % KINDS.length, KINDS.length + (i % COLOURS.length), KINDS.length + COLOURS.length + Math.floor(i / 8)], i * 3);
  }
  const queries = new Map(KINDS.map((k, j) => [`beauty ${k}`, Int32Array.of(j, KINDS.length, KINDS.length + COLOURS.length)]));
  return { inter, sids: { build: 'planted', layout, itemTokens, queries } };
}
