import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BM25, buildBM25, scoreBM25 } from '../src/baselines/bm25.js';
import { ItemCF } from '../src/baselines/itemcf.js';
import { alignedEmbeddings } from '../src/cascade/embeddings.js';
import { CASCADE_DEFAULTS } from '../src/cascade/knobs.js';
import { HEAD_USER_TOWER, HeadPriors } from '../src/decode/priors.js';
import { headPriorsFor } from '../src/decode/ranker.js';
import { generativeConfig } from '../src/model/generative.js';
import { Swing } from '../src/baselines/swing.js';
import { Popular } from '../src/baselines/popular.js';
import { baseline, parseSettings } from '../src/baselines/registry.js';
import { tuneBaseline } from '../src/baselines/tune.js';
import { evaluateSystem } from '../src/eval/evaluate.js';
import { buildEvalData } from '../src/eval/protocol.js';
import type { DenseScorer, EvalCase } from '../src/eval/types.js';
import type { ItemRecord } from '../src/store/types.js';
import { Rng } from '../src/tensor/rng.js';
import { interactionsFrom, plantedChain } from './eval-fixtures.js';

const evalCase = (history: number[], query: string | null = null): EvalCase => ({
  user: 0,
  history: Int32Array.from(history),
  query,
  targets: Int32Array.of(0),
});

/** Scores of one case from a fitted dense scorer. */
async function scoresOf(system: DenseScorer, nItems: number, c: EvalCase): Promise<Float32Array> {
  const out = new Float32Array(nItems);
  await system.scoreBatch([c], out);
  return out;
}
const argmax = (a: Float32Array) => a.indexOf(Math.max(...a));

test('popular ranks by training counts and never sees held-out items', async () => {
  // Items 2 and 3 are bought by everyone, but always as the held-out last two: they must not count.
  const inter = interactionsFrom([[0, 1, 3, 2], [0, 1, 2, 3], [1, 0, 3, 2], [0, 4, 3, 2]], 5);
  const { train } = buildEvalData(inter, 'rec', 'test');
  const pop = new Popular();
  pop.fit(train);
  assert.deepEqual(Array.from(await scoresOf(pop, 5, evalCase([]))), [4, 3, 0, 0, 1]);
});

test('ItemCF recovers a planted co-occurrence and beats popularity by far', async () => {
  const inter = plantedChain({ users: 400, follow: 0.85 });
  const { train, cases } = buildEvalData(inter, 'rec', 'test');
  const n = train.nItems;
  const cf = new ItemCF();
  cf.fit(train);
  // After item 10 the chain goes to 11.
  assert.equal(argmax(await scoresOf(cf, n, evalCase([10]))), 11);
  // Recency: with item 30 last, 31 must outrank 11; with recency 1 both histories weigh alike.
  const recent = await scoresOf(cf, n, evalCase([10, 30]));
  assert.ok(recent[31] > recent[11], 'the most recent item leads');
  const flat = new ItemCF({ recency: 1 });
  flat.fit(train);
  const flatScores = await scoresOf(flat, n, evalCase([10, 30]));
  assert.ok(Math.abs(flatScores[31] - flatScores[11]) < 0.5 * flatScores[11], 'no recency: similar weight');
  // Items nobody co-bought with the history still get an order (popularity), below the rest.
  const s = await scoresOf(cf, n, evalCase([10]));
  assert.ok(s.every((v) => v > 0));
  const options = { nItems: n, ks: [10] };
  const cfEval = await evaluateSystem(cf, cases, options);
  const pop = new Popular();
  pop.fit(train);
  const popEval = await evaluateSystem(pop, cases, options);
  const cfR = cfEval.variants[1].means['recall@10'];
  const popR = popEval.variants[1].means['recall@10'];
  assert.ok(cfR > 0.7 && popR < 0.4, `itemcf R@10 ${cfR} vs popular ${popR}`);
});

test('ItemCF options: neighbours cap the rows, backward 0 keeps only forward pairs', () => {
  const inter = plantedChain({ users: 300 });
  const { train } = buildEvalData(inter, 'rec', 'valid');
  const capped = new ItemCF({ neighbors: 3 });
  capped.fit(train);
  const { rowStart } = capped.similarity();
  for (let i = 0; i < train.nItems; i++) assert.ok(rowStart[i + 1] - rowStart[i] <= 3);
  const forward = new ItemCF({ backward: 0 });
  forward.fit(interactionsFromTrain([[0, 1, 2, 9, 9]]));
  const sim = forward.similarity();
  const row = (i: number) => Array.from(sim.cols.subarray(sim.rowStart[i], sim.rowStart[i + 1]));
  assert.deepEqual(row(0), [1, 2]);
  assert.deepEqual(row(2), [], 'nothing follows the last training item');
});

/** A training view whose sequences are exactly `seqs` (the last two items are held out). */
function interactionsFromTrain(seqs: number[][]) {
  return buildEvalData(interactionsFrom(seqs, 10), 'rec', 'valid').train;
}

test('Swing matches its formula on a hand example and finds chain neighbours', async () => {
  // Training sets (the last two items of each sequence are held out): u0 {0,1}, u1 {0,1,2,3}, u2 {0,1,2}.
  const swing = new Swing({ userPower: 0, smoothing: 1 });
  swing.fit(interactionsFromTrain([[0, 1, 8, 9], [0, 1, 2, 3, 8, 9], [0, 1, 2, 8, 9]]));
  const sim = swing.similarity();
  const at = (i: number, j: number) => {
    for (let e = sim.rowStart[i]; e < sim.rowStart[i + 1]; e++) if (sim.cols[e] === j) return sim.vals[e];
    return 0;
  };
  // Pairs who bought 0 and 1: {u0,u1} share 2 items, {u0,u2} 2, {u1,u2} 3: 1/3 + 1/3 + 1/4.
  assert.ok(Math.abs(at(0, 1) - 11 / 12) < 1e-6, `${at(0, 1)}`);
  assert.ok(Math.abs(at(0, 2) - 1 / 4) < 1e-6, 'only {u1,u2} bought 0 and 2');
  assert.equal(at(2, 3), 0, 'one user alone makes no pair');
  assert.equal(at(1, 0), at(0, 1), 'symmetric');
  const inter = plantedChain({ users: 400, follow: 0.85 });
  const { train } = buildEvalData(inter, 'rec', 'test');
  const planted = new Swing();
  planted.fit(train);
  const best = argmax(await scoresOf(planted, train.nItems, evalCase([10])));
  assert.ok(best === 9 || best === 11, `neighbour of 10 on the chain, got ${best}`);
});

const doc = (title: string, category = 'Misc'): ItemRecord => ({
  id: title,
  title,
  brand: null,
  categories: [[category]],
  price: null,
  attributes: {},
});

test('BM25 matches the formula on a hand example', () => {
  // Category "misc" is in every document; lengths (with it): 3, 5, 3; average 11/3.
  const items = [doc('red lipstick'), doc('red red nail polish'), doc('blue shampoo')];
  const classic = { k1: 1.2, b: 0.75, titleWeight: 1, brandWeight: 1, categoryWeight: 1 };
  const index = buildBM25(items, classic);
  const row = new Float32Array(3);
  scoreBM25(index, 'the red', row);
  const idf = Math.log(1 + (3 - 2 + 0.5) / (2 + 0.5));
  const bm = (tf: number, len: number) => (idf * tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * len) / (11 / 3)));
  assert.ok(Math.abs(row[0] - bm(1, 3)) < 1e-6, `${row[0]} vs ${bm(1, 3)}`);
  assert.ok(Math.abs(row[1] - bm(2, 5)) < 1e-6, `${row[1]} vs ${bm(2, 5)}`);
  assert.equal(row[2], 0);
  // A word in every document still counts a little (Lucene idf is never negative).
  const all = new Float32Array(3);
  scoreBM25(index, 'misc', all);
  assert.ok(all.every((v) => v > 0));
  // Field weights scale term frequency and length: a title weight of 2 doubles tf of "red".
  const weighted = new Float32Array(3);
  scoreBM25(buildBM25(items, { ...classic, titleWeight: 2 }), 'red', weighted);
  const avg2 = (5 + 9 + 5) / 3;
  const bm2 = (tf: number, len: number) => (idf * tf * 2.2) / (tf + 1.2 * (0.25 + (0.75 * len) / avg2));
  assert.ok(Math.abs(weighted[0] - bm2(2, 5)) < 1e-6, `${weighted[0]} vs ${bm2(2, 5)}`);
});

test('BM25 serves search only and says so', async () => {
  const bm25 = new BM25();
  bm25.fit(buildEvalData(plantedChain({ users: 20 }), 'search', 'test').train);
  assert.deepEqual(bm25.protocols, ['search']);
  await assert.rejects(async () => bm25.scoreBatch([evalCase([1])], new Float32Array(60)), /use --protocol search/);
});

test('BM25 + ItemCF personalises: the query picks the category, the history picks the item', async () => {
  const inter = plantedChain({ users: 400, follow: 0.85 });
  const { train, cases } = buildEvalData(inter, 'search', 'test');
  const options = { nItems: train.nItems, ks: [1, 10] };
  const results: Record<string, number> = {};
  for (const name of ['bm25', 'itemcf', 'bm25-personal']) {
    const spec = baseline(name);
    const system = spec.create(spec.defaults);
    await system.fit(train);
    results[name] = (await evaluateSystem(system, cases, options)).variants[1].means['recall@1'];
  }
  // 60 items in 5 categories: the query alone narrows to 12 items, so R@1 about 1/12.
  assert.ok(results.bm25 < 0.2, `bm25 ${results.bm25}`);
  assert.ok(results['bm25-personal'] > results.itemcf, JSON.stringify(results));
  assert.ok(results['bm25-personal'] > 0.7, JSON.stringify(results));
});

test('the head priors are ItemCF of the history and BM25 of the query, as sparse rows', () => {
  const inter = plantedChain({ users: 200 });
  const { train } = buildEvalData(inter, 'search', 'test');
  const priors = HeadPriors.fit(train);
  const itemcf = new ItemCF();
  itemcf.fit(train);
  const history = Int32Array.of(3, 7);
  const nonzero = (row: Float32Array) => ({ items: Array.from(row.keys()).filter((j) => row[j] > 0), scores: Array.from(row.filter((x) => x > 0)) });
  const plain = (p: { items: Int32Array; scores: Float32Array } | undefined) => p && { items: Array.from(p.items), scores: Array.from(p.scores) };
  const cf = new Float32Array(train.nItems);
  itemcf.addHistoryScores(history, cf);
  const text = new Float32Array(train.nItems);
  scoreBM25(buildBM25(train.items), 'lipstick', text);
  const withQuery = priors.of(history, 'lipstick');
  assert.deepEqual(plain(withQuery.coPurchase), nonzero(cf));
  assert.deepEqual(plain(withQuery.textMatch), nonzero(text));
  assert.ok(withQuery.coPurchase!.items.includes(8), 'the planted successor of the last item is co-purchased');
  assert.equal(withQuery.textMatch!.items.length, train.nItems / 5, 'the query matches its category');
  assert.equal(priors.of(history, null).textMatch, undefined, 'no query, no text prior');
  assert.equal(priors.of(history, '  ').textMatch, undefined);
});

test('the head priors carry the query\'s aligned vector and the history\'s user tower', async () => {
  const nItems = 30;
  const { train } = buildEvalData(plantedChain({ users: 100, nItems }), 'search', 'test');
  const dim = 8;
  const rng = new Rng(3);
  const unit = (v: Float32Array) => v.map((x) => x / Math.hypot(...v));
  const rows = new Float32Array(nItems * dim);
  for (let i = 0; i < nItems; i++) rows.set(unit(Float32Array.from({ length: dim }, () => rng.next() - 0.5)), i * dim);
  const queryVector = unit(Float32Array.from({ length: dim }, (_, d) => d + 1));
  const embeddings = alignedEmbeddings(dim, rows, (texts) => new Float32Array(texts.length * dim).map((_, j) => queryVector[j % dim]), 'fixture');
  const row = (i: number) => rows.subarray(i * dim, (i + 1) * dim);
  const history = Int32Array.of(3, 7, 12);
  // The cascade's tower: the last item first, each earlier one at recency^t.
  assert.deepEqual(HEAD_USER_TOWER, { history: CASCADE_DEFAULTS.userHistory, recency: CASCADE_DEFAULTS.userRecency });
  const r = HEAD_USER_TOWER.recency;
  const tower = unit(row(12).map((x, d) => x + r * row(7)[d] + r * r * row(3)[d]));
  const priors = HeadPriors.fit(train, { embeddings });
  const full = priors.of(history, 'lipstick');
  assert.deepEqual(Array.from(full.queryVector!), Array.from(queryVector));
  full.userVector!.forEach((x, d) => assert.ok(Math.abs(x - tower[d]) < 1e-6, `user tower dim ${d}: ${x} vs ${tower[d]}`));
  assert.equal(priors.of(history, null).queryVector, undefined, 'no query, no query vector');
  assert.ok(priors.of(history, null).userVector);
  assert.equal(priors.of(new Int32Array(0), 'lipstick').userVector, undefined, 'no history, no user tower');
  // The nearest-item prior reads the tower's last items, oldest first.
  assert.deepEqual(Array.from(full.historyVectors!), [...row(3), ...row(7), ...row(12)]);
  const long = Int32Array.from({ length: HEAD_USER_TOWER.history + 2 }, (_, t) => t);
  assert.deepEqual(Array.from(priors.of(long, null).historyVectors!), Array.from(rows.subarray(2 * dim, long.length * dim)));
  assert.equal(priors.of(new Int32Array(0), null).historyVectors, undefined, 'no history, no history vectors');
  const without = HeadPriors.fit(train).of(history, 'lipstick');
  assert.equal(without.queryVector ?? without.userVector ?? without.historyVectors, undefined, 'no embeddings, no vectors');
  // What the ranker and the CLI fit: nothing without a head or with every weight 0; a cosine
  // weight without the embeddings says how to build them.
  const head = generativeConfig({ profile: 'tiny', textVocab: 20, sidSizes: [4, 5], nItems, itemEmbedding: true, itemHead: 1 });
  const plain = generativeConfig({ profile: 'tiny', textVocab: 20, sidSizes: [4, 5], nItems });
  const load = async () => embeddings;
  assert.equal((await headPriorsFor(head, train, {}, load))?.embeddings, embeddings);
  assert.equal(await headPriorsFor(plain, train, {}, load), undefined);
  assert.equal(await headPriorsFor(head, train, { coPurchaseWeight: 0, textMatchWeight: 0, queryCosineWeight: 0, userCosineWeight: 0, historyCosineWeight: 0 }, load), undefined);
  assert.equal((await headPriorsFor(head, train, {}, async () => undefined))?.embeddings, undefined);
  await assert.rejects(headPriorsFor(head, train, { historyCosineWeight: 1 }, async () => undefined), /need the aligned embeddings of dataset "synthetic": run `gensearch embed --dataset synthetic`/);
});

test('knob settings are checked against the registry', () => {
  assert.deepEqual(parseSettings(['itemcf.recency=0.6', 'itemcf.iuf=0']).get('itemcf'), { recency: 0.6, iuf: 0 });
  assert.throws(() => parseSettings(['itemcf.speed=2']), /itemcf has no knob "speed"; its knobs: recency/);
  assert.throws(() => parseSettings(['itemcf.recency=fast']), /expects a number/);
  assert.throws(() => parseSettings(['nope.x=1']), /unknown system "nope"/);
});

test('tuning searches the validation split and finds a better recency than a bad start', async () => {
  const inter = plantedChain({ users: 300 });
  const spec = baseline('itemcf');
  const result = await tuneBaseline(inter, spec, {
    protocol: 'rec',
    start: { recency: 1 },
    grid: { recency: [0.1, 0.5, 1] },
    passes: 1,
  });
  assert.equal(result.trials.length, 3, 'the start value is tried once');
  assert.ok(result.best.recency < 1, `best ${JSON.stringify(result.best)}`);
  assert.ok(result.score >= Math.max(...result.trials.map((t) => t.score)));
  await assert.rejects(tuneBaseline(inter, spec, { protocol: 'rec', grid: { speed: [1] } }), /no knob "speed"/);
});
