/**
 * Amazon Beauty in the S3Rec format (items.jsonl + sequences.txt, see
 * ../shared/data/amazon-beauty/README.md): the benchmark of TIGER and its successors.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import { badRow } from '../errors.js';
import type { EventRecord, ItemRecord, Store } from '../store/types.js';
import { cleanText, forEachJsonLine, forEachLine, type ImportOptions, type ImportResult, writeImport } from './common.js';

const itemRow = z.object({
  item_id: z.number().int().positive(),
  title: z.string().nullable(),
  brand: z.string().nullable(),
  categories: z.array(z.array(z.string())),
  price: z.number().nullable(),
  sales_rank: z.number().nullable(),
  sales_type: z.string().nullable(),
});

export interface S3RecItem {
  record: ItemRecord;
  /** The line as it is in the file, for tools that rewrite the data set (scripts/make-demo-data). */
  raw: string;
}

export interface S3RecSequence {
  userId: string;
  /** Item ids oldest first (the source has order, not time). */
  itemIds: string[];
}

export interface S3RecData {
  itemsPath: string;
  sequencesPath: string;
  items: S3RecItem[];
  sequences: S3RecSequence[];
}

const POSITIVE_INT = /^[1-9][0-9]*$/;

/** Reads and validates both files; throws `badRow` on the first malformed row. */
export function readS3Rec(dir: string): S3RecData {
  const itemsPath = join(dir, 'items.jsonl');
  const sequencesPath = join(dir, 'sequences.txt');
  const items: S3RecItem[] = [];
  const itemLine = new Map<string, number>();
  forEachJsonLine(itemsPath, 'S3Rec items (items.jsonl)', itemRow, (row, line, raw) => {
    const id = String(row.item_id);
    const first = itemLine.get(id);
    if (first !== undefined) throw badRow(itemsPath, line, `item_id ${id} is already defined on line ${first}; ids must be unique`);
    itemLine.set(id, line);
    items.push({
      raw,
      record: {
        id,
        title: cleanText(row.title, { html: true }),
        brand: cleanText(row.brand, { html: true }),
        categories: row.categories,
        price: row.price,
        attributes: { sales_rank: row.sales_rank, sales_type: row.sales_type },
      },
    });
  });
  const sequences: S3RecSequence[] = [];
  const userLine = new Map<string, number>();
  forEachLine(sequencesPath, 'S3Rec sequences (sequences.txt)', (text, line) => {
    const tokens = text.trim().split(/\s+/);
    const bad = tokens.find((t) => !POSITIVE_INT.test(t));
    if (bad !== undefined) {
      throw badRow(sequencesPath, line, `"${bad}" is not a positive integer id; a line is "user_id item_id item_id ..."`);
    }
    const [userId, ...itemIds] = tokens;
    if (itemIds.length === 0) throw badRow(sequencesPath, line, `user ${userId} has no items; a line is "user_id item_id ..."`);
    const first = userLine.get(userId);
    if (first !== undefined) throw badRow(sequencesPath, line, `user ${userId} already has a sequence on line ${first}`);
    userLine.set(userId, line);
    const unknown = itemIds.find((id) => !itemLine.has(id));
    if (unknown !== undefined) throw badRow(sequencesPath, line, `item ${unknown} is not in items.jsonl`);
    sequences.push({ userId, itemIds });
  });
  return { itemsPath, sequencesPath, items, sequences };
}

/** Each position of a sequence is a purchase (a review stands for one), ts = its position. */
export function s3recEvents(sequences: readonly S3RecSequence[]): EventRecord[] {
  const events: EventRecord[] = [];
  for (const { userId, itemIds } of sequences) {
    itemIds.forEach((itemId, position) => {
      events.push({ userId, itemId, type: 'purchase', query: null, ts: position, sessionId: null, key: `${userId}:${position}` });
    });
  }
  return events;
}

/**
 * Imports Amazon Beauty (S3Rec format) from `dir` into dataset `beauty` (or `options.dataset`):
 * everything is validated before one transaction writes it; re-importing changes nothing.
 */
export function importAmazonBeauty(store: Store, dir: string, options: ImportOptions = {}): ImportResult {
  const data = readS3Rec(dir);
  return writeImport(store, options.dataset ?? 'beauty', options.replace ?? false, {
    source: `amazon-beauty:${resolve(dir)}`,
    items: data.items.map((it) => it.record),
    users: data.sequences.map((s) => ({ id: s.userId, profile: {} })),
    events: s3recEvents(data.sequences),
  });
}
