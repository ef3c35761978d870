import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AnnIndex, HNSW_DEFAULTS } from '../src/cascade/ann.js';
import { Cascade, cascadeModelDir } from '../src/cascade/cascade.js';
import { CandidateGenerator, CHANNELS, FEATURES, N_FEATURES } from '../src/cascade/candidates.js';
import { type AlignedEmbeddings, alignedEmbeddings } from '../src/cascade/embeddings.js';
import { CASCADE_DEFAULTS, type CascadeKnobs, candidateOptions, cascadeKnobs } from '../src/cascade/knobs.js';
import { calibration, type RankerConfig, type RankerParams, type RankInput, collateRankInputs, rankerObjective, rankerSpec, scoreRankInputs } from '../src/cascade/ranker.js';
import { rankedMetrics, trainCascade } from '../src/cascade/train.js';
import { itemText } from '../src/encoders/text.js';
import { GensearchError } from '../src/errors.js';
import { evaluateSystem } from '../src/eval/evaluate.js';
import { buildEvalData } from '../src/eval/protocol.js';
import { tokenize } from '../src/eval/query.js';
import type { EvalCase } from '../src/eval/types.js';
import { disposeParams, packParams } from '../src/model/params.js';
import { ADAM_DEFAULTS } from '../src/tensor/adam.js';
import { Rng } from '../src/tensor/rng.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { train as trainLoop } from '../src/tensor/trainer.js';
import { plantedChain } from './eval-fixtures.js';
import { tempDir } from './helpers.js';

/** A real if simple text embedding: each word a seeded random direction, a text their normalised sum. */
function hashedEncoder(dim: number): (texts: readonly string[]) => Float32Array {
  const words = new Map<string, Float32Array>();
  const wordVector = (w: string): Float32Array => {
    let v = words.get(w);
    if (!v) {
      let h = 2166136261;
      for (const ch of w) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
      const rng = new Rng(h >>> 0 || 1);
      v = Float32Array.from({ length: dim }, () => rng.next() - 0.5);
      words.set(w, v);
    }
    return v;
  };
  return (texts) => {
    const out = new Float32Array(texts.length * dim);
    texts.forEach((t, i) => {
      const row = out.subarray(i * dim, (i + 1) * dim);
      for (const w of tokenize(t)) row.forEach((_, j) => (row[j] += wordVector(w)[j]));
      const norm = Math.hypot(...row) || 1;
      row.forEach((x, j) => (row[j] = x / norm));
    });
    return out;
  };
}

function syntheticSearch(users = 400) {
  const inter = plantedChain({ users, nItems: 60 });
  const { train, cases } = buildEvalData(inter, 'search', 'valid');
  const encode = hashedEncoder(32);
  const emb = alignedEmbeddings(32, encode(train.items.map(itemText)), encode, 'hashed-test');
  return { inter, train, cases, emb };
}

const small: CascadeKnobs = {
  ...CASCADE_DEFAULTS,
  quotaBm25: 20,
  quotaAnn: 20,
  quotaItemcf: 20,
  prerankSize: 10,
  historyLen: 8,
  attnDim: 8,
  hidden: 16,
  hardNegatives: 4,
  randomNegatives: 2,
  batchSize: 32,
  epochs: 3,
  lr: 3e-3,
  validCases: 0,
};

test('recall channels on a tiny catalog: BM25 finds the query term, ANN the nearest vectors, ItemCF the planted successor', () => {
  const { train, emb } = syntheticSearch();
  const gen = new CandidateGenerator(emb, candidateOptions({ ...small, quotaBm25: 5, quotaAnn: 5, quotaItemcf: 5 }));
  gen.fit(train);
  // Items i with i % 5 === 2 are lipsticks (CATEGORIES in eval-fixtures); item 10's planted successor is 11.
  const c: EvalCase = { user: 0, history: Int32Array.of(4, 10), query: 'lipstick', targets: Int32Array.of(12) };
  const [cands] = gen.generate([c]);
  assert.equal(cands.channelItems.bm25.length, 5);
  for (const item of cands.channelItems.bm25) assert.equal(item % 5, 2, `BM25 returned item ${item}, not a lipstick`);
  // ANN = the exact inner-product top 5 on this small catalog.
  const q = emb.encodeQueries(['lipstick']);
  const exact = Array.from({ length: train.nItems }, (_, i) => i)
    .map((i) => ({ i, s: emb.items.subarray(i * 32, (i + 1) * 32).reduce((a, x, j) => a + x * q[j], 0) }))
    .sort((a, b) => b.s - a.s)
    .slice(0, 5)
    .map((x) => x.i);
  assert.deepEqual([...cands.channelItems.ann].sort((a, b) => a - b), exact.sort((a, b) => a - b));
  assert.equal(cands.channelItems.itemcf[0], 11, 'ItemCF ranks the planted successor of the last item first');
  // Merge: every channel's items, each once; features say which channels found each one.
  assert.equal(new Set(cands.items).size, cands.items.length);
  assert.ok(cands.items.length <= 15);
  const feature = (item: number, name: (typeof FEATURES)[number]) => cands.features[cands.items.indexOf(item) * N_FEATURES + FEATURES.indexOf(name)];
  for (const ch of CHANNELS) {
    for (const item of cands.channelItems[ch]) {
      assert.ok(cands.items.includes(item), `${ch} item ${item} missing from the merged set`);
      assert.equal(feature(item, ch === 'bm25' ? 'inBm25' : ch === 'ann' ? 'inAnn' : 'inItemcf'), 1);
    }
  }
  // Sorted by the pre-rank score, which is a feature.
  const pre = Array.from(cands.items, (_, i) => cands.features[i * N_FEATURES + FEATURES.indexOf('prerank')]);
  for (let i = 1; i < pre.length; i++) assert.ok(pre[i - 1] >= pre[i]);
});

test('HNSW search finds almost all exact nearest neighbours and rejects bad parameters', () => {
  const dim = 16;
  const n = 2000;
  const rng = new Rng(3);
  const rows = Float32Array.from({ length: n * dim }, () => rng.next() - 0.5);
  const index = new AnnIndex(rows, dim, HNSW_DEFAULTS);
  assert.equal(index.size, n);
  let found = 0;
  for (let t = 0; t < 20; t++) {
    const q = Float32Array.from({ length: dim }, () => rng.next() - 0.5);
    const exact = Array.from({ length: n }, (_, i) => i)
      .map((i) => ({ i, s: rows.subarray(i * dim, (i + 1) * dim).reduce((a, x, j) => a + x * q[j], 0) }))
      .sort((a, b) => b.s - a.s)
      .slice(0, 10);
    const hits = index.search(q, 10);
    assert.ok(Math.abs(hits.scores[0] - exact[0].s) < 1e-4 || hits.scores[0] <= exact[0].s + 1e-4, 'scores are inner products');
    found += exact.filter((e) => hits.items.includes(e.i)).length;
  }
  assert.ok(found / 200 >= 0.95, `recall@10 ${found / 200}`);
  assert.throws(() => new AnnIndex(rows, dim, { ...HNSW_DEFAULTS, connectivity: 1 }), GensearchError);
  assert.throws(() => index.search(new Float32Array(3), 5), /dimensions/);
});

test('the DIN ranker learns a planted history signal and beats its untrained self', async (t) => {
  await initTensorRuntime();
  const dim = 16;
  const nItems = 200;
  const rng = new Rng(5);
  const items = new Float32Array(nItems * dim);
  for (let i = 0; i < nItems; i++) {
    const v = Array.from({ length: dim }, () => rng.next() - 0.5);
    const norm = Math.hypot(...v);
    v.forEach((x, j) => (items[i * dim + j] = x / norm));
  }
  // Items come in pairs (2k, 2k+1) with nearly the same vector: the positive is the partner of
  // one history item, the negatives are random. Only attention over the history can tell.
  for (let i = 0; i < nItems; i += 2) for (let j = 0; j < dim; j++) items[(i + 1) * dim + j] = items[i * dim + j] + 0.05 * (rng.next() - 0.5);
  const cfg: RankerConfig = { dim, features: N_FEATURES, historyLen: 6, attnDim: 8, hidden: 16, dropout: 0 };
  const makeCase = (): RankInput => {
    const history = Int32Array.from({ length: 6 }, () => 2 * rng.int(nItems / 2));
    const positive = history[rng.int(6)] + 1;
    const list = [positive, ...Array.from({ length: 7 }, () => 2 * rng.int(nItems / 2) + 1).filter((x) => x !== positive)];
    return { history, query: new Float32Array(dim), items: Int32Array.from(list), features: new Float32Array(list.length * N_FEATURES), labels: Float32Array.from(list, (_, i) => (i === 0 ? 1 : 0)) };
  };
  const trainCases = Array.from({ length: 800 }, makeCase);
  const held = Array.from({ length: 200 }, makeCase);
  const targets = held.map((x) => x.items[0]);
  const quality = (p: RankerParams) => {
    const scores = scoreRankInputs(p, cfg, held, items);
    const probs = scores.flatMap((s) => Array.from(s));
    const labels = held.flatMap((x) => Array.from(x.labels!));
    return { mrr: rankedMetrics(scores, held, targets)['mrr@10'], logLoss: calibration(probs, labels).logLoss };
  };
  const untrained = rankerObjective(cfg).init(new Rng(1));
  const before = quality(untrained);
  disposeParams(untrained);
  const result = await trainLoop({
    spec: rankerSpec(cfg),
    data: { size: trainCases.length, collate: (ids) => collateRankInputs(Array.from(ids, (i) => trainCases[i]), cfg, items) },
    config: { epochs: 8, batchSize: 32, lr: 1e-2, warmupSteps: 10, schedule: 'constant', adam: ADAM_DEFAULTS, seed: 1, patience: 0, bucketByLength: false },
    outDir: tempDir(t),
    log: () => {},
  });
  const after = quality(result.params as RankerParams);
  disposeParams(result.params);
  // Chance MRR@10 with 8 candidates is about 0.34.
  assert.ok(after.mrr > 0.8 && after.mrr > before.mrr + 0.3, `MRR@10 ${before.mrr.toFixed(3)} -> ${after.mrr.toFixed(3)}`);
  assert.ok(after.logLoss < before.logLoss - 0.1, `log-loss ${before.logLoss.toFixed(3)} -> ${after.logLoss.toFixed(3)}`);
});

test('cascade training resumes from a checkpoint to the same ranker, and eval --system cascade uses it', async (t) => {
  await initTensorRuntime();
  const { train, cases, emb } = syntheticSearch();
  const valid = cases.slice(0, 150);
  const whole = await trainCascade(train, { knobs: small, emb, valid, outDir: tempDir(t), log: () => {} });
  const home = tempDir(t);
  const dir = cascadeModelDir(home, train, small, emb.version);
  const first = await trainCascade(train, { knobs: small, emb, valid, outDir: dir, maxSteps: 5, log: () => {} });
  assert.equal(first.train.state.step, 5);
  disposeParams(first.params);
  const resumed = await trainCascade(train, { knobs: small, emb, valid, outDir: dir, resume: true, log: () => {} });
  assert.equal(resumed.train.resumedFromStep, 5);
  assert.deepEqual(Array.from(packParams(resumed.params)), Array.from(packParams(whole.params)));
  assert.ok(whole.trainingCases > 100, `only ${whole.trainingCases} training cases reached the pre-rank cut`);
  assert.ok(whole.calibration.logLoss > 0 && whole.calibration.ece >= 0 && whole.calibration.ece < 1);
  disposeParams(whole.params);
  disposeParams(resumed.params);

  // The eval system loads that model: a ranked head of probabilities, then pre-rank order.
  const system = new Cascade('cascade', small, home, { rank: true, embeddings: emb });
  await system.fit(train);
  const lists = system.rankBatch(cases.slice(150, 170));
  for (const l of lists) {
    assert.equal(new Set(l.items).size, l.items.length);
    for (let i = 1; i < l.items.length; i++) assert.ok(l.scores[i - 1] >= l.scores[i]);
    for (let i = 0; i < small.prerankSize; i++) assert.ok(l.scores[i] >= 0 && l.scores[i] <= 1);
  }
  const r = await evaluateSystem(system, cases.slice(150), { nItems: train.nItems, ks: [10], excludeHistory: 'no' });
  system.dispose();
  // Chance R@10 is 10 / 60; the planted chain makes the successor easy to find.
  assert.ok(r.variants[0].means['recall@10'] > 0.5, `R@10 ${r.variants[0].means['recall@10']}`);
});

test('cascade bad input: unknown or invalid knobs, a missing model, recommendation cases, wrong embeddings', async (t) => {
  assert.throws(() => cascadeKnobs({ quotaAnnn: 10 }), /no knob "quotaAnnn"/);
  assert.throws(() => cascadeKnobs({ quotaAnn: -1 }), GensearchError);
  const { train, cases, emb } = syntheticSearch(100);
  const nothing = cascadeKnobs({ quotaBm25: 0, quotaAnn: 0, quotaItemcf: 0 });
  assert.throws(() => new CandidateGenerator(emb, candidateOptions(nothing)), /every recall quota is 0/);
  const missing = new Cascade('cascade', small, tempDir(t), { rank: true, embeddings: emb });
  await assert.rejects(missing.fit(train), (e: unknown) => e instanceof GensearchError && e.code === 'NOT_FOUND' && /train-baseline cascade/.test(e.message));
  const norank = new Cascade('cascade-norank', small, tempDir(t), { rank: false, embeddings: emb });
  await norank.fit(train);
  assert.throws(() => norank.rankBatch([{ ...cases[0], query: null }]), /has no query/);
  const wrong: AlignedEmbeddings = { ...emb, items: emb.items.subarray(0, 10 * emb.dim) };
  assert.throws(() => new CandidateGenerator(wrong, candidateOptions(small)).fit(train), /embeddings hold 10 items; the catalog has 60/);
});
