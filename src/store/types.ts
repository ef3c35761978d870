/** Records as every stage sees them, independent of the database behind the store. */

export const EVENT_TYPES = ['impression', 'click', 'cart', 'purchase'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface ItemRecord {
  /** The catalog's own item id (kept as text: catalogs use numbers, SKUs, UUIDs). */
  id: string;
  title: string | null;
  brand: string | null;
  /** Category paths, each coarse to fine, e.g. [["Beauty", "Makeup", "Nails"]]. */
  categories: string[][];
  price: number | null;
  /** Further typed attributes: seller, colour, material, sales rank, image paths, ... */
  attributes: Record<string, string | number | null>;
}

export interface UserRecord {
  id: string;
  profile: Record<string, string | number | null>;
}

export interface EventRecord {
  userId: string;
  itemId: string;
  type: EventType;
  /** The search query that led to the event; null for browsing/recommendation traffic. */
  query: string | null;
  /** Milliseconds since epoch, or an ordinal where the source only gives order. */
  ts: number;
  sessionId: string | null;
  /** Idempotency key: importing an event whose key exists is a no-op. */
  key: string;
}

export interface DatasetInfo {
  name: string;
  /** Where it came from, e.g. `amazon-beauty:/path/to/folder`. */
  source: string;
  importedAt: string;
  items: number;
  users: number;
  events: number;
}

export const SID_KINDS = ['item', 'query'] as const;
export type SidKind = (typeof SID_KINDS)[number];

/** One row of a semantic-ID table: the SID of an item (or a query) under one named build. */
export interface SidRow {
  kind: SidKind;
  /** The item id, or the query text. */
  key: string;
  /** Per-position codes (RQ levels, then OPQ sub-codes), before token offsets. */
  codes: number[];
  /** Rank among rows of the same kind sharing these codes (0 = first in catalog order). */
  rank: number;
}

/** Counts of what an import added or changed. */
export interface ImportCounts {
  items: number;
  users: number;
  events: number;
  /** Events skipped because their key was already stored (re-imports). */
  duplicateEvents: number;
}

/**
 * The storage interface. SQLite implements it today; a server database can implement it later
 * without any stage changing. Writes happen inside `write`, which is one transaction.
 */
export interface Store {
  /** Runs `fn` in one transaction: everything it wrote is kept, or nothing is if it throws. */
  write<T>(fn: (tx: StoreWriter) => T): T;
  listDatasets(): DatasetInfo[];
  dataset(name: string): DatasetInfo | undefined;
  getItem(dataset: string, itemId: string): ItemRecord | undefined;
  getUser(dataset: string, userId: string): UserRecord | undefined;
  /** All items, ordered by insertion (the catalog's order). */
  items(dataset: string): ItemRecord[];
  users(dataset: string): UserRecord[];
  /** Events ordered by user (insertion order), then time, then insertion. */
  events(dataset: string, filter?: { types?: readonly EventType[]; userId?: string }): EventRecord[];
  /** The user's most recent events, newest first. */
  recentEvents(dataset: string, userId: string, limit: number): EventRecord[];
  /** Names of the SID builds stored for a dataset. */
  sidVersions(dataset: string): string[];
  /** SID rows of one build, in insertion order (items in catalog order). */
  sids(dataset: string, version: string, kind?: SidKind): SidRow[];
  close(): void;
}

export interface StoreWriter {
  /** Creates the dataset or updates its source; counts are refreshed on commit. */
  ensureDataset(name: string, source: string): void;
  /** Inserts or replaces items by id. */
  putItems(dataset: string, items: Iterable<ItemRecord>): number;
  putUsers(dataset: string, users: Iterable<UserRecord>): number;
  /** Inserts events whose key is new; returns how many were new. */
  putEvents(dataset: string, events: Iterable<EventRecord>): number;
  /** Inserts or replaces SID rows by (kind, key) under a build name. */
  putSids(dataset: string, version: string, rows: Iterable<SidRow>): number;
  /** Deletes one SID build (before a rebuild under the same name). */
  dropSids(dataset: string, version: string): void;
  /** Deletes the dataset and everything in it. */
  dropDataset(name: string): void;
}
