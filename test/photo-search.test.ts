import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { NearestView } from '../src/baselines/nearest-view.js';
import { constrainedBeamSearch } from '../src/decode/beam-search.js';
import { generateItems, GenerativeSession } from '../src/decode/generate.js';
import { ENCODER_DIR, savePhotoModel, searchImage } from '../src/decode/photo-search.js';
import { embedImages, imageEncoderObjective } from '../src/encoders/image-model.js';
import { embedPixels, type PhotoSet, trainImageEncoder } from '../src/encoders/image-train.js';
import { initGenerative, SidDecoder } from '../src/model/generative.js';
import { disposeParams } from '../src/model/params.js';
import { codebookReport } from '../src/sids/codebook-metrics.js';
import { codesToTokens, positionSizes } from '../src/sids/layout.js';
import { matrix } from '../src/sids/matrix.js';
import { SidTrie } from '../src/sids/trie.js';
import { buildVrq, shallowAgreement } from '../src/sids/vrq.js';
import { photoModelConfig, photoPrompt, PHOTO_RECIPE_DEFAULTS, trainPhotoGenerative } from '../src/tasks/photo.js';
import { withinItemMixes } from '../src/tasks/photo-model.js';
import { packContext, packPrompts } from '../src/tasks/prompt.js';
import { Rng } from '../src/tensor/rng.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { tempDir } from './helpers.js';
import { pngOf, stripeView as stripeViewOf, TINY_ENCODER } from './photo-fixtures.js';

const SIDE = 16;
const TINY = TINY_ENCODER;
const stripeView = (item: number, rng: Rng) => stripeViewOf(item, rng, SIDE);

test('the image encoder learns a planted multi-view signal from catalog views alone', async (t) => {
  const tf = await initTensorRuntime();
  const rng = new Rng(3);
  const items = 4;
  const catalog: Float32Array[] = [];
  const catalogItem: number[] = [];
  const queries: Float32Array[] = [];
  const queryItem: number[] = [];
  for (let k = 0; k < items; k++) {
    for (let v = 0; v < 8; v++) {
      // Three catalog views per item, five query views.
      if (v < 3) catalog.push(stripeView(k, rng));
      else queries.push(stripeView(k, rng));
      (v < 3 ? catalogItem : queryItem).push(k);
    }
  }
  const photos: PhotoSet = { side: SIDE, pixels: catalog, item: Int32Array.from(catalogItem), gray: false };
  /** Nearest-view HR@1 of the queries, and mean similarity to own-item minus other-item catalog views. */
  const measure = (params: Parameters<typeof embedPixels>[0]) => {
    const c = embedPixels(params, TINY, catalog);
    const index = new NearestView(c, photos.item, TINY.dim);
    const q = embedPixels(params, TINY, queries);
    let own = 0;
    let other = 0;
    queryItem.forEach((it, i) => {
      const scores = index.itemScores(q.subarray(i * TINY.dim, (i + 1) * TINY.dim));
      scores.forEach((s, k) => (k === it ? (own += s) : (other += s / (items - 1))));
    });
    const hr = queryItem.filter((it, i) => index.search(q.subarray(i * TINY.dim, (i + 1) * TINY.dim), 1).items[0] === it).length / queryItem.length;
    return { hr, gap: (own - other) / queryItem.length };
  };
  const untrained = imageEncoderObjective(TINY).init(new Rng(1));
  const before = measure(untrained);
  disposeParams(untrained);
  const modelDir = tempDir(t);
  const trained = await trainImageEncoder({ photos, encoder: TINY, steps: 60, batchSize: 12, lr: 3e-3, seed: 1, outDir: join(modelDir, ENCODER_DIR), log: () => {} });
  assert.equal(trained.steps, 60);
  const after = measure(trained.params);
  assert.ok(after.hr >= 0.95, `trained nearest-view HR@1 ${after.hr}`);
  // Training pulls an item's views together and pushes other items away.
  assert.ok(after.gap > before.gap + 0.3, `similarity gap own - other: ${before.gap} at init -> ${after.gap} trained`);
  // The embeddings are unit vectors.
  const z = tf.tidy(() => tf.norm(embedImages(trained.params, TINY, tf.tensor4d(catalog[0], [1, SIDE, SIDE, 3]))).dataSync()[0]);
  assert.ok(Math.abs(z - 1) < 1e-4);

  // The library call a server uses: a saved photo model answers photo bytes (nearest view here).
  savePhotoModel(modelDir, {
    dataset: 'stripes',
    itemIds: ['a', 'b', 'c', 'd'],
    titles: ['A', 'B', 'C', 'D'],
    sids: { layout: { levels: [2, 2], opq: null }, codes: [0, 0, 0, 1, 1, 0, 1, 1] },
    catalog: { emb: Array.from(embedPixels(trained.params, TINY, catalog)), item: catalogItem },
    generative: null,
  });
  const answer = await searchImage(modelDir, pngOf(queries[5], SIDE), { k: 2 });
  assert.equal(answer.method, 'nearest');
  assert.deepEqual([answer.items.length, answer.items[0].id, answer.items[0].title], [2, ['a', 'b', 'c', 'd'][queryItem[5]], ['A', 'B', 'C', 'D'][queryItem[5]]]);
  await assert.rejects(searchImage(modelDir, Buffer.from('not a photo')), /not an image/);
  disposeParams(trained.params);
});

/** n items x views unit vectors around per-item centres. */
function clusteredViews(items: number, views: number, dim: number, noise: number, seed: number) {
  const rng = new Rng(seed);
  const g = () => Math.sqrt(-2 * Math.log(rng.next() + 1e-12)) * Math.cos(2 * Math.PI * rng.next());
  const centres = Array.from({ length: items }, () => Array.from({ length: dim }, g));
  const emb = new Float32Array(items * views * dim);
  const item = new Int32Array(items * views);
  for (let k = 0; k < items; k++) {
    for (let v = 0; v < views; v++) {
      const row = k * views + v;
      item[row] = k;
      const x = centres[k].map((c) => c + noise * g());
      const n = Math.hypot(...x);
      x.forEach((val, j) => (emb[row * dim + j] = val / n));
    }
  }
  return { emb, item, dim };
}

test('VRQ: all views of an item share its shallow codes and full SIDs keep items apart', async () => {
  const tf = await initTensorRuntime();
  const views = clusteredViews(12, 4, 8, 0.15, 5);
  const vrq = buildVrq(tf, matrix(views.emb, 48, 8), views.item, 12, { levels: [3, 3], seed: 1 });
  const report = codebookReport(vrq.codes, vrq.layout);
  assert.equal(report.icr, 1, 'every item has a SID of its own');
  assert.equal(vrq.layout.levels.length, 3);
  const share = shallowAgreement(tf, vrq, matrix(views.emb, 48, 8), views.item);
  assert.deepEqual(share, { level1: 1, level12: 1 });
  // New photos near their item's views mostly quantize to its shallow codes too.
  const fresh = clusteredViews(12, 4, 8, 0.15, 5);
  assert.ok(shallowAgreement(tf, vrq, matrix(fresh.emb, 48, 8), fresh.item).level1 >= 0.9);
});

test('within-item mixes are unit photo embeddings between two photos of one item', () => {
  const views = clusteredViews(5, 3, 6, 0.3, 21);
  const mixes = withinItemMixes(views, 40, 1);
  for (let m = 0; m < 40; m++) {
    const v = mixes.emb.subarray(m * 6, (m + 1) * 6);
    assert.ok(Math.abs(Math.hypot(...v) - 1) < 1e-5);
    // Closer to its own item's photos than to any other item's.
    const best = (k: number) => Math.max(...[0, 1, 2].map((j) => v.reduce((a, x, d) => a + x * views.emb[(k * 3 + j) * 6 + d], 0)));
    const own = best(mixes.item[m]);
    for (let k = 0; k < 5; k++) if (k !== mixes.item[m]) assert.ok(best(k) < own);
  }
});

test('photo -> SID decoding only emits valid SIDs, with and without dynamic pruning', async () => {
  const tf = await initTensorRuntime();
  const nItems = 10;
  const views = clusteredViews(nItems, 2, 8, 0.1, 9);
  const vrq = buildVrq(tf, matrix(views.emb, 20, 8), views.item, nItems, { levels: [3, 2], seed: 2 });
  const itemTokens = codesToTokens(vrq.layout, vrq.codes);
  const cfg = photoModelConfig(PHOTO_RECIPE_DEFAULTS, { sidSizes: positionSizes(vrq.layout), nItems, dim: 8 });
  const params = initGenerative(cfg, new Rng(4)); // untrained: its preferences are arbitrary
  const pack = packContext(cfg, itemTokens);
  const trie = new SidTrie(itemTokens, cfg.sidSizes.length);
  const prompts = Array.from({ length: 6 }, (_, i) => photoPrompt(views.emb.subarray(i * 8, (i + 1) * 8)));
  for (const pruneMargin of [undefined, 0.5]) {
    const decoder = new SidDecoder(params, cfg);
    decoder.start(packPrompts(prompts, pack));
    const { results } = await constrainedBeamSearch(new GenerativeSession(decoder), trie, prompts.length, pack.layout.sidVocab, { beam: 4, pruneMargin });
    for (const list of results) {
      assert.ok(list.length >= 1);
      for (const d of list) assert.ok(trie.items(d.leaf).length > 0, 'a decoded SID is an item SID');
    }
    const { lists } = await generateItems({ params, cfg }, pack, trie, prompts, { beam: 4, k: nItems, pruneMargin });
    for (const l of lists) {
      assert.ok(l.items.every((it) => it >= 0 && it < nItems));
      assert.equal(new Set(l.items).size, l.items.length);
    }
  }
  // A photo prompt for a text-only model is refused, not silently dropped.
  const textOnly = { ...cfg, visual: undefined };
  assert.throws(() => packPrompts(prompts, packContext(textOnly, itemTokens)), /carries a photo, but this model has no visual input/);
  disposeParams(params);
});

test('the photo generative model learns photo -> SID on separable embeddings', async (t) => {
  const tf = await initTensorRuntime();
  const nItems = 6;
  const train = clusteredViews(nItems, 8, 8, 0.2, 11);
  const held = clusteredViews(nItems, 3, 8, 0.2, 11);
  const vrq = buildVrq(tf, matrix(train.emb, 48, 8), train.item, nItems, { levels: [2, 2], seed: 3 });
  const itemTokens = codesToTokens(vrq.layout, vrq.codes);
  const recipe = { ...PHOTO_RECIPE_DEFAULTS, alignSteps: 30, searchSteps: 60, batchSize: 16, lr: 5e-3 };
  const cfg = photoModelConfig(recipe, { sidSizes: positionSizes(vrq.layout), nItems, dim: 8 });
  const model = await trainPhotoGenerative({ recipe, cfg, itemTokens, align: train, search: train, dir: tempDir(t), log: () => {} });
  assert.deepEqual(model.stages.map((s) => s.name), ['align', 'search']);
  const trie = new SidTrie(itemTokens, cfg.sidSizes.length);
  const prompts = Array.from(held.item, (_, i) => photoPrompt(held.emb.subarray(i * 8, (i + 1) * 8)));
  const { lists } = await generateItems(model, model.pack, trie, prompts, { beam: 3, k: 1 });
  const hits = lists.filter((l, i) => l.items[0] === held.item[i]).length;
  assert.ok(hits / lists.length >= 0.9, `generative HR@1 ${hits / lists.length}`);
  disposeParams(model.params);
});
