import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { embedDataset, ITEM_EMBEDDINGS, QUERY_EMBEDDINGS } from '../src/encoders/embed.js';
import { readEmbeddings, writeEmbeddings } from '../src/encoders/embfile.js';
import { EmbeddingScorer } from '../src/encoders/scorer.js';
import { symmetricInfoNce } from '../src/encoders/loss.js';
import { loadTextEncoder, type TextEncoder } from '../src/encoders/model.js';
import type { EncoderTrainData } from '../src/encoders/pairs.js';
import { charNgrams, fnv1a, itemText, ngramBuckets } from '../src/encoders/text.js';
import { type TrainEncoderOptions, trainTextEncoder } from '../src/encoders/train.js';
import { loadWordVectors } from '../src/encoders/wink.js';
import { evaluateSystem } from '../src/eval/evaluate.js';
import { hemQuery } from '../src/eval/query.js';
import type { EvalCase } from '../src/eval/types.js';
import type { GensearchError } from '../src/errors.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import type { ItemRecord } from '../src/store/types.js';
import { interactionsFrom } from './eval-fixtures.js';
import { tempDir } from './helpers.js';

// Queries share no word with item texts, so only training can tie them to their items.
const NOUNS = ['lipstick', 'shampoo', 'mascara', 'lotion', 'polish', 'perfume', 'brush', 'serum'];
const QUERIES = ['blorp', 'quazzle', 'mivvy', 'tendo', 'frellik', 'yarkon', 'snibble', 'wopzed'];
const CATEGORY = ['makeup', 'hair', 'makeup', 'skin', 'nails', 'fragrance', 'tools', 'skin'];

function catalog(): ItemRecord[] {
  return NOUNS.map((noun, i) => ({
    id: `it${i}`,
    title: `${noun} deluxe`,
    brand: i % 2 ? 'Acme' : 'Unknown',
    categories: [['Shop', CATEGORY[i]]],
    price: null,
    attributes: { colour: i % 2 ? 'red' : 'blue', image: '/img/x.jpg' },
  }));
}

/** Users buy items i, i+1, i+2 (mod 8) with the item's own nonsense query. */
function syntheticData(): EncoderTrainData {
  const items = catalog();
  const sequences: Int32Array[] = [];
  const queries: string[][] = [];
  for (let u = 0; u < 16; u++) {
    const seq = Int32Array.from([0, 1, 2], (k) => (u + k) % items.length);
    sequences.push(seq);
    queries.push([...seq].map((i) => QUERIES[i]));
  }
  return {
    dataset: 'synthetic',
    protocol: 'search',
    split: 'valid',
    items,
    nItems: items.length,
    sequences,
    itemQueries: items.map((it) => it.categories[0].join(' ').toLowerCase()),
    queries,
  };
}

const SMALL: Partial<TrainEncoderOptions> = {
  dim: 16,
  wordDim: 16,
  hidden: 32,
  buckets: 512,
  batchSize: 8,
  epochs: 40,
  lr: 0.01,
  temperature: 0.1,
  seed: 7,
};

function dot(a: Float32Array, i: number, b: Float32Array, j: number, dim: number): number {
  let s = 0;
  for (let k = 0; k < dim; k++) s += a[i * dim + k] * b[j * dim + k];
  return s;
}

test('embeddings round-trip through the Float32 file and its manifest', (t) => {
  const dir = tempDir(t);
  const data = Float32Array.from({ length: 12 }, (_, i) => i / 7 - 0.5);
  const manifest = writeEmbeddings(join(dir, 'items'), { ids: ['a', 'b', 'c'], dim: 4, data }, { modelVersion: 'v1' });
  assert.equal(manifest, join(dir, 'items.json'));
  for (const path of [manifest, join(dir, 'items.f32'), join(dir, 'items')]) {
    const back = readEmbeddings(path);
    assert.deepEqual(back.ids, ['a', 'b', 'c']);
    assert.equal(back.dim, 4);
    assert.equal(back.modelVersion, 'v1');
    assert.deepEqual(back.data, data);
  }
  assert.equal(readFileSync(join(dir, 'items.f32')).byteLength, 48, 'raw float32, no header');
});

test('a truncated, corrupt or mismatched embeddings file is refused with a clear error', (t) => {
  const dir = tempDir(t);
  const path = writeEmbeddings(join(dir, 'e'), { ids: ['a', 'b'], dim: 2, data: Float32Array.of(1, 2, 3, 4) });
  const bin = join(dir, 'e.f32');
  const good = readFileSync(bin);
  writeFileSync(bin, good.subarray(0, 12));
  assert.throws(() => readEmbeddings(path), (e: GensearchError) => e.code === 'BAD_INPUT' && /12 bytes but .* expects 16.*truncated/.test(e.message));
  const flipped = Buffer.from(good);
  flipped[5] ^= 1;
  writeFileSync(bin, flipped);
  assert.throws(() => readEmbeddings(path), /checksum .* does not match .*corrupt/);
  writeFileSync(bin, good);
  const m = JSON.parse(readFileSync(path, 'utf8'));
  writeFileSync(path, JSON.stringify({ ...m, count: 3 }));
  assert.throws(() => readEmbeddings(path), /lists 2 ids but count is 3/);
  writeFileSync(path, '{"format": "something-else"}');
  assert.throws(() => readEmbeddings(path), /not an embeddings manifest/);
  writeFileSync(path, '{oops');
  assert.throws(() => readEmbeddings(path), /not valid JSON/);
  assert.throws(() => readEmbeddings(join(dir, 'missing')), (e: GensearchError) => e.code === 'NOT_FOUND');
  assert.throws(() => writeEmbeddings(join(dir, 'x'), { ids: ['a'], dim: 2, data: Float32Array.of(1) }), /1 ids x dim 2/);
});

test('tokens and hashed n-grams are fixed functions of the text', () => {
  assert.equal(fnv1a(''), 0x811c9dc5);
  assert.equal(fnv1a('a'), 0xe40c292c); // the published FNV-1a 32-bit test vector
  assert.deepEqual(charNgrams('nail', [3, 4]), ['<na', 'nai', 'ail', 'il>', '<nai', 'nail', 'ail>']);
  assert.deepEqual(charNgrams('a', [3, 4]), ['<a>'], 'a short word is its own feature');
  const config = { sizes: [3, 4], buckets: 1000, maxPerWord: 24 };
  const b1 = ngramBuckets('moisturizer', config);
  assert.deepEqual(ngramBuckets('moisturizer', config), b1);
  assert.ok(b1.every((x) => x >= 0 && x < 1000));
  assert.equal(ngramBuckets('supercalifragilisticexpialidocious', config).length, 24, 'capped per word');
  const text = itemText(catalog()[1]);
  assert.equal(text, 'shampoo deluxe ; Acme ; Shop hair ; red', 'title, brand, path, text attributes; no image path');
  assert.equal(itemText({ ...catalog()[0], title: 'Tom &amp; Jerry' }).split(' ; ')[0], 'Tom & Jerry');
});

test('symmetric InfoNCE matches a direct computation and its gradient matches finite differences', () => {
  const n = 4;
  const logits = Float32Array.from({ length: n * n }, (_, i) => Math.sin(i * 1.7) * 2);
  const a = Int32Array.of(10, 11, 10, 12); // a[0] and a[2] are the same text
  const b = Int32Array.of(20, 21, 22, 11); // b[3] is the same text as a[1]
  const logF = new Float32Array(30).map((_, i) => -Math.log(2 + (i % 5)));
  const { loss, grad } = symmetricInfoNce(logits, a, b, logF);
  // Direct: a->b row 1 skips column 3 (a[1]'s own text); b->a skips row 2 for column 0 and
  // row 0 for column 2 (same text as the positive) and row 1 for column 3 (b[3]'s own text).
  let expected = 0;
  for (let i = 0; i < n; i++) {
    const cols = [...Array(n).keys()].filter((j) => j === i || b[j] !== a[i]);
    const z = cols.map((j) => logits[i * n + j] - logF[b[j]]);
    expected += Math.log(z.reduce((s, v) => s + Math.exp(v), 0)) - (logits[i * n + i] - logF[b[i]]);
  }
  for (let j = 0; j < n; j++) {
    const rows = [...Array(n).keys()].filter((i) => i === j || (a[i] !== a[j] && a[i] !== b[j]));
    const z = rows.map((i) => logits[i * n + j] - logF[a[i]]);
    expected += Math.log(z.reduce((s, v) => s + Math.exp(v), 0)) - (logits[j * n + j] - logF[a[j]]);
  }
  assert.ok(Math.abs(loss - expected / (2 * n)) < 1e-6, `${loss} vs ${expected / (2 * n)}`);
  for (let k = 0; k < n * n; k++) {
    const plus = Float32Array.from(logits);
    const minus = Float32Array.from(logits);
    plus[k] += 1e-2;
    minus[k] -= 1e-2;
    const fd = (symmetricInfoNce(plus, a, b, logF).loss - symmetricInfoNce(minus, a, b, logF).loss) / 2e-2;
    assert.ok(Math.abs(fd - grad[k]) < 1e-3, `grad[${k}] ${grad[k]} vs finite difference ${fd}`);
  }
});

/** How many of the nonsense queries have their own item as the nearest item. */
function queriesOnTheirItem(encoder: TextEncoder, data: EncoderTrainData): number {
  const items = encoder.encode(data.items.map(itemText));
  const queries = encoder.encode(QUERIES);
  let hits = 0;
  for (let q = 0; q < QUERIES.length; q++) {
    const row = Array.from({ length: NOUNS.length }, (_, i) => dot(queries, q, items, i, encoder.dim));
    if (row.indexOf(Math.max(...row)) === q) hits++;
  }
  return hits;
}

for (const pooling of ['mean', 'attention'] as const) {
  test(`training (${pooling} pooling) pulls each query to its own item, which the untrained encoder does not`, async () => {
    const data = syntheticData();
    const untrained = await trainTextEncoder(data, { ...SMALL, pooling, losses: ['q2i'], epochs: 0 });
    assert.ok(queriesOnTheirItem(untrained.encoder, data) < QUERIES.length, 'untrained already solves it: the test would prove nothing');
    const { encoder, report } = await trainTextEncoder(data, { ...SMALL, pooling, losses: ['q2i'] });
    assert.deepEqual(report.losses, ['q2i']);
    assert.equal(queriesOnTheirItem(encoder, data), QUERIES.length);
  });
}

test('encoded rows have unit length, unseen words included; save/load keeps the encoder exactly', async (t) => {
  const data = syntheticData();
  const { encoder } = await trainTextEncoder(data, { ...SMALL, epochs: 2 });
  const rows = encoder.encode([...data.items.map(itemText), 'glorbulent shampo', '']);
  for (let i = 0; i < NOUNS.length + 1; i++) assert.ok(Math.abs(dot(rows, i, rows, i, encoder.dim) - 1) < 1e-4, `row ${i}`);
  const dir = tempDir(t);
  encoder.save(dir);
  const loaded = await loadTextEncoder(dir);
  assert.equal(loaded.version, encoder.version);
  assert.deepEqual(loaded.encode(QUERIES), encoder.encode(QUERIES));
  const weights = join(dir, 'weights.f32');
  writeFileSync(weights, readFileSync(weights).subarray(0, 100));
  await assert.rejects(loadTextEncoder(dir), /truncated/);
  await assert.rejects(loadTextEncoder(join(dir, 'nowhere')), (e: GensearchError) => e.code === 'NOT_FOUND');
});

test('the same seed gives the same encoder; another seed does not', async () => {
  const data = syntheticData();
  const options = { ...SMALL, epochs: 3 };
  const a = await trainTextEncoder(data, options);
  const b = await trainTextEncoder(data, options);
  const c = await trainTextEncoder(data, { ...options, seed: 8 });
  assert.deepEqual(a.report.losses, ['q2i', 'i2i', 'q2q']);
  assert.equal(a.encoder.version, b.encoder.version);
  assert.deepEqual(a.encoder.encode(QUERIES), b.encoder.encode(QUERIES));
  assert.notEqual(a.encoder.version, c.encoder.version);
});

test('training and encoding leave no tensor behind once the encoder is disposed', async () => {
  const tf = await initTensorRuntime();
  const before = tf.memory().numTensors;
  const { encoder } = await trainTextEncoder(syntheticData(), { ...SMALL, pooling: 'attention', epochs: 3 });
  encoder.encode(QUERIES);
  encoder.dispose();
  assert.equal(tf.memory().numTensors, before);
});

test('the embedding scorer ranks by query . item for search and last item . item for rec', async () => {
  const data = syntheticData();
  const { encoder } = await trainTextEncoder(data, { ...SMALL, losses: ['q2i'] });
  const scorer = new EmbeddingScorer(encoder);
  await scorer.fit(data);
  const cases: EvalCase[] = QUERIES.map((query, i) => ({ user: i, history: Int32Array.of((i + 1) % 8), query, targets: Int32Array.of(i) }));
  const result = await evaluateSystem(scorer, cases, { nItems: data.nItems, ks: [1], excludeHistory: 'no' });
  assert.equal(result.variants[0].means['recall@1'], 1, 'every query ranks its own item first');
  const out = new Float32Array(data.nItems);
  await scorer.scoreBatch([{ user: 0, history: Int32Array.of(3), query: null, targets: Int32Array.of(4) }], out);
  const items = encoder.encode(data.items.map(itemText));
  assert.ok(Math.abs(out[5] - dot(items, 3, items, 5, encoder.dim)) < 1e-5, 'rec scores are last item . item');
});

test('embedDataset trains on the training view and writes encoder, item and query embeddings that load back', async (t) => {
  const inter = interactionsFrom(
    Array.from({ length: 16 }, (_, u) => [0, 1, 2, 3].map((k) => (u + k) % 8)),
    8,
  );
  const { items } = inter;
  const dir = tempDir(t);
  const result = await embedDataset(inter, { ...SMALL, epochs: 2, dir, evaluate: ['valid', 'test'], historyWeights: [0.5] });
  const itemsFile = readEmbeddings(join(dir, ITEM_EMBEDDINGS));
  assert.deepEqual(itemsFile.ids, items.map((it) => it.id));
  assert.equal(itemsFile.modelVersion, result.encoder.version);
  assert.deepEqual(itemsFile.data, result.encoder.encode(items.map(itemText)));
  const queriesFile = readEmbeddings(join(dir, QUERY_EMBEDDINGS));
  assert.deepEqual(queriesFile.ids, [...new Set(items.map(hemQuery))], 'one row per distinct HEM query');
  assert.deepEqual(queriesFile.data, result.encoder.encode(queriesFile.ids));
  assert.equal((await loadTextEncoder(dir)).version, result.encoder.version);
  const evaluation = result.evaluation!;
  assert.deepEqual(
    evaluation.map((e) => `${e.protocol}/${e.split}/${e.historyWeight}`),
    ['search/valid/0', 'search/valid/0.5', 'rec/valid/0', 'search/test/0', 'search/test/0.5', 'rec/test/0'],
  );
  assert.ok(evaluation.every((e) => e.nCases === 16 && e.excluded['recall@350'] >= 0));
});

test('bad input is refused with what was expected', async () => {
  const empty = { ...syntheticData(), items: [], nItems: 0, sequences: [], itemQueries: [], queries: [] };
  await assert.rejects(trainTextEncoder(empty, SMALL), /catalog is empty/);
  const noBehaviour = { ...syntheticData(), sequences: [], queries: [] };
  await assert.rejects(trainTextEncoder(noBehaviour, SMALL), /none of the losses q2i, i2i, q2q has training pairs/);
  await assert.rejects(trainTextEncoder(syntheticData(), { ...SMALL, losses: ['x2y' as 'q2i'] }), /losses must be one or more of q2i, i2i, q2q/);
  await assert.rejects(trainTextEncoder(syntheticData(), { ...SMALL, epochs: 1.5 }), /epochs must be an integer >= 0, got 1.5/);
});

test('word vectors are read from a wink-format file by streaming, with the two extra numbers dropped', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'vectors.json');
  const vectors: Record<string, number[]> = { the: [1, 2, 3, 9, 0], 'lip"gloss': [4, 5, 6, 9, 1], serum: [7, 8, 9.5, 9, 2] };
  writeFileSync(file, JSON.stringify({ precision: 8, dimensions: 3, words: ['vectors', 'the'], vectors, unkVector: [0, 0, 0, 0, 0] }));
  const got = await loadWordVectors(['serum', 'lip"gloss', 'absent'], { source: file, cacheDir: dir });
  assert.deepEqual([...got.keys()].sort(), ['lip"gloss', 'serum']);
  assert.deepEqual(got.get('serum'), Float32Array.of(7, 8, 9.5));
  // Served from the cache the second time (the source may even be gone).
  writeFileSync(file, 'not json');
  const cached = await loadWordVectors(['serum', 'lip"gloss', 'absent'], { source: file, cacheDir: dir });
  assert.deepEqual(cached.get('lip"gloss'), Float32Array.of(4, 5, 6));
  await assert.rejects(loadWordVectors(['x'], { source: file }), /not a wink embeddings file/);
});
