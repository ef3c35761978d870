import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { importGeneric } from '../src/import/generic.js';
import { loadInteractions } from '../src/store/interactions.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { tempDir } from './helpers.js';
import { assertBadRow, storeCounts } from './import-fixtures.js';

const jsonl = (rows: unknown[]): string => rows.map((r) => (typeof r === 'string' ? r : JSON.stringify(r))).join('\n') + '\n';

function write(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const ITEMS = [
  { id: 'sku-1', title: '  Red\nlipstick ', brand: 'Acme', categories: 'Beauty > Makeup > Lips', price: 9.5, colour: 'red' },
  { id: 2, title: 'Nail file', categories: [['Beauty', 'Nails'], 'Tools > Files'], in_stock: true, attributes: { grit: 180 } },
  { id: 'sku-3', title: null, price: null },
];
const EVENTS = [
  { userId: 'u1', itemId: 'sku-1', type: 'impression', query: 'lipstick', ts: '2024-05-01T12:00:00Z', sessionId: 's1' },
  { userId: 'u1', itemId: 'sku-1', type: 'click', query: 'lipstick', ts: 1714564900000, sessionId: 's1' },
  { userId: 'u2', itemId: 2, type: 'purchase', ts: '2024-05-02' },
  { userId: 'u2', itemId: 'sku-3', type: 'cart', ts: '2024-05-03T08:00:00+02:00', eventId: 'e-77' },
];

test('generic JSONL: items with every category form, events with times, users and implicit users', (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore(':memory:');
  const files = {
    items: write(dir, 'items.jsonl', jsonl(ITEMS)),
    events: write(dir, 'events.jsonl', jsonl(EVENTS)),
    users: write(dir, 'users.jsonl', jsonl([{ id: 'u1', age: 31, city: '北京', profile: { vip: true } }])),
  };
  const r = importGeneric(store, files, { dataset: 'shop' });
  assert.deepEqual([r.items, r.users, r.events, r.duplicateEvents], [3, 2, 4, 0]);
  assert.deepEqual(store.getItem('shop', 'sku-1'), {
    id: 'sku-1',
    title: 'Red lipstick',
    brand: 'Acme',
    categories: [['Beauty', 'Makeup', 'Lips']],
    price: 9.5,
    attributes: { colour: 'red' },
  });
  const nailFile = store.getItem('shop', '2')!;
  assert.deepEqual(nailFile.categories, [['Beauty', 'Nails'], ['Tools', 'Files']]);
  assert.deepEqual(nailFile.attributes, { grit: 180, in_stock: 'true' });
  assert.equal(store.getItem('shop', 'sku-3')?.title, null);
  assert.deepEqual(store.getUser('shop', 'u1')?.profile, { vip: 'true', age: 31, city: '北京' });
  assert.deepEqual(store.getUser('shop', 'u2')?.profile, {}, 'a user named only by events gets an empty profile');
  const u1 = store.events('shop', { userId: 'u1' });
  assert.deepEqual(
    u1.map((e) => [e.type, e.ts, e.query, e.sessionId]),
    [
      ['impression', Date.parse('2024-05-01T12:00:00Z'), 'lipstick', 's1'],
      ['click', 1714564900000, 'lipstick', 's1'],
    ],
  );
  assert.equal(store.events('shop', { userId: 'u2' })[1].key, 'e-77');
  assert.equal(store.events('shop', { userId: 'u2' })[1].ts, Date.parse('2024-05-03T06:00:00Z'));

  const again = importGeneric(store, files, { dataset: 'shop' });
  assert.deepEqual([again.events, again.duplicateEvents], [0, 4], 're-import adds nothing');
  assert.deepEqual(store.getUser('shop', 'u1')?.profile, { vip: 'true', age: 31, city: '北京' }, 'profiles survive');
  const info = store.dataset('shop')!;
  assert.deepEqual([info.items, info.users, info.events], [3, 2, 4]);
  store.close();
});

test('generic CSV: quoted commas, quotes and line breaks, paths split by "|", empty cells', (t) => {
  const dir = tempDir(t);
  const csv = [
    'id,title,brand,categories,price,colour',
    '1,"Brush, large","Kent ""Pro""",Beauty > Tools | Home > Bath,"1,5e1",',
    '',
    '2,"Two-line',
    'title",,Beauty,,blue',
  ].join('\r\n');
  const store = new SqliteStore(':memory:');
  // "1,5e1" is not a number: the error names line 2.
  assertBadRow(() => importGeneric(store, { items: write(dir, 'bad.csv', csv) }), 'bad.csv', 2, /field "price": expected a number/);
  const good = csv.replace('"1,5e1"', '15');
  const r = importGeneric(store, { items: write(dir, 'items.csv', good) });
  assert.equal(r.items, 2);
  assert.deepEqual(store.getItem('generic', '1'), {
    id: '1',
    title: 'Brush, large',
    brand: 'Kent "Pro"',
    categories: [
      ['Beauty', 'Tools'],
      ['Home', 'Bath'],
    ],
    price: 15,
    attributes: { colour: null },
  });
  const two = store.getItem('generic', '2')!;
  assert.deepEqual([two.title, two.brand, two.price, two.attributes], ['Two-line title', null, null, { colour: 'blue' }]);
  // A bad row after a cell spanning two lines: the reported line is where that row starts.
  const after = good + '\r\n3,ok,,,cheap,\r\n';
  assertBadRow(() => importGeneric(store, { items: write(dir, 'after.csv', after) }), 'after.csv', 6, /got "cheap"/);
  assertBadRow(
    () => importGeneric(store, { items: write(dir, 'open.csv', 'id,title\n1,a\n2,"unclosed\n3,b\n') }),
    'open.csv',
    3,
    /Quote Not Closed/,
  );
  assertBadRow(
    () => importGeneric(store, { items: write(dir, 'cols.csv', 'id,title\n1,a\n2,b,c\n') }),
    'cols.csv',
    3,
    /the row has 3 cells where the header has 2/,
  );
  assertBadRow(() => importGeneric(store, { items: write(dir, 'noid.csv', 'sku,title\n1,a\n') }), 'noid.csv', 1, /needs an "id" column/);
  store.close();
});

test('generic events: a grown log and a second file add only their new rows', (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore(':memory:');
  importGeneric(store, { items: write(dir, 'items.jsonl', jsonl(ITEMS)) });
  // No ts: the line order is the order. The same click twice is two events.
  const log = [
    { userId: 'u', itemId: 'sku-1', type: 'click' },
    { userId: 'u', itemId: 2, type: 'click' },
    { userId: 'u', itemId: 'sku-1', type: 'click' },
  ];
  const events = write(dir, 'events.jsonl', jsonl(log));
  assert.equal(importGeneric(store, { events }).events, 3);
  write(dir, 'events.jsonl', jsonl([...log, { userId: 'u', itemId: 'sku-3', type: 'purchase' }]));
  const grown = importGeneric(store, { events });
  assert.deepEqual([grown.events, grown.duplicateEvents], [1, 3]);
  const second = write(dir, 'more.jsonl', jsonl([{ userId: 'v', itemId: 2, type: 'cart', eventId: 'x1' }]));
  assert.equal(importGeneric(store, { events: second }).events, 1);
  assert.equal(importGeneric(store, { events: second }).events, 0);
  const inter = loadInteractions(store, 'generic');
  const u = inter.userIds.indexOf('u');
  assert.deepEqual(
    [...inter.sequences[u]].map((i) => inter.items[i].id),
    ['sku-1', '2', 'sku-1', 'sku-3'],
    'rows of the grown log come after the ones stored before',
  );
  assert.equal(store.dataset('generic')?.events, 5);
  store.close();
});

const badEvents: { name: string; rows: unknown[]; line: number; reason: RegExp }[] = [
  { name: 'unknown item', rows: [{ userId: 'u', itemId: 'nope', type: 'click' }], line: 1, reason: /item "nope" is not in the catalog/ },
  { name: 'bad type', rows: [{ userId: 'u', itemId: 2, type: 'view' }], line: 1, reason: /field "type".*"impression".*got "view"/ },
  { name: 'unknown field', rows: [{ user_id: 'u', userId: 'u', itemId: 2, type: 'click' }], line: 1, reason: /user_id/ },
  {
    name: 'bad time',
    rows: [{ userId: 'u', itemId: 2, type: 'click', ts: 'yesterday' }],
    line: 1,
    reason: /field "ts": expected epoch milliseconds or an ISO 8601 time.*got "yesterday"/,
  },
  {
    name: 'ts on some rows only',
    rows: [
      { userId: 'u', itemId: 2, type: 'click', ts: 5 },
      { userId: 'u', itemId: 2, type: 'click' },
    ],
    line: 2,
    reason: /ts is missing here but given on line 1/,
  },
  {
    name: 'repeated eventId',
    rows: [
      { userId: 'u', itemId: 2, type: 'click', eventId: 7 },
      { userId: 'u', itemId: 'sku-1', type: 'click', eventId: '7' },
    ],
    line: 2,
    reason: /eventId "7" already appears on line 1/,
  },
  {
    name: 'last of 20,000 rows',
    rows: [...Array.from({ length: 19_999 }, (_, i) => ({ userId: `u${i % 50}`, itemId: 2, type: 'click', ts: i })), '{"userId": "u"'],
    line: 20_000,
    reason: /not valid JSON/,
  },
];

for (const c of badEvents) {
  test(`generic events, ${c.name}: file:line error and the store unchanged`, (t) => {
    const dir = tempDir(t);
    const store = new SqliteStore(join(dir, 's.sqlite'));
    const items = write(dir, 'items.jsonl', jsonl(ITEMS));
    importGeneric(store, { items, events: write(dir, 'ok.jsonl', jsonl(EVENTS)) }, { dataset: 'shop' });
    const before = storeCounts(store);
    const events = write(dir, 'events.jsonl', jsonl(c.rows));
    assertBadRow(() => importGeneric(store, { items, events }, { dataset: 'shop', replace: true }), 'events.jsonl', c.line, c.reason);
    assert.equal(storeCounts(store), before);
    store.close();
  });
}

test('generic items and users: malformed rows name file:line', (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore(':memory:');
  const items = (rows: unknown[]) => ({ items: write(dir, 'items.jsonl', jsonl(rows)) });
  assertBadRow(() => importGeneric(store, items([ITEMS[0], { id: 1.5 }])), 'items.jsonl', 2, /field "id": expected a non-empty string or an integer id; got 1.5/);
  assertBadRow(() => importGeneric(store, items([ITEMS[0], { id: 'sku-1' }])), 'items.jsonl', 2, /"sku-1" already appears on line 1/);
  assertBadRow(() => importGeneric(store, items([{ id: 4, images: ['a.jpg'] }])), 'items.jsonl', 1, /field "images": expected a string, number/);
  assertBadRow(() => importGeneric(store, items([{ id: 4, categories: 3 }])), 'items.jsonl', 1, /field "categories": expected "A > B > C"/);
  assertBadRow(() => importGeneric(store, items([{ title: 'x' }])), 'items.jsonl', 1, /field "id" is missing/);
  const users = write(dir, 'users.jsonl', jsonl([{ id: 'a' }, { id: 'b', tags: { x: 1 } }]));
  assertBadRow(() => importGeneric(store, { users }), 'users.jsonl', 2, /field "tags"/);
  assert.deepEqual(store.listDatasets(), []);
  assert.throws(() => importGeneric(store, {}), /nothing to import/);
  store.close();
});

test('generic events in epoch seconds get a warning', (t) => {
  const dir = tempDir(t);
  const store = new SqliteStore(':memory:');
  const r = importGeneric(store, {
    items: write(dir, 'items.jsonl', jsonl(ITEMS)),
    events: write(dir, 'events.jsonl', jsonl([{ userId: 'u', itemId: 2, type: 'click', ts: 1714564900 }])),
  });
  assert.match(r.warnings.join('\n'), /epoch seconds/);
  store.close();
});
