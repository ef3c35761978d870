import { GensearchError, notFound } from '../errors.js';
import type { EventType, ItemRecord, Store } from './types.js';

/**
 * A dataset in the dense form that training and evaluation work on: items and users numbered
 * 0..n-1, each user's behaviour as a chronological array of item indices.
 */
export interface Interactions {
  dataset: string;
  /** Dense item index -> record, in catalog order. */
  items: ItemRecord[];
  itemIndex: Map<string, number>;
  /** Dense user index -> external user id. Users without events are left out. */
  userIds: string[];
  /** Per user: item indices of the chosen event types, oldest first. */
  sequences: Int32Array[];
  /** Per user, parallel to `sequences`: the query of each event (null when not from search). */
  queries: (string | null)[][];
  /** Per user, parallel to `sequences`: event types. */
  types: EventType[][];
}

/** The event types that count as a user's positive behaviour by default. */
export const POSITIVE_TYPES: readonly EventType[] = ['click', 'cart', 'purchase'];

export function loadInteractions(
  store: Store,
  dataset: string,
  options: { types?: readonly EventType[] } = {},
): Interactions {
  if (!store.dataset(dataset)) {
    const known = store.listDatasets().map((d) => d.name);
    throw notFound(`dataset "${dataset}"`, known.length ? `known: ${known.join(', ')}` : 'import one first');
  }
  const items = store.items(dataset);
  const itemIndex = new Map(items.map((it, i) => [it.id, i]));
  const byUser = new Map<string, { seq: number[]; queries: (string | null)[]; types: EventType[] }>();
  for (const u of store.users(dataset)) byUser.set(u.id, { seq: [], queries: [], types: [] });
  for (const e of store.events(dataset, { types: options.types ?? POSITIVE_TYPES })) {
    const idx = itemIndex.get(e.itemId);
    if (idx === undefined) {
      throw new GensearchError('CONFLICT', `event ${e.key} names item "${e.itemId}" that is not in the catalog`);
    }
    let u = byUser.get(e.userId);
    if (!u) {
      u = { seq: [], queries: [], types: [] };
      byUser.set(e.userId, u);
    }
    u.seq.push(idx);
    u.queries.push(e.query);
    u.types.push(e.type);
  }
  const userIds: string[] = [];
  const sequences: Int32Array[] = [];
  const queries: (string | null)[][] = [];
  const types: EventType[][] = [];
  for (const [id, u] of byUser) {
    if (u.seq.length === 0) continue;
    userIds.push(id);
    sequences.push(Int32Array.from(u.seq));
    queries.push(u.queries);
    types.push(u.types);
  }
  return { dataset, items, itemIndex, userIds, sequences, queries, types };
}
