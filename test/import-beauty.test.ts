import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { importAmazonBeauty } from '../src/import/amazon-beauty.js';
import { loadInteractions } from '../src/store/interactions.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { sharedData, tempDir } from './helpers.js';
import { assertBadRow, storeCounts, writeS3Rec } from './import-fixtures.js';

test('Amazon Beauty imports with the published counts, decoded text and null titles', (t) => {
  const dir = sharedData(t, 'amazon-beauty');
  if (!dir) return;
  const store = new SqliteStore(':memory:');
  const first = importAmazonBeauty(store, dir);
  assert.deepEqual(
    [first.items, first.users, first.events, first.duplicateEvents],
    [12101, 22363, 198502, 0],
  );
  const info = store.dataset('beauty')!;
  assert.deepEqual([info.items, info.users, info.events], [12101, 22363, 198502]);
  assert.equal(store.getItem('beauty', '1')?.title, 'OPI Nail Lacquer, Simmer and Shimmer, 0.5-Fluid Ounce');
  assert.equal(store.getItem('beauty', '8')?.title, 'Freeman Facial Charcoal & Black Sugar Polish Mask 6 oz.');
  assert.equal(store.getItem('beauty', '5')?.brand, "Dr. Scholl's");
  assert.equal(store.getItem('beauty', '9373')?.title, 'TheraNeem Cream - Original Organix South 2 oz Cream Vanilla');
  const nullTitle = store.getItem('beauty', '495')!;
  assert.equal(nullTitle.title, null);
  assert.deepEqual(nullTitle.categories, [['Beauty', 'Hair Care', 'Styling Products', 'Hair Sprays']]);
  assert.deepEqual(store.getItem('beauty', '2')?.attributes, { sales_rank: 663280, sales_type: 'Health & Personal Care' });
  assert.deepEqual(
    store.events('beauty', { userId: '2' }).map((e) => [e.itemId, e.ts, e.type, e.key]),
    ['6', '7', '8', '9', '10', '4', '11'].map((id, i) => [id, i, 'purchase', `2:${i}`]),
  );

  const again = importAmazonBeauty(store, dir);
  assert.deepEqual([again.events, again.duplicateEvents], [0, 198502]);
  const after = store.dataset('beauty')!;
  assert.deepEqual([after.items, after.users, after.events], [12101, 22363, 198502]);

  const inter = loadInteractions(store, 'beauty');
  assert.equal(inter.userIds.length, 22363);
  assert.deepEqual([...inter.sequences[0]].map((i) => inter.items[i].id), ['1', '2', '3', '4', '5']);
  store.close();
});

test('a small S3Rec folder imports under another dataset name and replaces cleanly', (t) => {
  const dir = writeS3Rec(tempDir(t), { items: 30, users: 10 });
  const store = new SqliteStore(':memory:');
  const r = importAmazonBeauty(store, dir, { dataset: 'small' });
  assert.deepEqual([r.dataset, r.items, r.users, r.events], ['small', 30, 10, 50]);
  assert.equal(store.getItem('small', '1')?.title, 'Item & 1');
  writeS3Rec(dir, { items: 20, users: 4 });
  const replaced = importAmazonBeauty(store, dir, { dataset: 'small', replace: true });
  assert.equal(replaced.events, 20);
  const info = store.dataset('small')!;
  assert.deepEqual([info.items, info.users, info.events], [20, 4, 20], 'nothing of the first import is left');
  store.close();
});

const malformed: { name: string; items?: Record<number, string>; sequences?: Record<number, string>; file: string; line: number; reason: RegExp }[] = [
  { name: 'bad JSON', items: { 7: '{"item_id": 7, "title": ' }, file: 'items.jsonl', line: 7, reason: /not valid JSON/ },
  {
    name: 'missing field',
    items: { 3: '{"item_id": 3, "title": "x", "brand": null, "categories": [], "price": 1, "sales_rank": null}' },
    file: 'items.jsonl',
    line: 3,
    reason: /field "sales_type" is missing \(expected string\)/,
  },
  {
    name: 'ill-typed price',
    items: { 4: '{"item_id": 4, "title": "x", "brand": null, "categories": [], "price": "1.5", "sales_rank": null, "sales_type": null}' },
    file: 'items.jsonl',
    line: 4,
    reason: /field "price": expected number.*got "1.5"/,
  },
  {
    name: 'duplicate item id',
    items: { 5: '{"item_id": 2, "title": "x", "brand": null, "categories": [], "price": 1, "sales_rank": null, "sales_type": null}' },
    file: 'items.jsonl',
    line: 5,
    reason: /item_id 2 is already defined on line 2/,
  },
  { name: 'non-integer id', sequences: { 6: '6 1 2 x3' }, file: 'sequences.txt', line: 6, reason: /"x3" is not a positive integer id/ },
  { name: 'unknown item', sequences: { 2: '2 1 2 999' }, file: 'sequences.txt', line: 2, reason: /item 999 is not in items.jsonl/ },
  { name: 'user with no items', sequences: { 9: '9' }, file: 'sequences.txt', line: 9, reason: /user 9 has no items/ },
  { name: 'duplicate user', sequences: { 9: '3 1 2' }, file: 'sequences.txt', line: 9, reason: /user 3 already has a sequence on line 3/ },
  // The last of many good rows: a streaming writer would have stored the others by then.
  { name: 'last line after 30,000 good ones', sequences: { 30000: '30000 1 2 0' }, file: 'sequences.txt', line: 30000, reason: /"0"/ },
];

for (const c of malformed) {
  test(`S3Rec ${c.name}: file:line error and the store unchanged`, (t) => {
    const store = new SqliteStore(join(tempDir(t), 's.sqlite'));
    importAmazonBeauty(store, writeS3Rec(tempDir(t), { items: 20, users: 5 }), { dataset: 'small' });
    const before = storeCounts(store);
    const dir = writeS3Rec(tempDir(t), {
      items: 40,
      users: c.line > 1000 ? c.line : 12,
      itemLines: c.items,
      sequenceLines: c.sequences,
    });
    assertBadRow(() => importAmazonBeauty(store, dir, { dataset: 'small', replace: true }), join(dir, c.file), c.line, c.reason);
    assertBadRow(() => importAmazonBeauty(store, dir, { dataset: 'other' }), join(dir, c.file), c.line, c.reason);
    assert.equal(storeCounts(store), before);
    store.close();
  });
}
