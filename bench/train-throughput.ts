// Training throughput of the shared trainer on a SASRec step at Amazon-Beauty scale:
// examples/s, loss terms/s and achieved matmul GFLOP/s, single thread against data-parallel
// worker threads, each set against the plain matmul GFLOP/s measured in the same run (MFU).
//
//   npm run bench:train -- [--items 12101] [--users 6000] [--steps 30] [--batch 128] [--workers 2] [--rounds 2]
//
// The data are synthetic sequences shaped like Beauty's training view (lengths 3..12, mean
// 7.5, over 12,101 items); the step is the real one (same objective, optimizer and trainer).
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sasrecExamples, sasrecKnobs, sasrecModelConfig, sasrecSpec } from '../src/baselines/sasrec.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { TRAIN_DEFAULTS, train } from '../src/tensor/trainer.js';
import { plantedSequences } from '../test/sequence-fixtures.js';

const { values } = parseArgs({
  options: {
    items: { type: 'string', default: '12101' },
    users: { type: 'string', default: '6000' },
    steps: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    batch: { type: 'string', default: '128' },
    workers: { type: 'string', default: '2' },
    rounds: { type: 'string', default: '2' },
  },
});
const nItems = Number(values.items);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const workers = Number(values.workers);

const tf = await initTensorRuntime();
process.env.GENSEARCH_QUIET = '1';

/** Plain 512^3 matmul on this thread: the single-thread ceiling the step is compared with. */
function matmulGflops(): number {
  const a = tf.randomNormal([512, 512], 0, 1, 'float32', 1);
  const b = tf.randomNormal([512, 512], 0, 1, 'float32', 2);
  const once = () => {
    const c = tf.matMul(a, b);
    c.dataSync();
    c.dispose();
  };
  for (let i = 0; i < 3; i++) once();
  const reps = 20;
  const t = performance.now();
  for (let i = 0; i < reps; i++) once();
  const ms = (performance.now() - t) / reps;
  a.dispose();
  b.dispose();
  return (2 * 512 ** 3) / ms / 1e6;
}

const cfg = sasrecModelConfig(nItems, sasrecKnobs({}));
const data = sasrecExamples(plantedSequences(Number(values.users), nItems, 3, 3, 12).sequences, cfg.model.maxLen);

interface Run {
  examplesPerSecond: number;
  termsPerSecond: number;
  gflops: number;
}

/** Times steps warmup+1..warmup+steps of a fresh training run with `threads` workers (0 = main). */
async function measure(threads: number): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-train-'));
  let start = 0;
  let examples = 0;
  let terms = 0;
  let flops = 0;
  let end = 0;
  try {
    await train({
      spec: sasrecSpec(cfg),
      data,
      config: { ...TRAIN_DEFAULTS, batchSize: Number(values.batch), epochs: 1000, seed: 1 },
      outDir: dir,
      workers: threads,
      maxSteps: warmup + steps,
      log: () => {},
      onStep: (state, info) => {
        if (state.step === warmup) start = performance.now();
        if (state.step > warmup && state.step <= warmup + steps) {
          examples += info.examples;
          terms += info.terms;
          flops += info.flops;
          end = performance.now();
        }
      },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = (end - start) / 1000;
  return { examplesPerSecond: examples / seconds, termsPerSecond: terms / seconds, gflops: flops / seconds / 1e9 };
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (2 cores; others' work slows every figure)`);
console.log(`SASRec d=${cfg.model.dModel} layers=${cfg.model.nLayers} items=${nItems} batch=${values.batch}; ${steps} timed steps after ${warmup} warm-up steps`);
const peaks: number[] = [];
const single: Run[] = [];
const parallel: Run[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  peaks.push(matmulGflops());
  single.push(await measure(0));
  parallel.push(await measure(workers));
}
const peak = mean(peaks);
const row = (label: string, runs: Run[], threads: number) => {
  const gf = mean(runs.map((r) => r.gflops));
  console.log(
    `${label.padEnd(22)} ${fmt(mean(runs.map((r) => r.examplesPerSecond)), 0).padStart(6)} ex/s ${fmt(mean(runs.map((r) => r.termsPerSecond)), 0).padStart(7)} terms/s ${fmt(gf).padStart(6)} GFLOP/s  MFU ${fmt((100 * gf) / (peak * threads))}% of ${threads} x ${fmt(peak)}`,
  );
};
console.log(`matmul 512^3, one thread: ${fmt(peak)} GFLOP/s (rounds: ${peaks.map((p) => fmt(p)).join(', ')})`);
row('single thread', single, 1);
row(`data-parallel x${workers}`, parallel, workers);
console.log(`data-parallel speed-up: ${fmt(mean(parallel.map((r) => r.examplesPerSecond)) / mean(single.map((r) => r.examplesPerSecond)), 2)}x`);
