import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SASREC_DEFAULTS, sasrecExamples, sasrecModelConfig, sasrecObjective, sasrecSpec } from '../src/baselines/sasrec.js';
import { GensearchError } from '../src/errors.js';
import { disposeParams, flattenParams, packParams, type Params, unpackParams } from '../src/model/params.js';
import { ADAM_DEFAULTS, AdamW } from '../src/tensor/adam.js';
import { epochBatches, shardBatch } from '../src/tensor/batching.js';
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from '../src/tensor/checkpoint.js';
import { lossAndGrads } from '../src/tensor/objective.js';
import { GradientWorkers } from '../src/tensor/parallel.js';
import { Rng } from '../src/tensor/rng.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { readMetrics, TRAIN_DEFAULTS, type TrainConfig, train } from '../src/tensor/trainer.js';
import { tempDir } from './helpers.js';
import { plantedSequences } from './sequence-fixtures.js';

const knobs = { ...SASREC_DEFAULTS, dModel: 16, nLayers: 1, nHeads: 2, maxLen: 12, dropout: 0.2 };
const cfg = sasrecModelConfig(40, knobs);
const data = sasrecExamples(plantedSequences(120, 40).sequences, cfg.model.maxLen);
const objective = sasrecObjective(cfg);
const trainConfig: TrainConfig = { ...TRAIN_DEFAULTS, epochs: 3, batchSize: 16, lr: 3e-3, warmupSteps: 3, seed: 11 };

const sameFloats = (a: Float32Array, b: Float32Array, what: string) => {
  assert.equal(a.length, b.length, what);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) assert.fail(`${what}: first difference at ${i}: ${a[i]} vs ${b[i]}`);
};

test('AdamW state saved and restored continues training bit for bit (with dropout)', async () => {
  await initTensorRuntime();
  const batches = epochBatches(data.size, 16, new Rng(3), data.length).slice(0, 6).map((ids) => data.collate(ids));
  const stepOnce = async (params: Params, adam: AdamW, i: number): Promise<Params> => {
    const terms = objective.terms(batches[i]);
    const { grads } = await lossAndGrads(objective, params, batches[i], terms, 100 + i);
    const next = (await adam.apply(params, grads, 1e-2)).params;
    for (const g of grads) g.dispose();
    return next;
  };
  // Straight through: 6 steps.
  let a: Params = objective.init(new Rng(5));
  const adamA = new AdamW(ADAM_DEFAULTS, a);
  for (let i = 0; i < 6; i++) a = await stepOnce(a, adamA, i);
  // 3 steps, then everything through host copies (as a checkpoint does), then 3 more.
  let b: Params = objective.init(new Rng(5));
  const adamB = new AdamW(ADAM_DEFAULTS, b);
  for (let i = 0; i < 3; i++) b = await stepOnce(b, adamB, i);
  const saved = { params: packParams(b), adam: await adamB.state() };
  disposeParams(b);
  adamB.dispose();
  let c: Params = unpackParams(objective.init(new Rng(999)), saved.params);
  const adamC = new AdamW(ADAM_DEFAULTS, c, saved.adam);
  assert.equal(adamC.steps, 3);
  for (let i = 3; i < 6; i++) c = await stepOnce(c, adamC, i);
  sameFloats(packParams(c), packParams(a), 'parameters after 6 steps');
  sameFloats((await adamC.state()).m[0], (await adamA.state()).m[0], 'first moment of the first parameter');
  // Without the restored moments the result differs (the test can fail).
  let d: Params = unpackParams(objective.init(new Rng(999)), saved.params);
  const adamD = new AdamW(ADAM_DEFAULTS, d);
  for (let i = 3; i < 6; i++) d = await stepOnce(d, adamD, i);
  assert.notDeepEqual(Array.from(packParams(d).subarray(0, 50)), Array.from(packParams(a).subarray(0, 50)));
});

test('checkpoints: round trip, damaged or half-written ones are rejected and skipped', (t) => {
  const dir = tempDir(t);
  const arrays = (v: number) => [
    { name: 'a', shape: [2, 3], data: Float32Array.from({ length: 6 }, (_, i) => i + v) },
    { name: 'b', shape: [4], data: Float32Array.of(v, -v, 0.5, 1e-7) },
  ];
  saveCheckpoint(dir, 'ckpt-000000001', arrays(1), { step: 1 });
  saveCheckpoint(dir, 'ckpt-000000002', arrays(2), { step: 2 }, ['best']);
  const loaded = loadCheckpoint<{ step: number }>(dir, 'best');
  assert.equal(loaded.manifest.meta.step, 2);
  sameFloats(loaded.tensors.get('b')!.data, arrays(2)[1].data, 'tensor b');
  assert.deepEqual(loaded.tensors.get('a')!.shape, [2, 3]);
  // A killed write of step 3 leaves a temp file and a binary without manifest: both ignored.
  writeFileSync(join(dir, 'ckpt-000000003.bin.tmp-123'), 'partial');
  writeFileSync(join(dir, 'ckpt-000000003.bin'), new Uint8Array(40));
  assert.equal(latestCheckpoint<{ step: number }>(dir)?.manifest.meta.step, 2);
  // A damaged binary fails its checksum: load throws, latest falls back to step 1.
  const bin = join(dir, 'ckpt-000000002.bin');
  writeFileSync(bin, new Uint8Array(40).fill(7));
  assert.throws(() => loadCheckpoint(dir, 'ckpt-000000002'), (e) => e instanceof GensearchError && /does not match the manifest/.test(e.message));
  const warnings: string[] = [];
  assert.equal(latestCheckpoint<{ step: number }>(dir, (m) => warnings.push(m))?.manifest.meta.step, 1);
  assert.equal(warnings.length, 1);
});

test('trainer: resuming from a mid-epoch checkpoint gives the same model as an uninterrupted run', async (t) => {
  const tf = await initTensorRuntime();
  const before = tf.memory().numTensors;
  const spec = sasrecSpec(cfg);
  const quiet = () => {};
  const fullDir = tempDir(t);
  const full = await train({ spec, data, config: trainConfig, outDir: fullDir, log: quiet });
  const dir = tempDir(t);
  const first = await train({ spec, data, config: trainConfig, outDir: dir, maxSteps: 11, log: quiet });
  assert.equal(first.state.step, 11);
  disposeParams(first.params);
  const second = await train({ spec, data, config: trainConfig, outDir: dir, resume: true, log: quiet });
  assert.equal(second.resumedFromStep, 11);
  assert.equal(second.steps, full.steps - 11, 'the resumed run only ran the remaining steps');
  sameFloats(packParams(second.params), packParams(full.params), 'final parameters');
  // The metrics log of the resumed run equals the uninterrupted one's (apart from times).
  const strip = (rows: Record<string, unknown>[]) => rows.map(({ time: _t, seconds: _s, examplesPerSecond: _e, ...r }) => r);
  assert.deepEqual(strip(readMetrics(dir)), strip(readMetrics(fullDir)));
  disposeParams(full.params);
  disposeParams(second.params);
  assert.equal(tf.memory().numTensors, before, 'training leaked tensors');
  // Resuming under another config is refused with a clear error.
  await assert.rejects(
    train({ spec, data, config: { ...trainConfig, lr: 1e-4 }, outDir: dir, resume: true, log: quiet }),
    (e) => e instanceof GensearchError && e.code === 'CONFLICT' && /config hash/.test(e.message),
  );
});

test('trainer: validation each epoch, best checkpoint kept, early stopping after `patience` epochs', async (t) => {
  await initTensorRuntime();
  const dir = tempDir(t);
  // A metric that peaks at epoch 2 and then falls: training must stop after epoch 2 + patience.
  const scores = [0.1, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05];
  let calls = 0;
  const seen: number[] = [];
  const result = await train({
    spec: sasrecSpec(cfg),
    data,
    config: { ...trainConfig, epochs: 7, patience: 2 },
    outDir: dir,
    log: () => {},
    monitor: 'score',
    validate: (params) => {
      seen.push(flattenParams(params)[0][1].dataSync()[0]);
      return { score: scores[calls++] };
    },
  });
  assert.equal(calls, 4);
  assert.ok(result.stoppedEarly);
  assert.equal(result.state.best?.epoch, 2);
  // The returned parameters are epoch 2's, not the last epoch's.
  assert.equal(flattenParams(result.params)[0][1].dataSync()[0], seen[1]);
  const epochs = readMetrics(dir).filter((r) => r.type === 'epoch');
  assert.deepEqual(epochs.map((r) => r.score), scores.slice(0, 4));
  assert.ok(epochs.every((r) => typeof r.loss === 'number' && Number.isFinite(r.loss as number)));
  assert.ok(existsSync(join(dir, 'best.json')));
  // Only the last two step checkpoints stay, plus the best one's binary.
  const bins = readdirSync(dir).filter((f) => f.endsWith('.bin'));
  assert.equal(bins.length, 3, bins.join(' '));
  disposeParams(result.params);
});

test('data-parallel gradients (2 worker threads) equal single-thread gradients on the same batch', async () => {
  await initTensorRuntime();
  const noDropout = sasrecModelConfig(40, { ...knobs, dropout: 0 });
  const obj = sasrecObjective(noDropout);
  const params = obj.init(new Rng(4));
  const ids = epochBatches(data.size, 32, new Rng(8), data.length)[0];
  const whole = data.collate(ids);
  const terms = obj.terms(whole);
  const single = await lossAndGrads(obj, params, whole, terms, 1);
  const workers = await GradientWorkers.start(sasrecSpec(noDropout), params, 2);
  try {
    const shards = shardBatch(ids, 2).map((s) => data.collate(s));
    assert.equal(shards.reduce((n, s) => n + obj.terms(s), 0), terms);
    const parallel = await workers.compute(params, shards, terms, [1, 2]);
    assert.ok(Math.abs(parallel.lossSum - single.lossSum) < 1e-3 * single.lossSum);
    flattenParams(params).forEach(([name], i) => {
      const a = single.grads[i].dataSync();
      const b = parallel.grads[i].dataSync();
      let maxDiff = 0;
      let maxAbs = 0;
      for (let j = 0; j < a.length; j++) {
        maxDiff = Math.max(maxDiff, Math.abs(a[j] - b[j]));
        maxAbs = Math.max(maxAbs, Math.abs(a[j]));
      }
      assert.ok(maxDiff <= 1e-5 * Math.max(1, maxAbs) + 1e-7, `${name}: max difference ${maxDiff} (max |g| ${maxAbs})`);
    });
    // Half the batch alone gives different gradients: the comparison can fail.
    const half = await lossAndGrads(obj, params, shards[0], terms, 1);
    assert.ok(Math.abs(half.grads[0].dataSync()[0] - single.grads[0].dataSync()[0]) > 0 || half.lossSum !== single.lossSum);
    for (const g of [...single.grads, ...parallel.grads, ...half.grads]) g.dispose();
  } finally {
    await workers.close();
    disposeParams(params);
  }
});
