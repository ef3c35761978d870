import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { importKuaiSearch } from '../src/import/kuaisearch.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { sharedData, tempDir } from './helpers.js';
import { assertBadRow, storeCounts } from './import-fixtures.js';

const firstRow = (path: string) => JSON.parse(readFileSync(path, 'utf8').split('\n')[0]);

test('KuaiSearch demo: Chinese text round-trips byte-exact; unjoinable ids become placeholders', (t) => {
  const dir = sharedData(t, 'kuaisearch-demo');
  if (!dir) return;
  const store = new SqliteStore(':memory:');
  const r = importKuaiSearch(store, dir);
  const item = firstRow(join(dir, 'items.jsonl'));
  const stored = store.getItem('kuaisearch', String(item.item_id))!;
  assert.ok(/[\u4e00-\u9fff]/.test(item.item_title), 'the fixture holds Chinese text');
  assert.deepEqual(Buffer.from(stored.title!, 'utf8'), Buffer.from(item.item_title, 'utf8'));
  assert.equal(stored.brand, item.brand_name);
  assert.equal(stored.attributes.seller_name, item.seller_name);
  const user = firstRow(join(dir, 'users.jsonl'));
  assert.equal(store.getUser('kuaisearch', String(user.user_id))?.profile.fre_city, user.fre_city);

  const session = firstRow(join(dir, 'recall.jsonl'));
  const events = store.events('kuaisearch', { userId: String(session.user_id) });
  assert.equal(events.length, session.impressed_item_ids.length + session.clicked_item_ids.length + session.purchased_item_ids.length);
  assert.ok(events.every((e) => e.query === session.query && e.ts === session.time_index && e.sessionId === String(session.session_id)));
  assert.deepEqual(
    events.filter((e) => e.type === 'click').map((e) => Number(e.itemId)),
    session.clicked_item_ids,
  );

  // 200 catalog items; the sessions name 24,998 more ids, of which 2 are in the catalog.
  assert.equal(r.placeholderItems, 24_996);
  assert.equal(r.items, 200 + 24_996);
  assert.match(r.warnings[0], /24996 item ids in recall.jsonl are not in items.jsonl/);
  assert.deepEqual(store.getItem('kuaisearch', String(session.impressed_item_ids[0]))?.attributes, { placeholder: 'not in catalog' });

  const before = storeCounts(store);
  const again = importKuaiSearch(store, dir);
  assert.deepEqual([again.items, again.users, again.events, again.duplicateEvents], [r.items, r.users, 0, r.events]);
  assert.equal(storeCounts(store), before);
  store.close();
});

test('KuaiSearch: a malformed session row names file:line and writes nothing', (t) => {
  const dir = tempDir(t);
  const item = { item_id: 7, item_title: '口红', brand_id: 1, brand_name: '牌子', seller_id: 2, seller_name: '店' };
  const levels = { category_level1_id: 1, category_level1_name: '美妆', category_level2_id: 0, category_level2_name: 'UNKNOWN', category_level3_id: 0, category_level3_name: 'UNKNOWN' };
  writeFileSync(join(dir, 'items.jsonl'), JSON.stringify({ ...item, ...levels }) + '\n');
  writeFileSync(join(dir, 'users.jsonl'), JSON.stringify({ user_id: 1, gender: 'F' }) + '\n');
  const session = { user_id: 1, session_id: 1, impressed_item_ids: [7, 8], clicked_item_ids: [7], purchased_item_ids: [], time_index: 3, query: '口红', split: 'train' };
  writeFileSync(join(dir, 'recall.jsonl'), [session, { ...session, session_id: 2, clicked_item_ids: '7' }].map((r) => JSON.stringify(r)).join('\n'));
  const store = new SqliteStore(':memory:');
  assertBadRow(() => importKuaiSearch(store, dir), 'recall.jsonl', 2, /field "clicked_item_ids": expected array; got "7"/);
  assert.deepEqual(store.listDatasets(), []);
  writeFileSync(join(dir, 'recall.jsonl'), JSON.stringify(session));
  const r = importKuaiSearch(store, dir, { dataset: 'k' });
  assert.deepEqual([r.items, r.placeholderItems, r.events], [2, 1, 3]);
  assert.deepEqual(store.getItem('k', '7')?.categories, [['美妆']], 'UNKNOWN levels are dropped');
  store.close();
});
