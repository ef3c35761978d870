import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SqliteStore } from '../src/store/sqlite.js';

test('store keeps SID tables per build: put, replace by key, list, drop, cascade with the dataset', () => {
  const store = new SqliteStore(':memory:');
  store.write((tx) => tx.ensureDataset('d', 'test'));
  store.write((tx) => {
    tx.putSids('d', 'default', [
      { kind: 'item', key: 'a', codes: [1, 2, 3, 4, 260], rank: 0 },
      { kind: 'item', key: 'b', codes: [1, 2, 3, 4, 260], rank: 1 },
      { kind: 'query', key: 'nail polish', codes: [1, 2, 0, 9, 300], rank: 0 },
    ]);
    tx.putSids('d', 'rq-only', [{ kind: 'item', key: 'a', codes: [1, 2, 3], rank: 0 }]);
  });
  assert.deepEqual(store.sidVersions('d'), ['default', 'rq-only']);
  assert.deepEqual(
    store.sids('d', 'default', 'item').map((r) => [r.key, r.codes, r.rank]),
    [
      ['a', [1, 2, 3, 4, 260], 0],
      ['b', [1, 2, 3, 4, 260], 1],
    ],
  );
  assert.deepEqual(store.sids('d', 'default', 'query')[0].codes, [1, 2, 0, 9, 300]);
  store.write((tx) => tx.putSids('d', 'default', [{ kind: 'item', key: 'b', codes: [0, 0, 0, 0, 256], rank: 0 }]));
  assert.deepEqual(store.sids('d', 'default', 'item')[1].codes, [0, 0, 0, 0, 256], 'replaced in place, order kept');
  store.write((tx) => tx.dropSids('d', 'rq-only'));
  assert.deepEqual(store.sidVersions('d'), ['default']);
  store.write((tx) => tx.dropDataset('d'));
  assert.deepEqual(store.sids('d', 'default'), []);
  store.close();
});
