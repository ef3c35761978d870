import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { importAmazonBeauty } from '../src/import/amazon-beauty.js';
import { writeDemoSlice } from '../src/import/demo-slice.js';
import { demoDataDir } from '../src/paths.js';
import { loadInteractions } from '../src/store/interactions.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { sharedData, tempDir } from './helpers.js';

test('the bundled demo data imports: 2,000 items, 7,377 users of 5+ interactions', () => {
  const store = new SqliteStore(':memory:');
  const r = importAmazonBeauty(store, demoDataDir(), { dataset: 'demo' });
  assert.deepEqual([r.items, r.users, r.events], [2000, 7377, 71211]);
  const inter = loadInteractions(store, 'demo');
  assert.ok(inter.sequences.every((s) => s.length >= 5));
  // Dense first-appearance numbering: user 1's items are 1..k.
  const first = [...inter.sequences[0]].map((i) => Number(inter.items[i].id));
  assert.deepEqual(first, Array.from({ length: first.length }, (_, i) => i + 1));
  store.close();
});

test('the demo data is what `npm run demo-data` makes from Amazon Beauty, byte for byte', (t) => {
  const source = sharedData(t, 'amazon-beauty');
  if (!source) return;
  const out = tempDir(t);
  writeDemoSlice(source, out);
  const names = readdirSync(demoDataDir()).sort();
  assert.deepEqual(readdirSync(out).sort(), names);
  for (const name of names) {
    assert.ok(readFileSync(join(out, name)).equals(readFileSync(join(demoDataDir(), name))), `${name} differs`);
  }
  // Each demo item row is its source row with the id rewritten.
  const map = readFileSync(join(out, 'item_id_map.tsv'), 'utf8').trim().split('\n').slice(1);
  const [demoId, beautyId] = map[41].split('\t');
  const sourceRow = readFileSync(join(source, 'items.jsonl'), 'utf8').split('\n')[Number(beautyId) - 1];
  const demoRow = readFileSync(join(out, 'items.jsonl'), 'utf8').split('\n')[Number(demoId) - 1];
  assert.equal(demoRow.replace(`{"item_id": ${demoId},`, ''), sourceRow.replace(`{"item_id": ${beautyId},`, ''));
});
