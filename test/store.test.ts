import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadInteractions } from '../src/store/interactions.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { EventRecord, ItemRecord } from '../src/store/types.js';
import { tempDir } from './helpers.js';

const item = (id: string, title: string): ItemRecord => ({
  id,
  title,
  brand: null,
  categories: [['Beauty', 'Nails']],
  price: 3.5,
  attributes: {},
});
const event = (userId: string, itemId: string, ts: number): EventRecord => ({
  userId,
  itemId,
  type: 'purchase',
  query: null,
  ts,
  sessionId: null,
  key: `${userId}:${ts}`,
});

test('a failed write leaves nothing behind', (t) => {
  const store = new SqliteStore(join(tempDir(t), 's.sqlite'));
  assert.throws(() =>
    store.write((tx) => {
      tx.ensureDataset('d', 'test');
      tx.putItems('d', [item('1', 'a')]);
      throw new Error('boom');
    }),
  );
  assert.deepEqual(store.listDatasets(), []);
  store.close();
});

test('events are keyed: writing them twice stores them once; items upsert', (t) => {
  const store = new SqliteStore(join(tempDir(t), 's.sqlite'));
  const write = () =>
    store.write((tx) => {
      tx.ensureDataset('d', 'test');
      tx.putItems('d', [item('1', 'a'), item('2', '小米手机')]);
      return tx.putEvents('d', [event('u', '2', 1), event('u', '1', 0)]);
    });
  assert.equal(write(), 2);
  assert.equal(write(), 0);
  const info = store.dataset('d')!;
  assert.deepEqual([info.items, info.events], [2, 2]);
  assert.equal(store.getItem('d', '2')?.title, '小米手机');
  const inter = loadInteractions(store, 'd');
  assert.deepEqual(inter.userIds, ['u']);
  assert.deepEqual([...inter.sequences[0]], [0, 1], 'ordered by time, as dense item indices');
  store.close();
});
