import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type {
  DatasetInfo,
  EventRecord,
  EventType,
  ItemRecord,
  SidKind,
  SidRow,
  Store,
  StoreWriter,
  UserRecord,
} from './types.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS datasets (
  name TEXT PRIMARY KEY,
  source TEXT NOT NULL,
  imported_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS items (
  dataset TEXT NOT NULL REFERENCES datasets(name) ON DELETE CASCADE,
  id TEXT NOT NULL,
  title TEXT,
  brand TEXT,
  categories TEXT NOT NULL,
  price REAL,
  attributes TEXT NOT NULL,
  UNIQUE (dataset, id)
);
CREATE TABLE IF NOT EXISTS users (
  dataset TEXT NOT NULL REFERENCES datasets(name) ON DELETE CASCADE,
  id TEXT NOT NULL,
  profile TEXT NOT NULL,
  UNIQUE (dataset, id)
);
CREATE TABLE IF NOT EXISTS events (
  dataset TEXT NOT NULL REFERENCES datasets(name) ON DELETE CASCADE,
  key TEXT NOT NULL,
  user_id TEXT NOT NULL,
  item_id TEXT NOT NULL,
  type TEXT NOT NULL CHECK (type IN ('impression', 'click', 'cart', 'purchase')),
  query TEXT,
  ts REAL NOT NULL,
  session_id TEXT,
  UNIQUE (dataset, key)
);
CREATE INDEX IF NOT EXISTS events_by_user ON events (dataset, user_id, ts);
CREATE TABLE IF NOT EXISTS sids (
  dataset TEXT NOT NULL REFERENCES datasets(name) ON DELETE CASCADE,
  version TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('item', 'query')),
  key TEXT NOT NULL,
  codes TEXT NOT NULL,
  rank INTEGER NOT NULL,
  UNIQUE (dataset, version, kind, key)
);
`;

interface ItemRow {
  id: string;
  title: string | null;
  brand: string | null;
  categories: string;
  price: number | null;
  attributes: string;
}
interface EventRow {
  key: string;
  user_id: string;
  item_id: string;
  type: EventType;
  query: string | null;
  ts: number;
  session_id: string | null;
}

const itemFromRow = (r: ItemRow): ItemRecord => ({
  id: r.id,
  title: r.title,
  brand: r.brand,
  categories: JSON.parse(r.categories),
  price: r.price,
  attributes: JSON.parse(r.attributes),
});

const eventFromRow = (r: EventRow): EventRecord => ({
  key: r.key,
  userId: r.user_id,
  itemId: r.item_id,
  type: r.type,
  query: r.query,
  ts: r.ts,
  sessionId: r.session_id,
});

/** The embedded store: one SQLite file, WAL mode so a server can read while an import writes. */
export class SqliteStore implements Store {
  private readonly db: Database.Database;

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('foreign_keys = ON');
    this.db.exec(SCHEMA);
  }

  write<T>(fn: (tx: StoreWriter) => T): T {
    const db = this.db;
    const writer: StoreWriter = {
      ensureDataset(name, source) {
        db.prepare(
          `INSERT INTO datasets (name, source, imported_at) VALUES (?, ?, ?)
           ON CONFLICT(name) DO UPDATE SET source = excluded.source, imported_at = excluded.imported_at`,
        ).run(name, source, new Date().toISOString());
      },
      putItems(dataset, items) {
        const stmt = db.prepare(
          `INSERT INTO items (dataset, id, title, brand, categories, price, attributes)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT(dataset, id) DO UPDATE SET title = excluded.title, brand = excluded.brand,
             categories = excluded.categories, price = excluded.price, attributes = excluded.attributes`,
        );
        let n = 0;
        for (const it of items) {
          stmt.run(dataset, it.id, it.title, it.brand, JSON.stringify(it.categories), it.price, JSON.stringify(it.attributes));
          n++;
        }
        return n;
      },
      putUsers(dataset, users) {
        const stmt = db.prepare(
          `INSERT INTO users (dataset, id, profile) VALUES (?, ?, ?)
           ON CONFLICT(dataset, id) DO UPDATE SET profile = excluded.profile`,
        );
        let n = 0;
        for (const u of users) {
          stmt.run(dataset, u.id, JSON.stringify(u.profile));
          n++;
        }
        return n;
      },
      putEvents(dataset, events) {
        const stmt = db.prepare(
          `INSERT OR IGNORE INTO events (dataset, key, user_id, item_id, type, query, ts, session_id)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
        );
        let added = 0;
        for (const e of events) {
          added += stmt.run(dataset, e.key, e.userId, e.itemId, e.type, e.query, e.ts, e.sessionId).changes;
        }
        return added;
      },
      putSids(dataset, version, rows) {
        // Codes as space-separated integers: readable in the sqlite shell, parsed in one split.
        const stmt = db.prepare(
          `INSERT INTO sids (dataset, version, kind, key, codes, rank) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT(dataset, version, kind, key) DO UPDATE SET codes = excluded.codes, rank = excluded.rank`,
        );
        let n = 0;
        for (const r of rows) {
          stmt.run(dataset, version, r.kind, r.key, r.codes.join(' '), r.rank);
          n++;
        }
        return n;
      },
      dropSids(dataset, version) {
        db.prepare('DELETE FROM sids WHERE dataset = ? AND version = ?').run(dataset, version);
      },
      dropDataset(name) {
        db.prepare('DELETE FROM datasets WHERE name = ?').run(name);
      },
    };
    return db.transaction(() => fn(writer))();
  }

  listDatasets(): DatasetInfo[] {
    const names = this.db.prepare('SELECT name FROM datasets ORDER BY name').pluck().all() as string[];
    return names.map((n) => this.dataset(n)!);
  }

  dataset(name: string): DatasetInfo | undefined {
    const row = this.db.prepare('SELECT name, source, imported_at FROM datasets WHERE name = ?').get(name) as
      | { name: string; source: string; imported_at: string }
      | undefined;
    if (!row) return undefined;
    const count = (table: string) =>
      this.db.prepare(`SELECT COUNT(*) FROM ${table} WHERE dataset = ?`).pluck().get(name) as number;
    return {
      name: row.name,
      source: row.source,
      importedAt: row.imported_at,
      items: count('items'),
      users: count('users'),
      events: count('events'),
    };
  }

  getItem(dataset: string, itemId: string): ItemRecord | undefined {
    const row = this.db
      .prepare('SELECT id, title, brand, categories, price, attributes FROM items WHERE dataset = ? AND id = ?')
      .get(dataset, itemId) as ItemRow | undefined;
    return row && itemFromRow(row);
  }

  getUser(dataset: string, userId: string): UserRecord | undefined {
    const row = this.db.prepare('SELECT id, profile FROM users WHERE dataset = ? AND id = ?').get(dataset, userId) as
      | { id: string; profile: string }
      | undefined;
    return row && { id: row.id, profile: JSON.parse(row.profile) };
  }

  items(dataset: string): ItemRecord[] {
    const rows = this.db
      .prepare('SELECT id, title, brand, categories, price, attributes FROM items WHERE dataset = ? ORDER BY rowid')
      .all(dataset) as ItemRow[];
    return rows.map(itemFromRow);
  }

  users(dataset: string): UserRecord[] {
    const rows = this.db.prepare('SELECT id, profile FROM users WHERE dataset = ? ORDER BY rowid').all(dataset) as {
      id: string;
      profile: string;
    }[];
    return rows.map((r) => ({ id: r.id, profile: JSON.parse(r.profile) }));
  }

  events(dataset: string, filter: { types?: readonly EventType[]; userId?: string } = {}): EventRecord[] {
    const where = ['dataset = ?'];
    const args: unknown[] = [dataset];
    if (filter.types) {
      where.push(`type IN (${filter.types.map(() => '?').join(', ')})`);
      args.push(...filter.types);
    }
    if (filter.userId !== undefined) {
      where.push('user_id = ?');
      args.push(filter.userId);
    }
    const rows = this.db
      .prepare(
        `SELECT key, user_id, item_id, type, query, ts, session_id FROM events
         WHERE ${where.join(' AND ')} ORDER BY user_id, ts, rowid`,
      )
      .all(...args) as EventRow[];
    return rows.map(eventFromRow);
  }

  recentEvents(dataset: string, userId: string, limit: number): EventRecord[] {
    const rows = this.db
      .prepare(
        `SELECT key, user_id, item_id, type, query, ts, session_id FROM events
         WHERE dataset = ? AND user_id = ? ORDER BY ts DESC, rowid DESC LIMIT ?`,
      )
      .all(dataset, userId, limit) as EventRow[];
    return rows.map(eventFromRow);
  }

  sidVersions(dataset: string): string[] {
    return this.db.prepare('SELECT DISTINCT version FROM sids WHERE dataset = ? ORDER BY version').pluck().all(dataset) as string[];
  }

  sids(dataset: string, version: string, kind?: SidKind): SidRow[] {
    const rows = this.db
      .prepare(
        `SELECT kind, key, codes, rank FROM sids WHERE dataset = ? AND version = ?${kind ? ' AND kind = ?' : ''} ORDER BY rowid`,
      )
      .all(...(kind ? [dataset, version, kind] : [dataset, version])) as { kind: SidKind; key: string; codes: string; rank: number }[];
    return rows.map((r) => ({ kind: r.kind, key: r.key, codes: r.codes.split(' ').map(Number), rank: r.rank }));
  }

  close(): void {
    this.db.close();
  }
}
