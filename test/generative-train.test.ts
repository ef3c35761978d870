import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { DecodeWorkers } from '../src/decode/decode-workers.js';
import { generateItems, HEAD_DEFAULTS } from '../src/decode/generate.js';
import { HeadPriors } from '../src/decode/priors.js';
import { GenerativeRanker, requestPrompt } from '../src/decode/ranker.js';
import { TUNED_HEAD_KNOBS, tuneHeadKnobs } from '../src/decode/tune-head.js';
import { evaluateSystem } from '../src/eval/evaluate.js';
import { buildEvalData } from '../src/eval/protocol.js';
import { scoreSids } from '../src/model/generative.js';
import { disposeParams } from '../src/model/params.js';
import { BpeTokenizer } from '../src/model/tokenizer.js';
import { buildSamples, STAGES } from '../src/tasks/examples.js';
import { I2I_SOURCES } from '../src/encoders/pairs.js';
import { packContext } from '../src/tasks/prompt.js';
import { buildSids, defaultSidConfig } from '../src/sids/build.js';
import { gaussianBlobs } from '../src/sids/synthetic.js';
import { generativeRecipe, itemInitRows, loadGenerative, recipeConfig, sidInitRows, TRAINING_REPORT, trainGenerative, trainingCurves, trainingPhases } from '../src/tasks/train.js';
import { listStepCheckpoints } from '../src/tensor/checkpoint.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { EVAL } from '../src/model/layers.js';
import { preferenceObjective } from '../src/model/preference.js';
import { preferenceSamples } from '../src/tasks/preference.js';
import * as tf from '@tensorflow/tfjs';
import { plantedShop } from './generative-fixtures.js';
import { tempDir } from './helpers.js';
import { lastJsonLine, runFixture } from './process-fixtures.js';
import { plantedSequences } from './sequence-fixtures.js';
import { trainingCounts } from '../src/eval/popularity.js';

test('recipes: settings parse with clear errors; stage ablations drop their phase', () => {
  const r = generativeRecipe({ dModel: '48', 'mix.item2next': '0.5', itemEmbedding: 'true', schedule: 'sequential', stageEpochs: '1,2' });
  assert.equal(r.dModel, 48);
  assert.equal(r.mix.item2next, 0.5);
  assert.equal(r.itemEmbedding, true);
  assert.deepEqual(
    trainingPhases(r).map((p) => p.name),
    ['stage-1', 'stage-2', 'stage-3'],
  );
  const noStage1 = generativeRecipe({ schedule: 'sequential', ...Object.fromEntries(STAGES[1].map((k) => [`mix.${k}`, '0'])) });
  assert.deepEqual(
    trainingPhases(noStage1).map((p) => p.name),
    ['stage-2', 'stage-3'],
  );
  assert.throws(() => generativeRecipe({ dmodel: '3' }), /unknown generative setting "dmodel"/);
  assert.throws(() => generativeRecipe({ 'mix.nope': '1' }), /unknown sample kind "nope"/);
  assert.throws(() => generativeRecipe({ 'mix.rec': '2' }), /share in \[0, 1\]/);
  assert.throws(() => generativeRecipe({ itemEmbedding: 'yes' }), /true or false/);
});

/** Sample inputs over the planted shop of 30 users and 24 items (tiny profile, 3-token SIDs). */
function shopSampleInputs(recipe: Record<string, string> = {}) {
  const { inter, sids } = plantedShop(30, 24);
  const { train } = buildEvalData(inter, 'rec', 'valid');
  const cfg = recipeConfig(generativeRecipe({ profile: 'tiny', ...recipe }), { textVocab: 20, sidSizes: [4, 8, 3], nItems: 24 });
  const inputs = {
    train,
    itemSids: sids.itemTokens,
    querySids: sids.queries,
    tokenizer: BpeTokenizer.train(['beauty lipstick'], { vocabSize: 20 }),
    pack: packContext(cfg, sids.itemTokens),
    useQuerySid: true,
    useHistory: true,
  };
  return { inter, sids, train, inputs };
}

test('stage samples come from the training view only: sliding windows end at the item before each target', async () => {
  await initTensorRuntime();
  const { successor } = plantedSequences(30, 24, 7, 5, 9);
  const { inter, sids, train, inputs } = shopSampleInputs({ maxHistory: '3' });
  const set = buildSamples(inputs, { rec: 1, search: 1, item2sid: 1, item2next: 0.5 }, 1);
  const positions = train.sequences.reduce((n, s) => n + Math.max(0, s.length - 1), 0);
  assert.equal(set.counts.rec, positions, 'one rec sample per training position after the first');
  assert.equal(set.counts.search, positions);
  assert.equal(set.counts.item2sid, 24);
  assert.ok(set.counts.item2next > positions * 0.3 && set.counts.item2next < positions * 0.7, `item2next keeps about half: ${set.counts.item2next}`);
  const sidOf = (item: number) => Array.from(sids.itemTokens.subarray(item * 3, item * 3 + 3));
  let checked = 0;
  for (let i = 0; i < set.size; i++) {
    const s = set.sample(i);
    if (s.kind !== 'rec' && s.kind !== 'search') continue;
    const h = s.prompt.history;
    assert.ok(h.length >= 1 && h.length <= 3, 'history capped at maxHistory');
    assert.ok(s.target.kind === 'sid');
    assert.deepEqual(Array.from(s.target.tokens), sidOf(successor[h[h.length - 1]]), 'the target follows the last history item');
    assert.equal(s.prompt.text.length > 0, s.kind === 'search', 'only search prompts carry the query');
    checked++;
  }
  assert.equal(checked, 2 * positions);
  // The held-out items of a user never appear as that user's training targets: training stops 2 short.
  assert.equal(positions, inter.sequences.reduce((n, s) => n + s.length - 3, 0));
});

test('item2cf samples: an anchor per training interaction, its target one of its ItemCF neighbours, the same every build', async () => {
  await initTensorRuntime();
  const { sids, train, inputs } = shopSampleInputs();
  assert.equal(buildSamples(inputs, { rec: 1 }, 1).counts.item2cf, 0, 'absent from the mix: none');
  assert.ok(!('item2cf' in generativeRecipe().mix), 'the default recipe leaves it out, so older recipes hash the same');
  const set = buildSamples(inputs, { item2cf: 1 }, 1);
  const sim = I2I_SOURCES.itemcf(train);
  const neighbours = (item: number) => Array.from(sim.cols.subarray(sim.rowStart[item], sim.rowStart[item + 1]));
  const interactions = train.sequences.reduce((n, s) => n + s.length, 0);
  assert.ok(set.counts.item2cf > interactions * 0.8 && set.counts.item2cf <= interactions, `about one per interaction: ${set.counts.item2cf} of ${interactions}`);
  const targets = new Set<string>();
  for (let i = 0; i < set.size; i++) {
    const s = set.sample(i);
    assert.equal(s.kind, 'item2cf');
    assert.equal(s.prompt.task, 'item2next');
    assert.equal(s.prompt.history.length, 1);
    const anchor = s.prompt.history[0];
    const target = set.targetItem(i);
    assert.ok(neighbours(anchor).includes(target) && target !== anchor, `${target} is an ItemCF neighbour of ${anchor}`);
    assert.ok(s.target.kind === 'sid');
    assert.deepEqual(Array.from(s.target.tokens), Array.from(sids.itemTokens.subarray(target * 3, target * 3 + 3)));
    targets.add(`${anchor}>${target}`);
  }
  assert.ok(targets.size > 24, 'neighbours are drawn, not always the strongest one');
  const again = buildSamples(inputs, { item2cf: 1 }, 1);
  assert.deepEqual(
    Array.from({ length: again.size }, (_, i) => again.targetItem(i)),
    Array.from({ length: set.size }, (_, i) => set.targetItem(i)),
  );
});

test('training learns the planted rule; the saved model reloads and ranks identically', async (t) => {
  await initTensorRuntime();
  const { inter, sids } = plantedShop(160, 24);
  const dir = tempDir(t);
  const recipe = generativeRecipe({ profile: 'tiny', epochs: '6', patience: '0', batchSize: '64', lr: '0.01', warmupSteps: '5', textVocab: '40', validCases: '80', validBeam: '5', 'mix.item2next': '0', sidInit: '0' });
  const { model, summary } = await trainGenerative(inter, sids, { dir, recipe, log: () => {} });
  const phase = summary.phases[0];
  assert.equal(phase.name, 'mixed');
  const best = phase.best!;
  // Chance is 10/24 ~ 0.42 for recall@10; the planted successor makes the next item certain.
  assert.ok(best['rec:recall@10'] > 0.8, `rec recall@10 ${best['rec:recall@10']}`);
  assert.ok(best['search:recall@10'] > 0.8, `search recall@10 ${best['search:recall@10']}`);
  assert.ok(phase.examplesPerSecond > 0 && phase.gflops > 0 && summary.mfu > 0, 'throughput is reported');
  // Resuming a finished run trains nothing and keeps the throughput that run measured.
  const again = await trainGenerative(inter, sids, { dir, recipe, log: () => {}, resume: true });
  assert.equal(again.summary.phases[0].steps, phase.steps);
  assert.equal(again.summary.phases[0].examplesPerSecond, phase.examplesPerSecond);
  assert.equal(again.summary.mfu, summary.mfu);
  disposeParams(again.model.params);
  const curves = trainingCurves(dir);
  assert.ok(curves[0].lines.some((l) => l.type === 'epoch' && typeof l['rec:recall@10'] === 'number'), 'the metrics log has validation curves');

  const loaded = loadGenerative(dir);
  const { cases } = buildEvalData(inter, 'search', 'test');
  const prompts = cases.slice(0, 20).map((c) => requestPrompt(model, c.history, c.query));
  const a = await generateItems(model, model.pack, model.trie, prompts, { beam: 5, k: 5 });
  const b = await generateItems(loaded.model, loaded.model.pack, loaded.model.trie, prompts, { beam: 5, k: 5 });
  assert.deepEqual(
    b.lists.map((l) => Array.from(l.items)),
    a.lists.map((l) => Array.from(l.items)),
  );
  assert.ok(existsSync(join(dir, 'tokenizer.json')) && existsSync(join(dir, 'sid-table.json')));
  // Decoding over two worker threads gives the main thread's lists, scores included.
  const exclude = prompts.map((p) => p.history);
  const pool = await DecodeWorkers.start(model, 2);
  const viaPool = await pool.generate(prompts, { beam: 5, k: 5, exclude });
  await pool.close();
  const onMain = await generateItems(model, model.pack, model.trie, prompts, { beam: 5, k: 5, exclude });
  assert.deepEqual(viaPool.lists, onMain.lists);
  assert.deepEqual(viaPool.decoded, onMain.decoded);

  // Continued training starts from the trained parameters (another dropout is allowed): at
  // learning rate 0 they stay as they were, so the lists do too.
  const continued = await trainGenerative(inter, sids, { dir: tempDir(t), recipe: { ...recipe, lr: 0, dropout: 0.1 }, initFrom: dir, maxSteps: 2, log: () => {} });
  const c = await generateItems(continued.model, continued.model.pack, continued.model.trie, prompts, { beam: 5, k: 5 });
  assert.deepEqual(
    c.lists.map((l) => Array.from(l.items)),
    a.lists.map((l) => Array.from(l.items)),
  );
  disposeParams(continued.model.params);
  // Parameters of another shape cannot start a run; a folder without a model is named.
  await assert.rejects(
    trainGenerative(inter, sids, { dir: tempDir(t), recipe: { ...recipe, dModel: 48 }, initFrom: dir, log: () => {} }),
    /cannot continue from .*: its model config differs \(encoder\.dModel 32 -> 48; encoder\.dFF \d+ -> 192;/,
  );
  await assert.rejects(trainGenerative(inter, sids, { dir: tempDir(t), recipe, initFrom: tempDir(t), log: () => {} }), /no trained generative model there/);
  const html = readFileSync(join(dir, TRAINING_REPORT), 'utf8');
  assert.match(html, /<svg[^>]*aria-label="mixed: training loss"/);
  assert.match(html, /<svg[^>]*aria-label="mixed: validation"/);
  assert.ok((html.match(/<path /g) ?? []).length >= 3, 'loss and metric lines are drawn');
  disposeParams(model.params);
  disposeParams(loaded.model.params);
});

const FIXTURE = fileURLToPath(new URL('./fixtures/train-generative.js', import.meta.url));

const run = (args: string[], pauseMs: number) => runFixture(FIXTURE, args, pauseMs);

test('a generative training killed in its second phase resumes and ends with the parameters of an uninterrupted run', async (t) => {
  const dir = tempDir(t);
  const first = run([dir], 60);
  // Kill once the second phase (stage 3) has a checkpoint on disk.
  for (let i = 0; i < 3000 && listStepCheckpoints(join(dir, 'stage-3')).length === 0; i++) await sleep(10);
  first.child.kill('SIGKILL');
  const killed = await first.done;
  assert.equal(killed.code, null, `the first run finished before it could be killed: ${killed.out}`);
  assert.ok(listStepCheckpoints(join(dir, 'stage-3')).length > 0, `no stage-3 checkpoint appeared: ${killed.out}`);

  const resumed = await run([dir, '--resume'], 0).done;
  assert.equal(resumed.code, 0, resumed.out);
  const fresh = await run([tempDir(t)], 0).done;
  assert.equal(fresh.code, 0, fresh.out);
  const last = (out: string) => lastJsonLine<{ phases: { name: string; steps: number }[]; hash: string }>(out);
  const r = last(resumed.out);
  const f = last(fresh.out);
  assert.deepEqual(r.phases, f.phases, 'same phases and step counts');
  assert.equal(r.hash, f.hash, 'the resumed run ends with the parameters of an uninterrupted run');
});

test('SID warm start: the sum of an item SID rows is its quantized embedding', async () => {
  const tf = await initTensorRuntime();
  const { points } = gaussianBlobs([30, 30, 30, 30], 8, { seed: 2, spread: 3, noise: 0.5 });
  const items = Array.from({ length: points.rows }, (_, i) => ({ id: `i${i}`, title: null, brand: null, categories: [], price: null, attributes: {} }));
  const config = { ...defaultSidConfig(points.rows), levels: [4, 4], balancedLevels: [], opq: { k: 8, subspaces: 2 }, keywords: null };
  const build = buildSids(tf, { items, embeddings: points }, config);
  const rows = sidInitRows(build.model, 8, 1)!;
  assert.equal(rows.length, (4 + 4 + 8 + 8) * 8);
  const offsets = [0, 4, 8, 16];
  let err = 0;
  let norm = 0;
  for (let i = 0; i < points.rows; i++) {
    for (let j = 0; j < 8; j++) {
      let sum = 0;
      for (let p = 0; p < 4; p++) sum += rows[(offsets[p] + build.codes[i * 4 + p]) * 8 + j];
      const x = points.data[i * 8 + j];
      err += (sum - x) ** 2;
      norm += x * x;
    }
  }
  assert.ok(err / norm < 0.05, `relative reconstruction error ${err / norm}`);
  // A wider model gets the same rows zero-padded; a narrower one gets none.
  const wide = sidInitRows(build.model, 12, 1)!;
  assert.equal(wide.length, (4 + 4 + 8 + 8) * 12);
  for (let r = 0; r < 24; r++) {
    assert.deepEqual(Array.from(wide.subarray(r * 12, r * 12 + 8)), Array.from(rows.subarray(r * 8, r * 8 + 8)));
    assert.deepEqual(Array.from(wide.subarray(r * 12 + 8, r * 12 + 12)), [0, 0, 0, 0]);
  }
  assert.equal(sidInitRows(build.model, 4, 1), null, 'a narrower model gets no warm start');
  // Item rows complete each item's SID rows to its embedding (scaled, zero-padded), not its quantization.
  const tokens = Int32Array.from(build.codes, (c, k) => offsets[k % 4] + c);
  const scaled = sidInitRows(build.model, 12, 2)!;
  const itemRows = itemInitRows(points, tokens, scaled, 12, 2);
  assert.equal(itemRows.length, points.rows * 12);
  let worst = 0;
  for (let i = 0; i < points.rows; i++) {
    for (let j = 0; j < 12; j++) {
      let v = itemRows[i * 12 + j];
      for (let p = 0; p < 4; p++) v += scaled[tokens[i * 4 + p] * 12 + j];
      worst = Math.max(worst, Math.abs(v - (j < 8 ? 2 * points.data[i * 8 + j] : 0)));
    }
  }
  assert.ok(worst < 1e-4, `history vector = 2 x embedding, off by ${worst}`);
  assert.throws(() => itemInitRows(points, tokens, rows, 4, 1), /itemInit needs dModel >= 8/);
});

/**
 * Preference alignment end to end on a tiny model: mining, the pairs cache, the anchors' loss,
 * and a DPO phase that widens the preferred candidates' lead. With an item head the candidates
 * are items, scored as decoding fuses them.
 */
async function preferenceAlignment(t: TestContext, head: boolean): Promise<void> {
  await initTensorRuntime();
  const { inter, sids } = plantedShop(160, 24);
  const sftDir = tempDir(t);
  const headSettings: Record<string, string> = head ? { itemEmbedding: 'true', itemHead: '1' } : {};
  const recipe = generativeRecipe({ profile: 'tiny', epochs: '1', patience: '0', batchSize: '64', lr: '0.01', warmupSteps: '5', textVocab: '40', validCases: '40', validBeam: '5', sidInit: '0', ...headSettings });
  disposeParams((await trainGenerative(inter, sids, { dir: sftDir, recipe, log: () => {} })).model.params);
  const reference = loadGenerative(sftDir).model;
  const { train } = buildEvalData(inter, 'rec', 'valid');
  // The model folder keeps the training view's purchase counts (the head's popularity correction).
  assert.deepEqual(Array.from(reference.itemLogCounts!), Array.from(trainingCounts(train), (c) => Math.fround(Math.log1p(c))));
  const inputs = { train, itemSids: sids.itemTokens, querySids: sids.queries, tokenizer: reference.tokenizer, pack: reference.pack, useQuerySid: true, useHistory: true };
  const cache = { path: join(tempDir(t), 'pairs.bin'), key: 'k1' };
  const options = { search: 0.5, rec: 0.5, recSft: 0.5, negatives: 3, seed: 1 };
  const mined = await preferenceSamples(reference, inputs, { ...options, cache });
  const batch = mined.collate(Int32Array.from({ length: mined.size }, (_, i) => i));
  const all = (set: { size: number; collate: (ids: Int32Array) => unknown }) => set.collate(Int32Array.from({ length: set.size }, (_, i) => i));
  assert.deepEqual(all(await preferenceSamples(reference, inputs, { ...options, workers: 2 })), batch, 'mining over worker threads finds the same pairs');

  const [n, c, w] = batch.cand.shape;
  const pairs = n - mined.anchors;
  assert.ok(pairs > 50 && mined.anchors > 20 && c === 4 && w === 3);
  // Mined prompts in mining order: a head model's rejected items are its decoded list's best
  // other items, and their reference scores are the scores that list ranks them by at the
  // weight the objective aligns (1, no proposals; not the per-kind serving defaults).
  const prompts = buildSamples(inputs, { search: options.search, rec: options.rec }, options.seed);
  const fused = { beam: 10, k: 10, itemWeight: 1, headCandidates: 0 };
  const decoded = head ? await generateItems(reference, reference.pack, reference.trie, Array.from({ length: pairs }, (_, i) => prompts.sample(i).prompt), fused) : null;
  for (let i = 0; i < pairs; i++) {
    const sid = (j: number): number[] => Array.from(batch.cand.data.subarray((i * c + j) * w, (i * c + j + 1) * w));
    const item = (j: number): number => batch.item.data[i * c + j];
    for (let j = 1; j < c; j++) {
      if (batch.valid.data[i * c + j] === 0) continue;
      if (head) assert.notEqual(item(j), item(0), 'a rejected item is never the preferred one');
      else assert.notDeepEqual(sid(j), sid(0), 'a rejected SID is never the preferred one');
      assert.deepEqual(sid(j), Array.from(sids.itemTokens.subarray(item(j) * w, (item(j) + 1) * w)), 'a candidate is its item\'s SID');
      assert.ok([0.5, 1.8, 2].includes(Number(batch.gap.data[i * c + j].toFixed(4))), `reward gap ${batch.gap.data[i * c + j]}`);
    }
    if (decoded) {
      const list = decoded.lists[i];
      const others: number[] = Array.from(list.items).filter((it) => it !== item(0));
      for (let j = 1; j < c && batch.valid.data[i * c + j] === 1; j++) {
        assert.equal(item(j), others[j - 1]);
        const listed = list.scores[Array.from(list.items).indexOf(item(j))];
        assert.ok(Math.abs(batch.ref.data[i * c + j] - listed) < 1e-3, `reference ${batch.ref.data[i * c + j]} vs decoded ${listed}`);
      }
    }
  }
  // A likelihood-only rec prompt adds exactly -log pi(taken item) to the loss: no DPO term.
  const itemWeight = head ? 1 : undefined;
  const objective = preferenceObjective({ model: reference.cfg, beta: 1, margin: 0.5, sft: 1, itemWeight });
  const anchorRows = Int32Array.from({ length: mined.anchors }, (_, i) => pairs + i);
  const anchors = mined.collate(anchorRows);
  anchorRows.forEach((_, r) => assert.deepEqual(Array.from(anchors.valid.data.subarray(r * c, (r + 1) * c)), [1, 0, 0, 0]));
  const firstSids = Int32Array.from({ length: mined.anchors * w }, (_, i) => anchors.cand.data[Math.floor(i / w) * c * w + (i % w)]);
  const firstItems = Int32Array.from({ length: mined.anchors }, (_, r) => anchors.item.data[r * c]);
  const nll = -(await scoreSids(reference.params, reference.cfg, anchors, firstSids, itemWeight ? { items: firstItems, weight: itemWeight } : undefined)).reduce((a, x) => a + x, 0);
  const anchorLoss = tf.tidy(() => objective.loss(reference.params, anchors, EVAL).dataSync()[0]);
  assert.ok(Math.abs(anchorLoss - nll) < 1e-3 * nll, `anchor loss ${anchorLoss} vs NLL ${nll}`);

  const dpoDir = tempDir(t);
  const aligned = await trainGenerative(inter, sids, {
    dir: dpoDir,
    recipe: { ...recipe, epochs: 0, dpoEpochs: 3, dpoSearch: 0.5, dpoRec: 0.5, dpoRecSft: 0.5, dpoNegatives: 3, dpoLr: 0.005 },
    initFrom: sftDir,
    log: () => {},
  });
  assert.deepEqual(
    aligned.summary.phases.map((p) => p.name),
    ['preference'],
  );
  // On the mined pairs, the DPO loss of the aligned model is below the reference's (where every
  // log-ratio is 0): the preferred candidates gained on the rejected ones.
  const lossOf = (params: typeof reference.params) => tf.tidy(() => objective.loss(params, batch, EVAL).dataSync()[0]) / n;
  const before = lossOf(reference.params);
  const after = lossOf(aligned.model.params);
  assert.ok(after < before - 0.05, `DPO loss per prompt ${before.toFixed(4)} -> ${after.toFixed(4)}`);
  if (head) {
    // The head learned too: the anchors' taken items gained head log-probability.
    const headLogProb = async (params: typeof reference.params) => {
      const both = await scoreSids(params, reference.cfg, anchors, firstSids, { items: firstItems, weight: 1 });
      const sidOnly = await scoreSids(params, reference.cfg, anchors, firstSids);
      return both.reduce((a, x, r) => a + x - sidOnly[r], 0);
    };
    const [headBefore, headAfter] = [await headLogProb(reference.params), await headLogProb(aligned.model.params)];
    assert.ok(headAfter > headBefore, `head log-probability of the taken items ${headBefore.toFixed(2)} -> ${headAfter.toFixed(2)}`);
  }
  assert.equal(loadGenerative(dpoDir).finalPhaseDir, join(dpoDir, 'preference'), 'the aligned model folder serves its preference phase');
  assert.ok(existsSync(join(dpoDir, 'preference', 'pairs.bin')), 'the phase keeps its mined pairs');
  // The pairs file answers for its key whatever model asks (a resumed run trains on the same
  // pairs); another key mines again, here with the aligned model's log-probabilities.
  assert.deepEqual(all(await preferenceSamples(aligned.model, inputs, { ...options, cache })), batch);
  assert.notDeepEqual(all(await preferenceSamples(aligned.model, inputs, { ...options, cache: { ...cache, key: 'k2' } })), batch);
  disposeParams(reference.params);
  disposeParams(aligned.model.params);
}

test('preference alignment: mined pairs prefer the taken item over the other SIDs the model writes, and list-wise DPO widens that lead', (t) => preferenceAlignment(t, false));

test('preference alignment with an item head: candidates are items scored as decoding fuses them, and DPO trains the head', (t) => preferenceAlignment(t, true));

test('tuning the head re-ranks one decoding as decoding ranks it, and never ends below where it starts', async (t) => {
  await initTensorRuntime();
  const { inter, sids } = plantedShop(160, 24);
  const dir = tempDir(t);
  const recipe = generativeRecipe({ profile: 'tiny', epochs: '1', patience: '0', batchSize: '64', lr: '0.01', warmupSteps: '5', textVocab: '40', validCases: '40', validBeam: '5', sidInit: '0', itemEmbedding: 'true', itemHead: '1' });
  disposeParams((await trainGenerative(inter, sids, { dir, recipe, log: () => {} })).model.params);
  const { model } = loadGenerative(dir);
  const { train, cases } = buildEvalData(inter, 'rec', 'valid');
  const priors = HeadPriors.fit(train);
  const itemLogCounts = Float32Array.from(trainingCounts(train), (c) => Math.log1p(c));
  const lines: string[] = [];
  const tuned = await tuneHeadKnobs(model, cases, priors, { beam: 5, proposals: 6, metric: 'ndcg@10', itemLogCounts, log: (l) => lines.push(l) });
  // Decoded over worker threads, the candidates and so every trial are the same.
  const workers = await DecodeWorkers.start(model, 2);
  const overWorkers = await tuneHeadKnobs(model, cases, priors, { beam: 5, proposals: 6, metric: 'ndcg@10', itemLogCounts, workers });
  await workers.close();
  assert.deepEqual(overWorkers.trials, tuned.trials);
  const fromOne = await tuneHeadKnobs(model, cases, priors, { beam: 5, proposals: 6, metric: 'ndcg@10', itemLogCounts, start: { itemWeight: 1 }, passes: 1 });
  assert.deepEqual(fromOne.start.knobs, { ...tuned.start.knobs, itemWeight: 1 });
  assert.equal(fromOne.start.score, tuned.trials.find((r) => JSON.stringify(r.knobs) === JSON.stringify(fromOne.start.knobs))?.score, 'a start is scored as the same setting reached from another');
  assert.equal(tuned.kind, 'rec');
  // The start's score is what evaluation gives at the same knobs and proposals.
  const ranker = new GenerativeRanker(() => model, { beam: 5, headCandidates: 6 });
  await ranker.fit(train);
  const evaluated = await evaluateSystem(ranker, cases, { nItems: train.nItems, ks: [10], excludeHistory: 'yes' });
  assert.ok(Math.abs(evaluated.variants[0].means['ndcg@10'] - tuned.start.score) < 1e-4, `evaluated ${evaluated.variants[0].means['ndcg@10']}, tuner ${tuned.start.score}`);
  assert.deepEqual(tuned.start.knobs, Object.fromEntries(TUNED_HEAD_KNOBS.map((key) => [key, HEAD_DEFAULTS.rec[key]])));
  assert.ok(tuned.best.score >= tuned.start.score);
  assert.ok(tuned.trials.length > 10 && lines.some((l) => l.startsWith('pass 2')));
  // No query and no embeddings: the text and cosine weights have nothing to weigh and stay.
  const { textMatchWeight, userCosineWeight, historyCosineWeight } = HEAD_DEFAULTS.rec;
  assert.ok(tuned.trials.every((r) => r.knobs.textMatchWeight === textMatchWeight && r.knobs.userCosineWeight === userCosineWeight && r.knobs.historyCosineWeight === historyCosineWeight));
  assert.ok(tuned.candidateRecall > 0 && tuned.candidateRecall <= 1);
  const searches = buildEvalData(inter, 'search', 'valid').cases;
  await assert.rejects(tuneHeadKnobs(model, [cases[0], searches[0]], priors, { beam: 5, metric: 'ndcg@10' }), /cases of one kind/);
  ranker.dispose();
});
