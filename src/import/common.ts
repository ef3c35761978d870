/**
 * What every importer shares: reading line files with file:line errors, zod validation reported
 * in words, and the one-transaction write that makes an import all-or-nothing and idempotent.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { decodeHTML } from 'entities';
import { z } from 'zod';
import { badRow, notFound } from '../errors.js';
import { type Progress, progress } from '../progress.js';
import type { EventRecord, ImportCounts, ItemRecord, Store, UserRecord } from '../store/types.js';

export interface ImportOptions {
  /** Dataset name in the store; each importer has its own default. */
  dataset?: string;
  /** Drop the dataset first, inside the same transaction as the import. */
  replace?: boolean;
}

/** What an import did: counts plus anything the user should know that did not stop it. */
export interface ImportResult extends ImportCounts {
  dataset: string;
  /** Items created only because events name them (see the KuaiSearch importer). */
  placeholderItems: number;
  warnings: string[];
}

/** Files with more lines than this get a progress bar while they are read and written. */
const PROGRESS_FROM = 20_000;

/** A file's text without BOM, or NOT_FOUND naming the file and what it should hold. */
export function readText(path: string, what: string): string {
  if (!existsSync(path) || !statSync(path).isFile()) throw notFound(`${what} file ${path}`, 'check the path');
  const text = readFileSync(path, 'utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/**
 * Calls `fn(text, lineNumber)` for every non-blank line (1-based numbers, so errors point at what
 * an editor shows). Blank lines are skipped: a trailing newline or a spacer line is not a row.
 */
export function forEachLine(path: string, what: string, fn: (text: string, line: number) => void): void {
  const lines = readText(path, what).split(/\r?\n/);
  const bar = lines.length >= PROGRESS_FROM ? progress(`reading ${what}`, lines.length, 'lines') : undefined;
  for (let i = 0; i < lines.length; i++) {
    if (bar && i % 1000 === 999) bar.tick(1000);
    if (lines[i].trim() === '') continue;
    fn(lines[i], i + 1);
  }
  finish(bar, lines.length);
}

/** Parses and validates one JSON Lines file; every row error names file:line and the field. */
export function forEachJsonLine<T>(
  path: string,
  what: string,
  schema: z.ZodType<T>,
  fn: (row: T, line: number, text: string) => void,
): void {
  forEachLine(path, what, (text, line) => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (error) {
      throw badRow(path, line, `not valid JSON (${(error as Error).message}); each line must be one JSON object`);
    }
    fn(validate(schema, value, path, line), line, text);
  });
}

/** Validates one row with zod, turning the first problems into a file:line error in words. */
export function validate<T>(schema: z.ZodType<T>, value: unknown, file: string, line: number): T {
  const result = schema.safeParse(value, { reportInput: true });
  if (result.success) return result.data;
  throw badRow(file, line, describeIssues(result.error.issues));
}

/** `field "price": expected number, got "12,50"`: what was expected, where, what arrived. */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  return issues
    .slice(0, 3)
    .map((issue) => {
      const where = issue.path.length ? `field "${issue.path.join('.')}"` : 'row';
      const message = issue.message.replace(/^Invalid input: /, '');
      if (issue.code === 'unrecognized_keys') return `${where}: ${message} (got ${issue.keys.map((k) => `"${k}"`).join(', ')})`;
      if (!('input' in issue)) return `${where}: ${message}`;
      if (issue.input === undefined) return `${where} is missing (${message.replace(/, received undefined$/, '')})`;
      return `${where}: ${message.replace(/, received \w+$/, '')}; got ${preview(issue.input)}`;
    })
    .join('; ');
}

function preview(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** Ids arrive as strings or integers; the store keeps them as text. */
export const idSchema = z.union([z.string().trim().min(1), z.number().int()], {
  error: 'expected a non-empty string or an integer id',
});
export const toId = (id: string | number): string => String(id);

/** Attribute and profile values: scalars only; booleans become "true"/"false". */
export const scalarSchema = z.union([z.string(), z.number(), z.boolean(), z.null()], {
  error: 'expected a string, number, boolean or null (flatten nested values or JSON-encode them as a string)',
});
export type Scalar = string | number | null;
export const toScalar = (v: string | number | boolean | null): Scalar => (typeof v === 'boolean' ? String(v) : v);

/**
 * Display text as search sees it: HTML entities decoded where the source kept them, line breaks
 * folded to one space, trimmed; empty becomes null.
 */
export function cleanText(text: string | null | undefined, options: { html?: boolean } = {}): string | null {
  if (text === null || text === undefined) return null;
  const decoded = options.html ? decodeHTML(text) : text;
  const cleaned = decoded.replace(/\s*[\r\n]+\s*/g, ' ').trim();
  return cleaned === '' ? null : cleaned;
}

/** Parses category paths written as "A > B > C", several separated by "|". */
export function parseCategoryPaths(text: string): string[][] {
  return text
    .split('|')
    .map((path) =>
      path
        .split('>')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    )
    .filter((path) => path.length > 0);
}

/** `attributes.placeholder` of an item that events name but the catalog lacks. */
export const PLACEHOLDER = 'not in catalog';

export function placeholderItem(id: string): ItemRecord {
  return { id, title: null, brand: null, categories: [], price: null, attributes: { placeholder: PLACEHOLDER } };
}

/** Everything an importer parsed; nothing reaches the store until all of it is valid. */
export interface ImportData {
  source: string;
  items: ItemRecord[];
  users: UserRecord[];
  events: EventRecord[];
  /** Written unless the dataset holds a real record of the item (a stub never replaces one). */
  placeholderItems?: ItemRecord[];
  /** Users that events name without a profile: stored with `{}` unless the dataset has a profile for them. */
  implicitUsers?: string[];
  warnings?: string[];
}

/** Yields the values and moves a progress bar when there are many. */
function* withProgress<T>(label: string, values: readonly T[]): Generator<T> {
  const bar = values.length >= PROGRESS_FROM ? progress(label, values.length) : undefined;
  for (let i = 0; i < values.length; i++) {
    yield values[i];
    if (bar && i % 1000 === 999) bar.tick(1000);
  }
  finish(bar, values.length);
}

/** Ticks what the every-1000 steps left over, so the last line reads n/n. */
function finish(bar: Progress | undefined, total: number): void {
  bar?.tick(total % 1000);
  bar?.stop();
}

/**
 * Writes a parsed import in one transaction (drop first with `replace`). Items and users are
 * upserted and events are keyed, so writing the same data twice changes nothing.
 */
export function writeImport(store: Store, dataset: string, replace: boolean, data: ImportData): ImportResult {
  return store.write((tx) => {
    if (replace) tx.dropDataset(dataset);
    tx.ensureDataset(dataset, data.source);
    // Reads inside `write` see this transaction's own writes (one connection), so the drop counts.
    const stubs = (data.placeholderItems ?? []).filter((it) => {
      const stored = store.getItem(dataset, it.id);
      return !stored || stored.attributes.placeholder === PLACEHOLDER;
    });
    const items = tx.putItems(dataset, withProgress('writing items', [...data.items, ...stubs]));
    const bare = (data.implicitUsers ?? [])
      .filter((id) => Object.keys(store.getUser(dataset, id)?.profile ?? {}).length === 0)
      .map((id) => ({ id, profile: {} }));
    const users = tx.putUsers(dataset, withProgress('writing users', [...data.users, ...bare]));
    const events = tx.putEvents(dataset, withProgress('writing events', data.events));
    return {
      dataset,
      items,
      users,
      events,
      duplicateEvents: data.events.length - events,
      placeholderItems: stubs.length,
      warnings: data.warnings ?? [],
    };
  });
}
