import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeEmbeddings } from '../src/encoders/embfile.js';
import { itemText } from '../src/encoders/text.js';
import { GensearchError } from '../src/errors.js';
import { hemQuery } from '../src/eval/query.js';
import { defaultSidConfig } from '../src/sids/build.js';
import { assignNewItems, buildDatasetSids, loadSids, type TextEmbedder } from '../src/sids/pipeline.js';
import { gaussianBlobs, hashEmbedder } from '../src/sids/synthetic.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { ItemRecord } from '../src/store/types.js';
import { Rng } from '../src/tensor/rng.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { tempDir } from './helpers.js';

const DIM = 12;
const CATS = [
  ['Beauty', 'Makeup', 'Nails', 'Nail Polish'],
  ['Beauty', 'Hair Care', 'Shampoos'],
  ['Beauty', 'Skin Care', 'Face', 'Cleansers'],
];

/** A stand-in encoder for tests: a seeded unit vector per text. */
const fake: TextEmbedder = hashEmbedder(DIM, 'fake-1');

function setup(t: import('node:test').TestContext) {
  const home = tempDir(t);
  const store = new SqliteStore(':memory:');
  t.after(() => store.close());
  const blobs = gaussianBlobs([200, 200, 200], DIM, { seed: 4, spread: 1, noise: 0.3 });
  const items: ItemRecord[] = Array.from({ length: 600 }, (_, i) => ({
    id: `p${i}`,
    title: `${['Acme', 'Brio', 'Cora', 'Dune'][i % 4]} ${CATS[blobs.labels[i]].at(-1)} ${['red', 'pink', 'nude'][i % 3]} ${i}`,
    brand: ['Acme', 'Brio', 'Cora', 'Dune'][i % 4],
    categories: [CATS[blobs.labels[i]]],
    price: 5,
    attributes: {},
  }));
  const rng = new Rng(2);
  store.write((tx) => {
    tx.ensureDataset('d', 'test');
    tx.putItems('d', items);
    tx.putUsers('d', Array.from({ length: 50 }, (_, u) => ({ id: `u${u}`, profile: {} })));
    tx.putEvents(
      'd',
      Array.from({ length: 50 * 6 }, (_, e) => ({
        userId: `u${Math.floor(e / 6)}`,
        itemId: `p${rng.int(600)}`,
        type: 'purchase' as const,
        query: null,
        ts: e,
        sessionId: null,
        key: `e${e}`,
      })),
    );
  });
  const dir = join(home, 'd', 'encoder');
  const embeddings = writeEmbeddings(join(dir, 'items.json'), { ids: items.map((it) => it.id), dim: DIM, data: blobs.points.data }, { modelVersion: fake.version });
  const texts = [...new Set(items.map(hemQuery))];
  const queries = writeEmbeddings(join(dir, 'queries.json'), { ids: texts, dim: DIM, data: fake.encode(texts) }, { modelVersion: fake.version });
  const config = { ...defaultSidConfig(600), levels: [3, 4, 4], opq: { k: 8, subspaces: 2 }, iterations: 10, opqIterations: 2 };
  return { home, store, items, embeddings, queries, config };
}

test('sids build stores item and query SIDs, saves codebooks; the index and trie load back', async (t) => {
  const tf = await initTensorRuntime();
  const { home, store, embeddings, queries, config } = setup(t);
  const r = buildDatasetSids(tf, store, { home, dataset: 'd', config, embeddings, queries, encoder: fake });
  assert.ok(r.build.report.purity[0].leaf > 0.95, `level-1 purity ${r.build.report.purity[0].leaf}`);
  assert.ok(r.build.report.coPurchase && r.build.report.coPurchase.pairs > 0);
  // 50 users with 6 events: one held-out pair each (last training item -> validation item) unless the two are one item.
  assert.ok(r.build.report.heldOut && r.build.report.heldOut.pairs >= 45 && r.build.report.heldOut.pairs <= 50, JSON.stringify(r.build.report.heldOut));
  const nb = r.build.report.neighbours;
  assert.ok(nb && nb.pairs > 0 && nb.embedding >= 0 && nb.embedding <= 1 && nb.quantized >= 0 && nb.quantized <= 1, JSON.stringify(nb));
  assert.equal(r.queryAgreement?.queries, 3);
  const { index, model, info } = loadSids(store, home, 'd');
  assert.equal(index.itemIds.length, 600);
  assert.equal(index.queries.size, 3);
  assert.deepEqual(index.codes, r.build.codes);
  assert.deepEqual(model.rq[0].data, r.build.model.rq[0].data);
  assert.deepEqual((info.config as { levels: number[] }).levels, [3, 4, 4]);
  // Every item is reachable through the trie at its (SID, rank).
  for (let i = 0; i < 600; i++) {
    const rows = index.trie.items(index.tokens.subarray(i * 5, (i + 1) * 5));
    assert.equal(rows[index.ranks[i]], i);
  }
  // Tokens respect the vocabulary layout: position p lies in its own range.
  const offsets = [0, 3, 7, 11, 19, 27];
  for (let i = 0; i < index.tokens.length; i++) {
    const p = i % 5;
    assert.ok(index.tokens[i] >= offsets[p] && index.tokens[i] < offsets[p + 1]);
  }
});

test('sids assign gives new items SIDs from the saved codebooks, keeping existing rows and ranks', async (t) => {
  const tf = await initTensorRuntime();
  const { home, store, items, embeddings, queries, config } = setup(t);
  buildDatasetSids(tf, store, { home, dataset: 'd', config, embeddings, queries, encoder: fake });
  const before = store.sids('d', 'default', 'item');
  const fresh = items.slice(0, 4).map((it, i) => ({ ...it, id: `new${i}` }));
  store.write((tx) => tx.putItems('d', fresh));
  const r = assignNewItems(tf, store, { home, dataset: 'd', encoder: fake, itemText });
  assert.deepEqual(r.assigned, ['new0', 'new1', 'new2', 'new3']);
  const after = store.sids('d', 'default', 'item');
  assert.equal(after.length, 604);
  assert.deepEqual(after.slice(0, 600), before);
  const { index } = loadSids(store, home, 'd');
  const seen = new Set<string>();
  for (let i = 0; i < index.itemIds.length; i++) {
    const key = `${index.codes.subarray(i * 5, (i + 1) * 5).join(',')}#${index.ranks[i]}`;
    assert.ok(!seen.has(key), `(SID, rank) ${key} is taken twice`);
    seen.add(key);
  }
  assert.deepEqual(assignNewItems(tf, store, { home, dataset: 'd', encoder: fake, itemText }).assigned, []);
});

test('sids build explains missing embeddings, a stale encoder and a missing build', async (t) => {
  const tf = await initTensorRuntime();
  const { home, store, embeddings, queries, config } = setup(t);
  const partial = writeEmbeddings(join(home, 'partial.json'), { ids: ['p0'], dim: DIM, data: new Float32Array(DIM) }, { modelVersion: fake.version });
  assert.throws(
    () => buildDatasetSids(tf, store, { home, dataset: 'd', config, embeddings: partial, queries, encoder: fake }),
    /has no embedding for 599 of 600 items \(e\.g\. "p1", "p2", "p3"\); run `gensearch embed` again/,
  );
  assert.throws(
    () => buildDatasetSids(tf, store, { home, dataset: 'd', config, embeddings, queries, encoder: { ...fake, version: 'other' } }),
    (e: unknown) => e instanceof GensearchError && e.code === 'CONFLICT' && /encoder fake-1, but the encoder given is other/.test(e.message),
  );
  assert.throws(() => loadSids(store, home, 'd', 'nope'), /SID build "nope" of dataset "d" not found: run `gensearch sids build` first/);
});
