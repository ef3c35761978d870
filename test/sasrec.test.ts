import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SASREC_DEFAULTS, Sasrec, sasrecExamples, sasrecModelDir, trainSasrec } from '../src/baselines/sasrec.js';
import { evaluateSystem } from '../src/eval/evaluate.js';
import { disposeParams } from '../src/model/params.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { tempDir } from './helpers.js';
import { plantedEvalData } from './sequence-fixtures.js';

const NITEMS = 60;
const knobs = { ...SASREC_DEFAULTS, dModel: 32, nLayers: 1, nHeads: 2, maxLen: 12, dropout: 0.1, epochs: 6, batchSize: 32, lr: 5e-3 };

test('SASRec batches: right-padded inputs, one target per next item, positions point at their inputs', () => {
  const data = sasrecExamples([Int32Array.of(4, 5, 6), Int32Array.of(9), Int32Array.of(1, 2, 3, 4, 5, 6)], 3);
  assert.equal(data.size, 2, 'a one-item sequence has no target');
  const b = data.collate(Int32Array.of(0, 1));
  assert.deepEqual(b.tokens.shape, [2, 3]);
  // Row 0: items 4,5 -> tokens 5,6 (item + 1), pad; row 1: the last 4 items 3,4,5,6 -> inputs 3,4,5.
  assert.deepEqual(Array.from(b.tokens.data), [5, 6, 0, 4, 5, 6]);
  assert.deepEqual(Array.from(b.positions.data), [0, 1, 3, 4, 5]);
  assert.deepEqual(Array.from(b.targets.data), [5, 6, 4, 5, 6]);
});

test('SASRec learns a planted next-item rule far above chance, and eval reuses the trained model', async (t) => {
  await initTensorRuntime();
  const home = tempDir(t);
  const { train, cases } = plantedEvalData(800, NITEMS);
  const outDir = sasrecModelDir(home, train, knobs);
  const result = await trainSasrec(train, { knobs, valid: cases.slice(0, 300), outDir, log: () => {} });
  disposeParams(result.params);
  const best = result.state.best!;
  // Chance is 10 / 60 = 0.17 for R@10 and about 0.08 for N@10.
  assert.ok(best.metrics['recall@10'] > 0.9, `R@10 ${best.metrics['recall@10']}`);
  assert.ok(best.metrics['ndcg@10'] > 0.6, `N@10 ${best.metrics['ndcg@10']}`);
  // The eval system finds that model (no training: fit is fast) and ranks the other users.
  const system = new Sasrec(knobs, home);
  const started = performance.now();
  await system.fit(train);
  assert.ok(performance.now() - started < 2000, 'fit trained again instead of loading');
  const r = await evaluateSystem(system, cases.slice(300), { nItems: NITEMS, ks: [10], excludeHistory: 'no' });
  assert.ok(r.variants[0].means['recall@10'] > 0.9, `held-out users R@10 ${r.variants[0].means['recall@10']}`);
  system.dispose();
});
