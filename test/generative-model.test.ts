import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { constrainedBeamSearch } from '../src/decode/beam-search.js';
import { GenerativeSession, generateItems, HEAD_DEFAULTS, headKnobsOf, POPULARITY_PENALTY, requestKind } from '../src/decode/generate.js';
import { COSINE_TEMPERATURE } from '../src/decode/priors.js';
import { generativeConfig, generativeObjective, initGenerative, SidDecoder, scoreSids, USER_SLOTS } from '../src/model/generative.js';
import { disposeParams, flattenParams } from '../src/model/params.js';
import { lossAndGrads } from '../src/tensor/objective.js';
import { BpeTokenizer } from '../src/model/tokenizer.js';
import { SidTrie } from '../src/sids/trie.js';
import { packContext, packPrompts, packTargets, type Prompt, recencyWeights } from '../src/tasks/prompt.js';
import { Rng } from '../src/tensor/rng.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { TRAIN_DEFAULTS, train } from '../src/tensor/trainer.js';
import { tempDir } from './helpers.js';

test('BPE tokenizer: deterministic merges, round trip, unknown characters', () => {
  const texts = ['nail polish', 'nail polish remover', 'lip polish', 'nails', 'polished nails', 'lipstick'];
  const a = BpeTokenizer.train(texts, { vocabSize: 40 });
  const b = BpeTokenizer.train([...texts], { vocabSize: 40 });
  assert.deepEqual(a.data, b.data);
  assert.ok(a.size <= 40 && a.data.merges.length > 5, `${a.size} pieces`);
  const ids = a.encode('Nail Polish');
  assert.ok(ids.length < 'nailpolish'.length, 'frequent words are merged into few pieces');
  assert.equal(a.decode(ids), 'nail polish');
  // A character never seen becomes <unk> (id 0); the rest still encodes.
  const z = a.encode('zinc');
  assert.equal(z[0], 0);
  assert.equal(a.decode(a.encode('lip nails')), 'lip nails');
  // maxPieces keeps whole words only.
  assert.equal(a.decode(a.encode('nail polish remover', a.encode('nail polish').length)), 'nail polish');
});

/** A small random model and catalog: 3 SID positions. */
async function fixture(seed: number, initStd = 0.02) {
  await initTensorRuntime();
  const sidSizes = [4, 5, 6];
  const nItems = 40;
  const cfg = generativeConfig({ profile: 'tiny', overrides: { initStd }, textVocab: 20, sidSizes, nItems, maxHistory: 6, itemEmbedding: true });
  const rng = new Rng(seed);
  const itemSids = new Int32Array(nItems * 3);
  const offsets = [0, 4, 9];
  // Item i gets a distinct code triple (40 of the 120), so no SID is shared.
  const triples = rng.shuffle(Array.from({ length: 120 }, (_, i) => i)).slice(0, nItems);
  triples.forEach((t, i) => {
    itemSids.set([offsets[0] + (t % 4), offsets[1] + (Math.floor(t / 4) % 5), offsets[2] + Math.floor(t / 20)], i * 3);
  });
  return { cfg, itemSids, pack: packContext(cfg, itemSids), trie: new SidTrie(itemSids, 3) };
}

test('prompt packing: OneSearch order, one slot per history item, recency-weighted user pools', async () => {
  const { pack, itemSids } = await fixture(1);
  const prompts: Prompt[] = [
    { task: 'personal', text: Int32Array.of(3, 4), sid: itemSids.subarray(0, 3), history: Int32Array.of(1, 2, 3) },
    { task: 'personal', text: new Int32Array(0), sid: new Int32Array(0), history: Int32Array.from({ length: 9 }, (_, i) => i) },
  ];
  const b = packPrompts(prompts, pack);
  const lt = 1 + USER_SLOTS + 2 + 3;
  assert.deepEqual(b.tok.shape, [2, lt]);
  assert.deepEqual(b.hist.shape, [2, 6, 3], 'history capped at maxHistory');
  const { layout } = pack;
  assert.deepEqual(Array.from(b.tok.data.subarray(0, lt)), [
    layout.taskBase + 6,
    0,
    0,
    layout.textBase + 3,
    layout.textBase + 4,
    ...Array.from(itemSids.subarray(0, 3), (s) => layout.sidBase + s),
  ]);
  // Second prompt keeps the last 6 items (3..8), the latest at recency position 0.
  assert.deepEqual(Array.from(b.histItem.data.subarray(6, 12)), [3, 4, 5, 6, 7, 8]);
  const l = lt + 6;
  assert.deepEqual(Array.from(b.pos.data.subarray(l + lt, 2 * l)), [5, 4, 3, 2, 1, 0]);
  assert.deepEqual(Array.from(b.mask.data.subarray(0, l)), [...Array(lt).fill(1), 1, 1, 1, 0, 0, 0]);
  const mix = b.userMix.data as Float32Array;
  const w3 = recencyWeights(3);
  assert.ok(w3[2] > w3[1] && w3[1] > w3[0], 'newer items weigh more');
  for (let j = 0; j < 3; j++) assert.ok(Math.abs(mix[j] - w3[j]) < 1e-6);
  const short = mix.subarray(12, 18); // prompt 1, short-term pool over its 6 slots: last 5 only
  assert.equal(short[0], 0);
  assert.ok(Math.abs(short.reduce((a, x) => a + x, 0) - 1) < 1e-5);
  const t = packTargets([{ kind: 'sid', tokens: itemSids.subarray(3, 6) }, { kind: 'text', pieces: Int32Array.of(7, 8) }], pack);
  assert.deepEqual(t.dec.shape, [2, 3]);
  assert.deepEqual(Array.from(t.dec.data), [layout.bosSid, layout.sidBase + itemSids[3], layout.sidBase + itemSids[4], layout.bosText, layout.textBase + 7, layout.textBase + 8]);
  assert.deepEqual(Array.from(t.textTarget.data), [8, 9, 0], 'text targets: 1 + piece, then end of text');
  assert.deepEqual(Array.from(t.sidLevel.data), [0, 1, 2]);
});

test('incremental decoding with beam reordering scores every SID exactly as full re-decoding does', async () => {
  const { cfg, pack, trie, itemSids } = await fixture(2, 0.5);
  const params = initGenerative(cfg, new Rng(3));
  const prompts: Prompt[] = [
    { task: 'personal', text: Int32Array.of(1, 2, 3), sid: new Int32Array(0), history: Int32Array.of(5, 6, 7) },
    { task: 'personal', text: new Int32Array(0), sid: itemSids.subarray(9, 12), history: Int32Array.of(11) },
    { task: 'item2sid', text: Int32Array.of(9), sid: new Int32Array(0), history: new Int32Array(0) },
  ];
  const batch = packPrompts(prompts, pack);
  const decoder = new SidDecoder(params, cfg);
  decoder.start(batch);
  const { results } = await constrainedBeamSearch(new GenerativeSession(decoder), trie, 3, pack.layout.sidVocab, { beam: 7 });
  let checked = 0;
  for (let r = 0; r < 3; r++) {
    assert.equal(results[r].length, 7);
    const sids = new Int32Array(7 * 3);
    const single = packPrompts([prompts[r]], pack);
    results[r].forEach((d, j) => {
      const item = trie.items(d.leaf)[0];
      sids.set(itemSids.subarray(item * 3, item * 3 + 3), j * 3);
    });
    const full = await scoreSids(params, cfg, single, sids);
    results[r].forEach((d, j) => {
      assert.ok(Math.abs(full[j] - d.score) < 1e-4, `request ${r} beam ${j}: incremental ${d.score} vs full ${full[j]}`);
      checked++;
    });
    // Beam search keeps the best: no valid SID outside the beams scores above the 7th.
    const all = new Int32Array(itemSids);
    const every = await scoreSids(params, cfg, single, all);
    const best = [...every].sort((a, b) => b - a)[0];
    assert.ok(Math.abs(best - results[r][0].score) < 1e-4 || best <= results[r][0].score + 1e-4, 'the top beam is the best SID');
  }
  assert.equal(checked, 21);
  disposeParams(params);
});

test('a tiny model overfits a tiny catalog: beam search returns the item each prompt was trained on', async (t) => {
  const { cfg, pack, trie, itemSids } = await fixture(4);
  // Each item has its own text piece; item i is also "bought after" item (i + 1) % 40.
  const prompts: Prompt[] = [];
  const targets: number[] = [];
  for (let i = 0; i < 20; i++) {
    prompts.push({ task: 'item2sid', text: Int32Array.of(i), sid: new Int32Array(0), history: new Int32Array(0) });
    targets.push(i);
    prompts.push({ task: 'personal', text: new Int32Array(0), sid: new Int32Array(0), history: Int32Array.of((i + 1) % 40) });
    targets.push(i);
  }
  const data = {
    size: prompts.length,
    collate: (ids: Int32Array) => ({
      ...packPrompts(Array.from(ids, (i) => prompts[i]), pack),
      ...packTargets(Array.from(ids, (i) => ({ kind: 'sid' as const, tokens: itemSids.subarray(targets[i] * 3, targets[i] * 3 + 3) })), pack),
    }),
  };
  const objective = generativeObjective(cfg);
  // A batch without any history still has a gradient for every parameter (the item table's is 0).
  const noHistory = data.collate(Int32Array.of(0, 2));
  const probe = initGenerative(cfg, new Rng(9));
  const { grads } = await lossAndGrads(objective, probe, noHistory, 6, 1);
  assert.equal(grads.length, flattenParams(probe).length);
  disposeParams(probe);
  for (const g of grads) g.dispose();
  const result = await train({
    spec: { module: new URL('../src/model/generative.js', import.meta.url).href, factory: 'generativeObjective', config: cfg },
    data,
    config: { ...TRAIN_DEFAULTS, epochs: 60, batchSize: 20, lr: 1e-2, warmupSteps: 5, seed: 3, patience: 0, bucketByLength: false },
    outDir: tempDir(t),
    log: () => {},
  });
  assert.ok(objective.terms(data.collate(Int32Array.of(0, 1))) === 6);
  const { lists } = await generateItems({ params: result.params as never, cfg }, pack, trie, prompts, { beam: 5, k: 3 });
  let right = 0;
  lists.forEach((l, i) => {
    if (l.items[0] === targets[i]) right++;
  });
  assert.ok(right >= 38, `${right}/40 prompts decode to their item first`);
  disposeParams(result.params);
});

/**
 * An item head on a tiny catalog whose items share SIDs in pairs. `headSidRows`: the head
 * scores against each item's SID rows plus its own row instead of its own row alone.
 */
async function itemHead(t: TestContext, headSidRows: boolean): Promise<void> {
  await initTensorRuntime();
  const nItems = 40;
  const cfg = generativeConfig({ profile: 'tiny', textVocab: 20, sidSizes: [4, 5], nItems, maxHistory: 6, itemEmbedding: true, itemHead: 1, headSidRows });
  // Items 2j and 2j + 1 share one SID: the trie alone resolves them by collision rank.
  const itemSids = new Int32Array(nItems * 2);
  for (let i = 0; i < nItems; i++) itemSids.set([Math.floor(i / 2) % 4, 4 + Math.floor(i / 8)], i * 2);
  const pack = packContext(cfg, itemSids);
  const trie = new SidTrie(itemSids, 2);
  assert.deepEqual(Array.from(trie.items(trie.child(trie.child(trie.root, 0), 4))), [0, 1]);
  // Item i is "bought after" item (i + 7) % 40.
  const prompts: Prompt[] = Array.from({ length: nItems }, (_, i) => ({ task: 'personal', text: new Int32Array(0), sid: new Int32Array(0), history: Int32Array.of((i + 7) % nItems) }));
  const data = {
    size: nItems,
    collate: (ids: Int32Array) => ({
      ...packPrompts(Array.from(ids, (i) => prompts[i]), pack),
      ...packTargets(Array.from(ids, (i) => ({ kind: 'sid' as const, tokens: itemSids.subarray(i * 2, i * 2 + 2), item: i })), pack),
    }),
  };
  const batch = data.collate(Int32Array.of(3, 4));
  assert.deepEqual(Array.from(batch.itemAt.data), [0, 2], 'one item row per SID target, at its start-of-SID position');
  assert.deepEqual(Array.from(batch.itemTarget.data), [3, 4]);
  const result = await train({
    spec: { module: new URL('../src/model/generative.js', import.meta.url).href, factory: 'generativeObjective', config: cfg },
    data,
    config: { ...TRAIN_DEFAULTS, epochs: 80, batchSize: 20, lr: 1e-2, warmupSteps: 5, seed: 4, patience: 0, bucketByLength: false },
    outDir: tempDir(t),
    log: () => {},
  });
  const model = { params: result.params as never, cfg };
  const top1 = (lists: { items: Int32Array }[]) => lists.filter((l, i) => l.items[0] === i).length;
  const fused = await generateItems(model, pack, trie, prompts, { beam: 2, k: 10, headCandidates: 0, itemWeight: 1 });
  const sidOnly = await generateItems(model, pack, trie, prompts, { beam: 2, k: 10, itemWeight: 0 });
  assert.ok(top1(fused.lists) >= 38, `with the head, ${top1(fused.lists)}/40 prompts rank their item first`);
  assert.ok(top1(sidOnly.lists) <= 24, `by SID alone a shared SID gives its first item: ${top1(sidOnly.lists)}/40`);
  fused.lists.forEach((l, i) => {
    const decodedItems = new Set(fused.decoded[i].flatMap((d) => Array.from(trie.items(d.leaf))));
    assert.ok(l.items.length <= 4 && Array.from(l.items).every((item) => decodedItems.has(item)), 'the head reorders the beam items only');
    assert.deepEqual([...l.scores], [...l.scores].sort((a, b) => b - a));
  });
  // A popularity correction takes penalty x log count from each item's head score.
  const logCounts = Float32Array.from({ length: nItems }, (_, i) => Math.log1p(i));
  const corrected = await generateItems(model, pack, trie, prompts, { beam: 2, k: 10, headCandidates: 0, itemWeight: 2, popularityPenalty: 0.5, itemLogCounts: logCounts });
  const plainTwo = await generateItems(model, pack, trie, prompts, { beam: 2, k: 10, headCandidates: 0, itemWeight: 2 });
  corrected.lists.forEach((l, i) => {
    const before = new Map(Array.from(plainTwo.lists[i].items, (item, j) => [item, plainTwo.lists[i].scores[j]]));
    l.items.forEach((item, j) => assert.ok(Math.abs(l.scores[j] - (before.get(item)! - 2 * 0.5 * logCounts[item])) < 1e-4, `prompt ${i} item ${item}`));
  });
  await assert.rejects(generateItems(model, pack, trie, prompts, { beam: 2, k: 3, popularityPenalty: 1 }), /needs every item's log purchase count/);
  // Given the counts, a model with a head applies the default correction.
  const byDefault = await generateItems(model, pack, trie, prompts, { beam: 2, k: 10, headCandidates: 0, itemWeight: 2, itemLogCounts: logCounts });
  const explicit = await generateItems(model, pack, trie, prompts, { beam: 2, k: 10, headCandidates: 0, itemWeight: 2, itemLogCounts: logCounts, popularityPenalty: POPULARITY_PENALTY });
  assert.deepEqual(byDefault.lists, explicit.lists);
  assert.notDeepEqual(byDefault.lists, plainTwo.lists);
  // Each prior adds its weight x log(1 + n q) to the head score of each item it names.
  const partner = (i: number) => (i + 20) % nItems;
  const co = prompts.map((_, i) => ({
    coPurchase: { items: Int32Array.of(i, partner(i)), scores: Float32Array.of(1, 3) },
    textMatch: { items: Int32Array.of(partner(i)), scores: Float32Array.of(2) },
    queryVector: Float32Array.of(1, 0, 0),
    userVector: Float32Array.of(0, i / nItems, 1),
    historyVectors: Float32Array.of(0, 1, 0, i / nItems, 0, -1),
  }));
  // Item j's aligned vector (3 dimensions; only dot products matter here).
  const itemVectors = Float32Array.from({ length: nItems * 3 }, (_, x) => Math.sin(x + 1) / 4);
  const cosine = (v: Float32Array, j: number) => v.reduce((a, x, d) => a + x * itemVectors[j * 3 + d], 0);
  const nearest = (rows: Float32Array, j: number) => Math.max(cosine(rows.subarray(0, 3), j), cosine(rows.subarray(3, 6), j));
  const lifted = await generateItems(model, pack, trie, prompts, {
    ...{ beam: 2, k: 10, headCandidates: 0, itemWeight: 2, priors: co, itemVectors },
    ...{ coPurchaseWeight: 0.5, textMatchWeight: 0.25, queryCosineWeight: 0.125, userCosineWeight: 0.0625, historyCosineWeight: 0.375 },
  });
  lifted.lists.forEach((l, i) => {
    const before = new Map(Array.from(plainTwo.lists[i].items, (item, j) => [item, plainTwo.lists[i].scores[j]]));
    l.items.forEach((item, j) => {
      const q = item === i ? 0.25 : item === partner(i) ? 0.75 : 0;
      const cosines = (0.125 * cosine(co[i].queryVector, item) + 0.0625 * cosine(co[i].userVector, item) + 0.375 * nearest(co[i].historyVectors, item)) / COSINE_TEMPERATURE;
      const lift = 0.5 * Math.log1p(nItems * q) + (item === partner(i) ? 0.25 * Math.log1p(nItems) : 0) + cosines;
      assert.ok(Math.abs(l.scores[j] - (before.get(item)! + 2 * lift)) < 1e-4, `prompt ${i} item ${item}`);
    });
  });
  // Where the rows are given, a model with a head applies its kind's default weight.
  const coDefault = await generateItems(model, pack, trie, prompts, { beam: 2, k: 10, priors: co, itemVectors });
  const coExplicit = await generateItems(model, pack, trie, prompts, { beam: 2, k: 10, priors: co, itemVectors, ...HEAD_DEFAULTS.rec });
  assert.deepEqual(coDefault.lists, coExplicit.lists);
  assert.notDeepEqual(coDefault.lists, (await generateItems(model, pack, trie, prompts, { beam: 2, k: 10 })).lists);
  // Through the head's proposals it brings in items the beam did not reach.
  const onlyPartner = prompts.map((_, i) => ({ coPurchase: { items: Int32Array.of(partner(i)), scores: Float32Array.of(1) } }));
  const brought = await generateItems(model, pack, trie, prompts, { beam: 1, k: 10, headCandidates: 1, priors: onlyPartner, coPurchaseWeight: 100 });
  const unaided = await generateItems(model, pack, trie, prompts, { beam: 1, k: 10, headCandidates: 1 });
  const holdsPartner = (lists: { items: Int32Array }[]) => lists.filter((l, i) => l.items.includes(partner(i))).length;
  assert.equal(holdsPartner(brought.lists), nItems);
  assert.ok(holdsPartner(unaided.lists) <= 4, `without the prior ${holdsPartner(unaided.lists)}/40 lists hold the partner`);
  await assert.rejects(generateItems(model, pack, trie, prompts, { beam: 2, k: 3, coPurchaseWeight: -1 }), /coPurchaseWeight must be a number >= 0/);
  await assert.rejects(generateItems(model, pack, trie, prompts, { beam: 2, k: 3, userCosineWeight: Number.NaN }), /userCosineWeight must be a number >= 0/);
  await assert.rejects(generateItems(model, pack, trie, prompts, { beam: 2, k: 3, priors: co, queryCosineWeight: 1 }), /the cosine priors need the aligned vectors of the 40 items; got none/);
  // Teacher forcing with the head (how preference training scores) gives the fused scores.
  const firstItems = Int32Array.from(fused.lists, (l) => l.items[0]);
  const firstSids = Int32Array.from(Array.from(firstItems).flatMap((item) => Array.from(itemSids.subarray(item * 2, item * 2 + 2))));
  const forced = await scoreSids(result.params as never, cfg, packPrompts(prompts, pack), firstSids, { items: firstItems, weight: 1 });
  fused.lists.forEach((l, i) => assert.ok(Math.abs(forced[i] - l.scores[0]) < 1e-4, `prompt ${i}: teacher-forced ${forced[i]}, decoded ${l.scores[0]}`));
  // Proposals: the head's best items beyond a one-SID beam join it, scored as the beam would.
  const exclude = prompts.map((_, i) => Int32Array.of(i ^ 1));
  const proposed = await generateItems(model, pack, trie, prompts, { beam: 1, k: 10, headCandidates: 3, exclude });
  for (let i = 0; i < nItems; i++) {
    const decoded = proposed.decoded[i];
    assert.ok(decoded.length >= 3 && decoded.length <= 4, `1 beam SID + the SIDs of 3 proposed items (${decoded.length})`);
    assert.equal(new Set(decoded.map((d) => d.leaf)).size, decoded.length);
    assert.deepEqual(decoded.map((d) => d.score), decoded.map((d) => d.score).sort((a, b) => b - a));
    const sids = Int32Array.from(decoded.flatMap((d) => Array.from(itemSids.subarray(trie.items(d.leaf)[0] * 2, trie.items(d.leaf)[0] * 2 + 2))));
    const teacherForced = await scoreSids(result.params as never, cfg, packPrompts([prompts[i]], pack), sids);
    decoded.forEach((d, j) => assert.ok(Math.abs(teacherForced[j] - d.score) < 1e-4));
    assert.ok(!proposed.lists[i].items.includes(i ^ 1), 'excluded items are never proposed');
  }
  await assert.rejects(generateItems(model, pack, trie, prompts, { beam: 1, k: 3, headCandidates: 2, itemWeight: 0 }), /headCandidates needs the item head/);
  // Knobs left out take the request kind's defaults, per prompt: a batch mixing searches and
  // recommendations (as the server batches them) ranks each prompt as it would alone.
  const searches = prompts.slice(0, 4).map((p): Prompt => ({ ...p, text: Int32Array.of(5, 6) }));
  const mixed = [searches[0], prompts[4], searches[1], prompts[5], searches[2], searches[3], prompts[6]];
  assert.deepEqual(mixed.map(requestKind), ['search', 'rec', 'search', 'rec', 'search', 'search', 'rec']);
  const byKind = await generateItems(model, pack, trie, mixed, { beam: 1, k: 10 });
  for (const [i, p] of mixed.entries()) {
    const alone = await generateItems(model, pack, trie, [p], { beam: 1, k: 10, ...HEAD_DEFAULTS[requestKind(p)] });
    assert.deepEqual(byKind.decoded[i].map((d) => d.leaf), alone.decoded[0].map((d) => d.leaf));
    assert.deepEqual(Array.from(byKind.lists[i].items), Array.from(alone.lists[0].items));
    byKind.lists[i].scores.forEach((s, j) => assert.ok(Math.abs(s - alone.lists[0].scores[j]) < 1e-4, `prompt ${i}: ${s} vs ${alone.lists[0].scores[j]}`));
  }
  const sidOnlyRow = await generateItems(model, pack, trie, [searches[0]], { beam: 1, k: 10, itemWeight: 0 });
  assert.notDeepEqual(Array.from(byKind.lists[0].scores), Array.from(sidOnlyRow.lists[0].scores), 'the head is in the default search ranking');
  assert.deepEqual(headKnobsOf(cfg, 'search', { headCandidates: 0 }), { ...HEAD_DEFAULTS.search, headCandidates: 0 });
  assert.deepEqual(headKnobsOf(cfg, 'rec', { itemWeight: 0 }), { itemWeight: 0, headCandidates: 0, coPurchaseWeight: 0, textMatchWeight: 0, queryCosineWeight: 0, userCosineWeight: 0, historyCosineWeight: 0 }, 'no proposals or priors by default without the head');
  assert.throws(() => headKnobsOf(cfg, 'rec', { headCandidates: 1.5 }), /headCandidates must be an integer/);
  // The head's scores are a distribution over the catalog, one row per request.
  const decoder = new SidDecoder(result.params as never, cfg, { scoreItems: true });
  decoder.start(packPrompts(prompts.slice(0, 3), pack));
  assert.equal(decoder.itemLogProbs, null, 'known after the first step');
  await decoder.step(Int32Array.of(0, 1, 2), new Int32Array(3));
  const lp = decoder.itemLogProbs!;
  assert.equal(lp.length, 3 * nItems);
  for (let r = 0; r < 3; r++) assert.ok(Math.abs(lp.subarray(r * nItems, (r + 1) * nItems).reduce((a, x) => a + Math.exp(x), 0) - 1) < 1e-4);
  decoder.dispose();
  const plain = generativeConfig({ profile: 'tiny', textVocab: 20, sidSizes: [4, 5], nItems, itemEmbedding: true });
  const params = initGenerative(plain, new Rng(1));
  await assert.rejects(generateItems({ params, cfg: plain }, packContext(plain, itemSids), trie, prompts, { beam: 2, k: 3, itemWeight: 1 }), /needs a model trained with an item head/);
  await assert.rejects(generateItems({ params, cfg: plain }, packContext(plain, itemSids), trie, prompts, { beam: 2, k: 3, coPurchaseWeight: 1 }), /coPurchaseWeight needs the item head in the ranking/);
  assert.deepEqual(headKnobsOf(plain, 'search', {}), { itemWeight: 0, headCandidates: 0, coPurchaseWeight: 0, textMatchWeight: 0, queryCosineWeight: 0, userCosineWeight: 0, historyCosineWeight: 0 }, 'a model without a head ranks by SID alone');
  assert.throws(() => generativeConfig({ profile: 'tiny', textVocab: 20, sidSizes: [4, 5], nItems, itemHead: 1 }), /needs itemEmbedding=true/);
  disposeParams(params);
  disposeParams(result.params);
}

test('an item head tells apart items that share a SID, and joins the beam score only where the model has one', async (t) => {
  await itemHead(t, false);
});

test('an item head over SID rows + item rows learns the same, scoring alike in training, decoding and teacher forcing', async (t) => {
  await itemHead(t, true);
});
