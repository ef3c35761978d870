// Training throughput of the shared trainer on a SASRec step (or, with `--model generative`, a
// step of the generative retriever's `small` profile) at Amazon-Beauty scale:
// examples/s, loss terms/s and achieved matmul GFLOP/s, single thread against data-parallel
// worker threads, each set against the plain matmul GFLOP/s measured in the same run (MFU).
// `--backends wasm,webgpu` adds a main-thread run on each further backend (a GPU through
// Dawn), with the same data and seed: its loss after the timed steps must match wasm's.
//
//   npm run bench:train -- [--items 12101] [--users 6000] [--steps 30] [--batch 128] [--workers 2] [--rounds 2]
//                          [--backends wasm] [--d 64] [--layers 2] [--model sasrec|generative]
//
// The data are synthetic sequences shaped like Beauty's training view (lengths 3..12, mean
// 7.5, over 12,101 items); the generative prompts are personalised searches over them (a query
// of 2-8 text pieces and its SID, the history, an item's 5-token SID as the target, as the
// Beauty build has). The step is the real one (same objective, optimizer and trainer).
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { sasrecExamples, sasrecKnobs, sasrecModelConfig, sasrecSpec } from '../src/baselines/sasrec.js';
import { generativeConfig, generativeSpec } from '../src/model/generative.js';
import { packContext, packPrompts, packTargets, type Prompt, type Target } from '../src/tasks/prompt.js';
import type { ExampleSource } from '../src/tensor/batching.js';
import type { ObjectiveSpec } from '../src/tensor/objective.js';
import { Rng } from '../src/tensor/rng.js';
import { initTensorRuntime, matmulProbeSize, measureMatmulGflops, parseTensorBackend, type TensorBackend } from '../src/tensor/runtime.js';
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
    backends: { type: 'string', default: 'wasm' },
    d: { type: 'string', default: '64' },
    layers: { type: 'string', default: '2' },
    model: { type: 'string', default: 'sasrec' },
  },
});
const nItems = Number(values.items);
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const workers = Number(values.workers);
const backends = values.backends.split(',').map((b) => parseTensorBackend(b.trim(), '--backends'));
if (backends[0] !== 'wasm') throw new Error('--backends starts with wasm: the baseline every ratio is taken against');

await initTensorRuntime();
process.env.GENSEARCH_QUIET = '1';

const sequences = plantedSequences(Number(values.users), nItems, 3, 3, 12).sequences;
const shape = { dModel: Number(values.d), nLayers: Number(values.layers) };
const { spec, data, label } = values.model === 'generative' ? generativeBench() : sasrecBench();

function sasrecBench(): { spec: ObjectiveSpec; data: ExampleSource; label: string } {
  const cfg = sasrecModelConfig(nItems, sasrecKnobs(shape));
  return { spec: sasrecSpec(cfg), data: sasrecExamples(sequences, cfg.model.maxLen), label: `SASRec d=${cfg.model.dModel} layers=${cfg.model.nLayers}` };
}

/** Personalised-search prompts: every prefix of every sequence predicts its next item. */
function generativeBench(): { spec: ObjectiveSpec; data: ExampleSource; label: string } {
  const width = 5;
  const textVocab = 4000;
  const cfg = generativeConfig({ profile: 'small', overrides: shape, textVocab, sidSizes: Array(width).fill(64), nItems, itemEmbedding: true });
  const rng = new Rng(11);
  const itemSids = Int32Array.from({ length: nItems * width }, (_, i) => (i % width) * 64 + rng.int(64));
  const pack = packContext(cfg, itemSids);
  const prompts: Prompt[] = [];
  const targets: Target[] = [];
  for (const seq of sequences) {
    for (let t = 1; t < seq.length; t++) {
      const item = seq[t];
      prompts.push({
        task: 'personal',
        text: Int32Array.from({ length: 2 + rng.int(7) }, () => rng.int(textVocab)),
        sid: itemSids.slice(item * width, item * width + width),
        history: seq.slice(0, t),
      });
      targets.push({ kind: 'sid', tokens: itemSids.subarray(item * width, item * width + width) });
    }
  }
  const data: ExampleSource = {
    size: prompts.length,
    collate: (ids) => ({ ...packPrompts(Array.from(ids, (i) => prompts[i]), pack), ...packTargets(Array.from(ids, (i) => targets[i]), pack) }),
  };
  return { spec: generativeSpec(cfg), data, label: `generative (small) d=${cfg.encoder.dModel} layers=${cfg.encoder.nLayers}+${cfg.decoder.nLayers}` };
}

interface Run {
  examplesPerSecond: number;
  termsPerSecond: number;
  gflops: number;
  /** Loss of the last timed step: equal across backends up to float rounding. */
  lastLoss: number;
}

/** Times steps warmup+1..warmup+steps of a fresh training run with `threads` workers (0 = main). */
async function measure(threads: number, backend: TensorBackend): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-train-'));
  let start = 0;
  let examples = 0;
  let terms = 0;
  let flops = 0;
  let end = 0;
  let lastLoss = Number.NaN;
  try {
    await train({
      spec,
      data,
      config: { ...TRAIN_DEFAULTS, batchSize: Number(values.batch), epochs: 1000, seed: 1 },
      outDir: dir,
      workers: threads,
      backend,
      maxSteps: warmup + steps,
      log: () => {},
      onStep: (state, info) => {
        if (state.step === warmup) start = performance.now();
        if (state.step > warmup && state.step <= warmup + steps) {
          examples += info.examples;
          terms += info.terms;
          flops += info.flops;
          lastLoss = info.loss;
          end = performance.now();
        }
      },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const seconds = (end - start) / 1000;
  return { examplesPerSecond: examples / seconds, termsPerSecond: terms / seconds, gflops: flops / seconds / 1e9, lastLoss };
}

const fmt = (x: number, digits = 1) => x.toFixed(digits);
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
console.log(`load average at start: ${loadavg().map((x) => x.toFixed(2)).join(' ')} (${cpus().length} cores; others' work slows every figure)`);
console.log(`${label} items=${nItems} batch=${values.batch}; ${steps} timed steps after ${warmup} warm-up steps`);
const peaks = new Map<TensorBackend, number[]>(backends.map((b) => [b, []]));
const single = new Map<TensorBackend, Run[]>(backends.map((b) => [b, []]));
const parallel: Run[] = [];
for (let round = 0; round < Number(values.rounds); round++) {
  for (const backend of backends) {
    await initTensorRuntime({ backend });
    peaks.get(backend)?.push(await measureMatmulGflops());
    single.get(backend)?.push(await measure(0, backend));
    if (backend === 'wasm' && workers > 0) parallel.push(await measure(workers, 'wasm'));
  }
}
const peakOf = (backend: TensorBackend) => mean(peaks.get(backend) ?? []);
const speed = (runs: Run[]) => mean(runs.map((r) => r.examplesPerSecond));
const row = (label: string, runs: Run[], threads: number, backend: TensorBackend) => {
  const gf = mean(runs.map((r) => r.gflops));
  console.log(
    `${label.padEnd(22)} ${fmt(speed(runs), 0).padStart(6)} ex/s ${fmt(mean(runs.map((r) => r.termsPerSecond)), 0).padStart(7)} terms/s ${fmt(gf).padStart(6)} GFLOP/s  MFU ${fmt((100 * gf) / (peakOf(backend) * threads))}% of ${threads} x ${fmt(peakOf(backend))}  loss ${runs.map((r) => r.lastLoss.toFixed(4)).join(', ')}`,
  );
};
for (const backend of backends) console.log(`matmul ${matmulProbeSize(backend)}^3 on ${backend}, one thread: ${fmt(peakOf(backend))} GFLOP/s (rounds: ${(peaks.get(backend) ?? []).map((p) => fmt(p)).join(', ')})`);
const baseline = speed(single.get('wasm') ?? []);
for (const backend of backends) {
  const runs = single.get(backend) ?? [];
  row(backend === 'wasm' ? 'single thread' : `${backend}, main thread`, runs, 1, backend);
  if (backend !== 'wasm') console.log(`${backend} against one wasm thread: ${fmt(speed(runs) / baseline, 2)}x`);
}
if (workers > 0) {
  row(`data-parallel x${workers}`, parallel, workers, 'wasm');
  console.log(`data-parallel speed-up: ${fmt(speed(parallel) / baseline, 2)}x`);
}
