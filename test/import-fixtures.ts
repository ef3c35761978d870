/** Small generated inputs for the importer tests: valid by default, with one line to break. */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GensearchError } from '../src/errors.js';
import type { Store } from '../src/store/types.js';

/** Writes an S3Rec folder: `items` items, `users` users with 5 items each. */
export function writeS3Rec(
  dir: string,
  options: { items?: number; users?: number; itemLines?: Record<number, string>; sequenceLines?: Record<number, string> } = {},
): string {
  const nItems = options.items ?? 50;
  const nUsers = options.users ?? 40;
  const items = Array.from({ length: nItems }, (_, i) =>
    JSON.stringify({
      item_id: i + 1,
      title: `Item &amp; ${i + 1}`,
      brand: i % 3 === 0 ? null : 'Acme',
      categories: [['Beauty', 'Nails']],
      price: i % 4 === 0 ? null : 1 + i,
      sales_rank: 10 * i,
      sales_type: 'Beauty',
    }),
  );
  const sequences = Array.from({ length: nUsers }, (_, u) =>
    [u + 1, ...Array.from({ length: 5 }, (_, k) => ((u * 7 + k * 3) % nItems) + 1)].join(' '),
  );
  for (const [line, text] of Object.entries(options.itemLines ?? {})) items[Number(line) - 1] = text;
  for (const [line, text] of Object.entries(options.sequenceLines ?? {})) sequences[Number(line) - 1] = text;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'items.jsonl'), items.join('\n') + '\n');
  writeFileSync(join(dir, 'sequences.txt'), sequences.join('\n') + '\n');
  return dir;
}

/** Every dataset's counts: compared before and after a failed import. */
export function storeCounts(store: Store): string {
  return JSON.stringify(store.listDatasets().map((d) => [d.name, d.source, d.items, d.users, d.events]));
}

/** Asserts `fn` throws a BAD_INPUT error whose place is `file:line` and whose text matches `reason`. */
export function assertBadRow(fn: () => unknown, file: string, line: number, reason: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof GensearchError, `expected a GensearchError, got ${String(error)}`);
    assert.equal(error.code, 'BAD_INPUT');
    assert.ok(error.where?.endsWith(`${file}:${line}`), `expected the place ${file}:${line}, got ${error.where}`);
    assert.match(error.message, reason);
    return true;
  });
}
