import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GensearchError } from '../src/errors.js';
import { buildSids, defaultSidConfig, type SidConfig } from '../src/sids/build.js';
import { smoothByCooccurrence } from '../src/sids/cooccurrence.js';
import { keywordFields } from '../src/sids/keywords/pool.js';
import { assignSids } from '../src/sids/model.js';
import { gaussianBlobs, hashEmbedder } from '../src/sids/synthetic.js';
import type { ItemRecord } from '../src/store/types.js';
import { Rng } from '../src/tensor/rng.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';

const CATS = [
  ['Beauty', 'Makeup', 'Nails', 'Nail Polish'],
  ['Beauty', 'Hair Care', 'Shampoos'],
  ['Beauty', 'Skin Care', 'Face', 'Cleansers'],
  ['Beauty', 'Fragrance', 'Women'],
];
const COLOURS = ['red', 'pink', 'nude', 'coral', 'black'];

/** A small catalog whose embeddings cluster by category, with keyword-bearing titles. */
function catalog(n: number, dim: number) {
  const blobs = gaussianBlobs(
    CATS.map(() => n / CATS.length),
    dim,
    { seed: 2, spread: 1, noise: 0.4 },
  );
  const rng = new Rng(7);
  const items: ItemRecord[] = Array.from({ length: n }, (_, i) => ({
    id: `i${i}`,
    title: `${['Acme', 'Brio', 'Cora'][rng.int(3)]} ${CATS[blobs.labels[i]].at(-1)} ${COLOURS[rng.int(5)]} no ${i}`,
    brand: ['Acme', 'Brio', 'Cora'][i % 3],
    categories: [CATS[blobs.labels[i]]],
    price: null,
    attributes: {},
  }));
  return { items, embeddings: blobs.points, labels: blobs.labels };
}

const small: SidConfig = {
  ...defaultSidConfig(800),
  levels: [4, 8, 8],
  balancedLevels: [3],
  opq: { k: 16, subspaces: 2 },
  iterations: 15,
  opqIterations: 3,
  seed: 9,
  keywords: { pool: { minItems: 2, maxShare: 0.7 }, weights: { embedding: 0.5, keywords: 0.5 } },
};

test('SID build: 5-token IDs, category-pure first level, deterministic under a seed', async () => {
  const tf = await initTensorRuntime();
  const { items, embeddings } = catalog(800, 16);
  const inputs = { items, embeddings, encode: hashEmbedder(16).encode };
  const a = buildSids(tf, inputs, small);
  const b = buildSids(tf, inputs, small);
  assert.deepEqual(a.codes, b.codes);
  assert.deepEqual(a.ranks, b.ranks);
  assert.equal(a.codes.length, 800 * 5);
  assert.ok(a.report.purity[0].top > 0.95, `level-1 purity ${a.report.purity[0].top}`);
  assert.ok(a.report.icr > a.report.icrRq, `OPQ should raise ICR: ${a.report.icrRq} -> ${a.report.icr}`);
  assert.equal(a.stats.keywords?.coverage, 1);
  assert.deepEqual(a.stats.keywords?.byType, { brand: 3, category: 10, colour: 5 });
  for (let i = 0; i < 800; i++) {
    for (let p = 0; p < 5; p++) assert.ok(a.codes[i * 5 + p] < [4, 8, 8, 16, 16][p]);
  }
  const c = buildSids(tf, inputs, { ...small, seed: 10 });
  assert.notDeepEqual(a.codes, c.codes);
});

test('incremental assignment reproduces the build codes (no balanced level) and works on new items', async () => {
  const tf = await initTensorRuntime();
  const { items, embeddings } = catalog(800, 16);
  const { encode } = hashEmbedder(16);
  const cfg = { ...small, balancedLevels: [] };
  const r = buildSids(tf, { items: items.slice(0, 700), embeddings: { ...embeddings, data: embeddings.data.slice(0, 700 * 16), rows: 700 }, encode }, cfg);
  const again = assignSids(tf, r.model, { ...embeddings, data: embeddings.data.slice(0, 700 * 16), rows: 700 }, items.slice(0, 700).map(keywordFields));
  assert.deepEqual(again, r.codes);
  const fresh = assignSids(tf, r.model, { ...embeddings, data: embeddings.data.slice(700 * 16), rows: 100 }, items.slice(700).map(keywordFields));
  assert.equal(fresh.length, 100 * 5);
  assert.throws(() => assignSids(tf, r.model, { data: new Float32Array(8), rows: 1, cols: 8 }, [[]]), /dimension 8; the SID codebooks were built on dimension 16/);
});

test('SID build rejects an empty catalog, NaN vectors and codebooks larger than the catalog', async () => {
  const tf = await initTensorRuntime();
  const { items, embeddings } = catalog(80, 8);
  const bad = (fn: () => unknown, pattern: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof GensearchError && e.code === 'BAD_INPUT' && pattern.test(e.message), `expected ${pattern}`);
  const cfg = { ...small, keywords: null };
  bad(() => buildSids(tf, { items: [], embeddings: { data: new Float32Array(0), rows: 0, cols: 8 } }, cfg), /no vectors to quantize/);
  const nan = Float32Array.from(embeddings.data);
  nan[5 * 8 + 3] = Number.NaN;
  bad(() => buildSids(tf, { items, embeddings: { ...embeddings, data: nan } }, cfg), /item "i5" \(row 5\) has NaN at dimension 3/);
  bad(() => buildSids(tf, { items, embeddings }, { ...cfg, levels: [4, 128, 4] }), /RQ level 2: codebook size 128 is larger than the 80 vectors/);
  bad(() => buildSids(tf, { items, embeddings }, { ...cfg, opq: { k: 128, subspaces: 2 } }), /OPQ sub-quantizer 1: codebook size 128 is larger than the 80 vectors/);
  bad(() => buildSids(tf, { items: items.slice(1), embeddings }, cfg), /80 embeddings for 79 items/);
  bad(() => buildSids(tf, { items, embeddings }, { ...small }), /needs the text encoder/);
});

test('co-occurrence smoothing moves items bought with another category onto its level-1 code', async () => {
  const tf = await initTensorRuntime();
  const { items, embeddings, labels } = catalog(400, 8);
  // The first 20 items of category 0 are each bought with 5 items of category 1.
  const movers = [...labels.keys()].filter((i) => labels[i] === 0).slice(0, 20);
  const partners = [...labels.keys()].filter((i) => labels[i] === 1);
  const rowStart = new Int32Array(items.length + 1);
  const cols: number[] = [];
  for (let i = 0; i < items.length; i++) {
    const m = movers.indexOf(i);
    if (m >= 0) cols.push(...partners.slice(5 * m, 5 * m + 5));
    rowStart[i + 1] = cols.length;
  }
  const similarity = { rowStart, cols: Int32Array.from(cols), vals: new Float32Array(cols.length).fill(1) };
  const cfg: SidConfig = { ...small, levels: [4], balancedLevels: [], opq: null, keywords: null };
  const level1 = (codes: Int32Array, i: number) => codes[i];
  const onPartnerCode = (codes: Int32Array) => {
    const partnerCode = level1(codes, partners[0]);
    return movers.filter((i) => level1(codes, i) === partnerCode).length;
  };
  const plain = buildSids(tf, { items, embeddings, similarity }, cfg);
  const smoothed = buildSids(tf, { items, embeddings, similarity }, { ...cfg, cooccurrence: { weight: 4 } });
  assert.equal(onPartnerCode(plain.codes), 0);
  assert.ok(onPartnerCode(smoothed.codes) >= 18, `${onPartnerCode(smoothed.codes)} of 20 movers share the partners' code`);
  // Items without co-occurrence keep their category's code.
  const stay = partners.slice(100).filter((i) => level1(smoothed.codes, i) === level1(smoothed.codes, partners[0])).length;
  assert.ok(stay >= partners.slice(100).length - 1);
  // From level 2 on, level 1 is the plain build's and only the finer codes move.
  const two: SidConfig = { ...cfg, levels: [4, 4] };
  const plain2 = buildSids(tf, { items, embeddings, similarity }, two);
  const later = buildSids(tf, { items, embeddings, similarity }, { ...two, cooccurrence: { weight: 4, fromLevel: 2 } });
  const level = (codes: Int32Array, l: number) => Array.from({ length: items.length }, (_, i) => codes[2 * i + l]);
  assert.deepEqual(level(later.codes, 0), level(plain2.codes, 0));
  assert.notDeepEqual(level(later.codes, 1), level(plain2.codes, 1));
  assert.throws(() => buildSids(tf, { items, embeddings, similarity }, { ...cfg, cooccurrence: { weight: 1, fromLevel: 2 } }), /fromLevel 2 is past the 1 RQ levels/);
  assert.throws(() => buildSids(tf, { items, embeddings }, { ...cfg, cooccurrence: { weight: 1 } }), /needs the item-to-item similarity/);
  assert.throws(() => buildSids(tf, { items, embeddings, similarity }, { ...cfg, cooccurrence: { weight: -1 } }), /co-occurrence weight must be a positive number/);
});

test('co-occurrence smoothing keeps each vector length and leaves items without neighbours alone', () => {
  const vectors = { data: Float32Array.of(1, 0, 0, 1, 0, 2), rows: 3, cols: 2 };
  const similarity = { rowStart: Int32Array.of(0, 1, 1, 1), cols: Int32Array.of(1), vals: Float32Array.of(0.5) };
  const out = smoothByCooccurrence(vectors, similarity, { weight: 1 });
  // Item 0: (1, 0) + (0, 1), rescaled to length 1; items 1 and 2 have no neighbours.
  assert.ok(Math.abs(out.data[0] - Math.SQRT1_2) < 1e-6 && Math.abs(out.data[1] - Math.SQRT1_2) < 1e-6, `${out.data.subarray(0, 2)}`);
  assert.deepEqual(Array.from(out.data.subarray(2)), [0, 1, 0, 2]);
  assert.throws(() => smoothByCooccurrence(vectors, { ...similarity, rowStart: Int32Array.of(0, 1) }, { weight: 1 }), /1 rows for 3 items/);
});

test('default config is sized for the catalog', () => {
  assert.deepEqual(defaultSidConfig(12101).levels, [64, 64, 64]);
  assert.deepEqual(defaultSidConfig(12101).opq, { k: 64, subspaces: 2 });
  assert.deepEqual(defaultSidConfig(2000).opq, { k: 32, subspaces: 2 });
  assert.deepEqual(defaultSidConfig(70_000).opq, { k: 256, subspaces: 2 });
  assert.deepEqual(defaultSidConfig(50_000_000).levels, [256, 256, 256]);
});
