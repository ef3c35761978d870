/**
 * The generic import format for a shop's own data (documented in README.md, "Data import"):
 * items as JSONL or CSV, events as JSONL, optional users as JSONL.
 */
import { createHash } from 'node:crypto';
import { extname, resolve } from 'node:path';
import { CsvError, parse as parseCsv } from 'csv-parse/sync';
import { z } from 'zod';
import { badInput, badRow } from '../errors.js';
import { EVENT_TYPES, type EventRecord, type ItemRecord, type Store, type UserRecord } from '../store/types.js';
import {
  cleanText,
  forEachJsonLine,
  type ImportOptions,
  type ImportResult,
  idSchema,
  parseCategoryPaths,
  readText,
  type Scalar,
  scalarSchema,
  toId,
  toScalar,
  validate,
  writeImport,
} from './common.js';

export interface GenericFiles {
  /** Items as JSON Lines (.jsonl, .ndjson, .json) or CSV (.csv). */
  items?: string;
  /** Events as JSON Lines. */
  events?: string;
  /** User profiles as JSON Lines. */
  users?: string;
}

const ITEM_FIELDS = ['id', 'title', 'brand', 'categories', 'price'] as const;

const scalarRecord = z.record(z.string(), scalarSchema);

const jsonItem = z
  .object({
    id: idSchema,
    title: z.string().nullable().optional(),
    brand: z.string().nullable().optional(),
    categories: z
      .union([z.string(), z.array(z.union([z.string(), z.array(z.string())]))], {
        error: 'expected "A > B > C" or a list of paths such as [["A", "B", "C"]] or ["A > B", "D > E"]',
      })
      .nullable()
      .optional(),
    price: z.number().nullable().optional(),
    attributes: scalarRecord.optional(),
  })
  .catchall(scalarSchema);

/** CSV cells are text; an empty cell is "no value". */
const csvItem = z
  .object({
    id: z.string().trim().min(1, 'expected a non-empty id'),
    price: z
      .string()
      .trim()
      .regex(/^$|^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/, 'expected a number such as 12.5, or an empty cell')
      .optional(),
  })
  .catchall(z.string());

const ISO_TIME = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

const TIME_EXPECTED = 'expected epoch milliseconds or an ISO 8601 time such as "2024-05-01T12:30:00Z"';

const jsonEvent = z.strictObject(
  {
    userId: idSchema,
    itemId: idSchema,
    type: z.enum(EVENT_TYPES),
    query: z.string().nullable().optional(),
    ts: z
      .union([z.number(), z.string()], { error: TIME_EXPECTED })
      .refine((v) => typeof v === 'number' || (ISO_TIME.test(v) && !Number.isNaN(Date.parse(v))), { error: TIME_EXPECTED })
      .optional(),
    sessionId: idSchema.nullable().optional(),
    eventId: idSchema.optional(),
  },
  { error: 'unknown field; an event has userId, itemId, type, query, ts, sessionId and eventId' },
);

const jsonUser = z.object({ id: idSchema, profile: scalarRecord.optional() }).catchall(scalarSchema);

const mapScalars = (values: Record<string, string | number | boolean | null>): Record<string, Scalar> =>
  Object.fromEntries(Object.entries(values).map(([k, v]) => [k, toScalar(v)]));

/** Tracks first lines of ids so a repeat names both places. */
function uniqueIds(file: string, what: string): (id: string, line: number) => void {
  const seen = new Map<string, number>();
  return (id, line) => {
    const first = seen.get(id);
    if (first !== undefined) throw badRow(file, line, `${what} "${id}" already appears on line ${first}; ids must be unique`);
    seen.set(id, line);
  };
}

function readJsonItems(path: string): ItemRecord[] {
  const items: ItemRecord[] = [];
  const unique = uniqueIds(path, 'item id');
  forEachJsonLine(path, 'items', jsonItem, (row, line) => {
    const { id, title, brand, categories, price, attributes, ...rest } = row;
    unique(toId(id), line);
    const paths =
      typeof categories === 'string'
        ? parseCategoryPaths(categories)
        : (categories ?? []).flatMap((p) => (typeof p === 'string' ? parseCategoryPaths(p) : [p]));
    items.push({
      id: toId(id),
      title: cleanText(title),
      brand: cleanText(brand),
      categories: paths,
      price: price ?? null,
      attributes: mapScalars({ ...attributes, ...rest }),
    });
  });
  return items;
}

/**
 * Every CSV row as header -> cell, with the line it starts on (a quoted cell may span lines).
 * Lines are counted from byte offsets here: csv-parse counts a quoted CRLF as two lines.
 */
function readCsvRows(path: string, what: string): { row: Record<string, string>; line: number }[] {
  const buf = Buffer.from(readText(path, what));
  const starts = [0];
  for (let i = 0; i < buf.length; i++) if (buf[i] === 10) starts.push(i + 1);
  const blank = (line: number) => buf.subarray(starts[line - 1], starts[line] ?? buf.length).toString().trim() === '';
  /** The first non-blank line at or after a byte offset: where the next record begins. */
  const lineAt = (offset: number): number => {
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (starts[mid] <= offset) lo = mid;
      else hi = mid - 1;
    }
    let line = lo + 1;
    while (line < starts.length && blank(line)) line++;
    return line;
  };
  let end = 0;
  const lines: number[] = [];
  let records: string[][];
  try {
    records = parseCsv(buf, {
      skip_empty_lines: true,
      on_record: (cells, context) => {
        lines.push(lineAt(end));
        end = context.bytes;
        return cells;
      },
    });
  } catch (error) {
    if (error instanceof CsvError) {
      const reason = error.message
        .replace(/^Invalid Record Length: expect (\d+), got (\d+).*$/, 'the row has $2 cells where the header has $1')
        .replace(/ (at|on) line \d+/, '');
      throw badRow(path, lineAt(end), `${reason}; quote cells that hold commas, quotes or line breaks ("a, b")`);
    }
    throw error;
  }
  if (records.length === 0) return [];
  const header = records[0].map((h) => h.trim());
  const repeated = header.find((h, i) => header.indexOf(h) !== i);
  if (!header.includes('id') || repeated !== undefined) {
    const problem = repeated !== undefined ? `names "${repeated}" twice` : 'needs an "id" column';
    throw badRow(path, lines[0], `the header ${problem}; it has ${header.map((h) => `"${h}"`).join(', ')}`);
  }
  return records.slice(1).map((cells, i) => ({ row: Object.fromEntries(header.map((h, j) => [h, cells[j]])), line: lines[i + 1] }));
}

function readCsvItems(path: string): ItemRecord[] {
  const rows = readCsvRows(path, 'items');
  const unique = uniqueIds(path, 'item id');
  return rows.map(({ row, line }) => {
    const valid = validate(csvItem, row, path, line);
    unique(valid.id, line);
    const attributes: Record<string, Scalar> = {};
    for (const [k, v] of Object.entries(row)) {
      if (!(ITEM_FIELDS as readonly string[]).includes(k)) attributes[k] = v === '' ? null : v;
    }
    return {
      id: valid.id,
      title: cleanText(row.title),
      brand: cleanText(row.brand),
      categories: parseCategoryPaths(row.categories ?? ''),
      price: valid.price ? Number(valid.price) : null,
      attributes,
    };
  });
}

export function readGenericItems(path: string): ItemRecord[] {
  return extname(path).toLowerCase() === '.csv' ? readCsvItems(path) : readJsonItems(path);
}

export function readGenericUsers(path: string): UserRecord[] {
  const users: UserRecord[] = [];
  const unique = uniqueIds(path, 'user id');
  forEachJsonLine(path, 'users', jsonUser, (row, line) => {
    const { id, profile, ...rest } = row;
    unique(toId(id), line);
    users.push({ id: toId(id), profile: mapScalars({ ...profile, ...rest }) });
  });
  return users;
}

/** The stable key of an event without eventId: its content, and how often that content came before. */
function contentKey(fields: readonly unknown[], seen: Map<string, number>): string {
  const canonical = JSON.stringify(fields);
  const occurrence = seen.get(canonical) ?? 0;
  seen.set(canonical, occurrence + 1);
  return 'sha1:' + createHash('sha1').update(JSON.stringify([...fields, occurrence])).digest('hex');
}

interface EventContext {
  /** Whether an item id is in this import or already stored. */
  knownItem(id: string): boolean;
  /** The largest ts stored for the user (0 when none): rows without ts come after it. */
  lastTs(userId: string): number;
}

export function readGenericEvents(path: string, context: EventContext): { events: EventRecord[]; warnings: string[] } {
  const events: EventRecord[] = [];
  const seen = new Map<string, number>();
  const uniqueEventId = uniqueIds(path, 'eventId');
  const base = new Map<string, number>();
  let timed: { has: boolean; line: number } | undefined;
  let smallest = Number.POSITIVE_INFINITY;
  forEachJsonLine(path, 'events', jsonEvent, (row, line) => {
    const userId = toId(row.userId);
    const itemId = toId(row.itemId);
    if (!context.knownItem(itemId)) {
      throw badRow(path, line, `item "${itemId}" is not in the catalog; import its item first (--items)`);
    }
    // Mixing rows with and without ts would interleave times with line numbers.
    const has = row.ts !== undefined;
    timed ??= { has, line };
    if (timed.has !== has) {
      throw badRow(
        path,
        line,
        `ts is ${has ? 'given' : 'missing'} here but ${timed.has ? 'given' : 'missing'} on line ${timed.line}; give every row a ts or none`,
      );
    }
    const given = row.ts === undefined ? null : typeof row.ts === 'number' ? row.ts : Date.parse(row.ts);
    if (given !== null) smallest = Math.min(smallest, given);
    let ts = given;
    if (ts === null) {
      if (!base.has(userId)) base.set(userId, context.lastTs(userId));
      ts = base.get(userId)! + line;
    }
    const query = cleanText(row.query);
    const sessionId = row.sessionId === undefined || row.sessionId === null ? null : toId(row.sessionId);
    let key: string;
    if (row.eventId !== undefined) {
      key = toId(row.eventId);
      uniqueEventId(key, line);
    } else {
      key = contentKey([userId, itemId, row.type, query, sessionId, given], seen);
    }
    events.push({ userId, itemId, type: row.type, query, ts, sessionId, key });
  });
  const warnings: string[] = [];
  // Epoch seconds instead of milliseconds is the usual slip: 1.7e9 s reads as January 1970.
  if (timed?.has && smallest > 1e8 && events.every((e) => e.ts < 1e11)) {
    warnings.push(`${path}: every ts is below 1e11, like epoch seconds; gensearch reads numbers as epoch milliseconds`);
  }
  return { events, warnings };
}

/**
 * Imports a shop's own files into dataset `generic` (or `options.dataset`). Events may name items
 * stored by an earlier import; rows already stored are skipped, so a grown log can be re-imported.
 */
export function importGeneric(store: Store, files: GenericFiles, options: ImportOptions = {}): ImportResult {
  if (!files.items && !files.events && !files.users) throw badInput('nothing to import: give an items, events or users file');
  const dataset = options.dataset ?? 'generic';
  const existing = !options.replace && store.dataset(dataset) !== undefined;
  const items = files.items ? readGenericItems(files.items) : [];
  const users = files.users ? readGenericUsers(files.users) : [];
  const known = new Set(items.map((it) => it.id));
  const knownItem = (id: string): boolean => {
    if (!known.has(id) && existing && store.getItem(dataset, id)) known.add(id);
    return known.has(id);
  };
  const lastTs = (userId: string): number => (existing ? (store.recentEvents(dataset, userId, 1)[0]?.ts ?? 0) : 0);
  const { events, warnings } = files.events
    ? readGenericEvents(files.events, { knownItem, lastTs })
    : { events: [], warnings: [] };
  const profiled = new Set(users.map((u) => u.id));
  const source = Object.entries(files)
    .filter(([, path]) => path)
    .map(([kind, path]) => `${kind}=${resolve(path)}`)
    .join(',');
  return writeImport(store, dataset, options.replace ?? false, {
    source: `generic:${source}`,
    items,
    users,
    events,
    implicitUsers: [...new Set(events.map((e) => e.userId))].filter((id) => !profiled.has(id)),
    warnings,
  });
}
