// Decoding speed and quality of a trained generative model: `npm run bench:decode -- --dataset beauty`.
// For each beam width: per-query latency (one request at a time, what a search box sees) and the
// batched rate (evaluation), then dynamic pruning at several margins, each against the unpruned
// search of the same beam measured in the same run: speed-up (beam rows scored and wall time)
// and the change of Recall/HR@10 and MRR@10 on validation cases of both protocols. Last, batched
// decoding over worker threads (what `--eval` and preference mining use) against the main thread.
// A model with an item head also gets the batched rate without the head's ranking (itemWeight 0)
// and the change of R@10 / MRR@10 that the head brings at each beam, and the single-query latency
// with the head's priors (fitted on all imported behaviour and the aligned embeddings, as `search`
// and `serve` do).
import { evaluateSystem } from '../src/eval/evaluate.js';
import { buildEvalData, knownBehaviour } from '../src/eval/protocol.js';
import type { EvalCase, Protocol } from '../src/eval/types.js';
import { loadAlignedEmbeddingsIfBuilt } from '../src/cascade/embeddings.js';
import type { HeadPriors } from '../src/decode/priors.js';
import { GenerativeRanker, headPriorsFor, rankRequest } from '../src/decode/ranker.js';
import { defaultHome } from '../src/paths.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { loadInteractions } from '../src/store/interactions.js';
import { generativeDir, loadGenerative, spaced } from '../src/tasks/train.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { benchArg } from './args.js';

process.env.GENSEARCH_QUIET = '1';
const home = benchArg('home', defaultHome());
const dataset = benchArg('dataset', 'demo');
const name = benchArg('name', 'default');
const nCases = Number(benchArg('cases', '300'));
const nLatency = Number(benchArg('latency-queries', '30'));
const beams = benchArg('beams', '20,100,350').split(',').map(Number);
const margins = benchArg('margins', '8,4,2,1').split(',').map(Number);
const pruneBeam = Number(benchArg('prune-beam', '100'));
const workerCounts = benchArg('workers', '1,2').split(',').map(Number);
const nWorkerCases = Number(benchArg('worker-cases', '2000'));

await initTensorRuntime();
const { model } = loadGenerative(generativeDir(home, dataset, name));
const store = new SqliteStore(`${home}/store.sqlite`);
const inter = loadInteractions(store, dataset);
store.close();
const data = Object.fromEntries(
  (['rec', 'search'] as Protocol[]).map((p) => {
    const d = buildEvalData(inter, p, 'valid');
    return [p, { train: d.train, cases: spaced(d.cases, nCases), workerCases: spaced(d.cases, nWorkerCases) }];
  }),
) as Record<Protocol, { train: ReturnType<typeof buildEvalData>['train']; cases: EvalCase[]; workerCases: EvalCase[] }>;

console.log(`# generative decoding on ${dataset} (model "${name}", ${model.cfg.encoder.nLayers}+${model.cfg.decoder.nLayers} layers, d=${model.cfg.encoder.dModel})`);
const head = Boolean(model.cfg.itemHead);
const priors = await headPriorsFor(model.cfg, knownBehaviour(dataset, inter.items, inter.sequences), {}, () => loadAlignedEmbeddingsIfBuilt(home, dataset, inter.items));
interface BatchedRun {
  ms: number;
  r: number;
  mrr: number;
}
/** Batched ms/query of `cases` and their R@10 and MRR@10 (history kept). */
async function batched(cases: EvalCase[], beam: number, itemWeight?: number): Promise<BatchedRun> {
  const ranker = new GenerativeRanker(() => model, { beam, itemWeight });
  await ranker.fit(data.search.train);
  const t0 = performance.now();
  const result = await evaluateSystem(ranker, cases, { nItems: data.search.train.nItems, ks: [10], excludeHistory: 'no' });
  const m = result.variants[0].means;
  return { ms: (performance.now() - t0) / cases.length, r: m['recall@10'], mrr: m['mrr@10'] };
}
console.log('\n## latency per query (one request at a time) and batched rate, main thread');
console.log(
  `| beam | single query ms (median) | single query ms (p90) | batched ms/query |${head ? ' single query ms with the priors (median) | without the item head | head cost | search R@10 (no head -> head) | MRR@10 (no head -> head) |' : ''}`,
);
console.log(`|---:|---:|---:|---:|${head ? '---:|---:|---:|---:|---:|' : ''}`);
/** Sorted single-request latencies (ms) over the first search cases. */
async function latencies(beam: number, withPriors?: HeadPriors): Promise<number[]> {
  const times: number[] = [];
  for (const c of data.search.cases.slice(0, nLatency)) {
    const { seconds } = await rankRequest(model, c.history, c.query, { beam, k: 10, priors: withPriors });
    times.push(seconds * 1000);
  }
  return times.sort((a, b) => a - b);
}
const median = (times: number[]) => times[Math.floor(times.length / 2)];
// A pass to warm the backend's kernels, so neither measured variant pays for it.
await latencies(beams[0]);
for (const beam of beams) {
  const times = await latencies(beam);
  const timesWithPriors = priors && (await latencies(beam, priors));
  const cases = data.search.cases.slice(0, Math.max(20, Math.floor(nCases / Math.max(1, beam / 20))));
  // Two interleaved passes per variant, each keeping its faster one: the first pass of a shape
  // pays the backend's one-off costs, and the machine is noisy.
  const passes: Record<'default' | 'plain', BatchedRun[]> = { default: [], plain: [] };
  for (let pass = 0; pass < 2; pass++) {
    passes.default.push(await batched(cases, beam));
    if (head) passes.plain.push(await batched(cases, beam, 0));
  }
  const fastest = (runs: BatchedRun[]) => runs.reduce((a, b) => (b.ms < a.ms ? b : a));
  const withDefault = fastest(passes.default);
  const cells = [beam, median(times).toFixed(1), times[Math.floor(times.length * 0.9)].toFixed(1), withDefault.ms.toFixed(1)];
  if (timesWithPriors) {
    const plain = fastest(passes.plain);
    cells.push(median(timesWithPriors).toFixed(1), plain.ms.toFixed(1), `${(withDefault.ms / plain.ms).toFixed(2)}x`, `${plain.r.toFixed(4)} -> ${withDefault.r.toFixed(4)}`, `${plain.mrr.toFixed(4)} -> ${withDefault.mrr.toFixed(4)}`);
  }
  console.log(`| ${cells.join(' | ')} |`);
}

console.log(`\n## dynamic pruning at beam ${pruneBeam}, against the unpruned search in the same run (${nCases} validation cases per protocol)`);
console.log('| protocol | margin (nats) | beam rows scored | speed-up (rows) | speed-up (time) | R@10 | ΔR@10 | MRR@10 | ΔMRR@10 |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const protocol of ['rec', 'search'] as Protocol[]) {
  const { train, cases } = data[protocol];
  let base: { rows: number; seconds: number; r: number; mrr: number } | undefined;
  for (const margin of [Number.POSITIVE_INFINITY, ...margins]) {
    const ranker = new GenerativeRanker(() => model, { beam: pruneBeam, pruneMargin: margin });
    await ranker.fit(train);
    const t0 = performance.now();
    const result = await evaluateSystem(ranker, cases, { nItems: train.nItems, ks: [10], excludeHistory: 'no' });
    const seconds = (performance.now() - t0) / 1000;
    const m = result.variants[0].means;
    const row = { rows: ranker.stats.beamRowsScored, seconds, r: m['recall@10'], mrr: m['mrr@10'] };
    base ??= row;
    console.log(
      `| ${protocol} | ${Number.isFinite(margin) ? margin : 'off'} | ${row.rows} | ${(base.rows / row.rows).toFixed(2)}x | ${(base.seconds / row.seconds).toFixed(2)}x | ${row.r.toFixed(4)} | ${(row.r - base.r).toFixed(4)} | ${row.mrr.toFixed(4)} | ${(row.mrr - base.mrr).toFixed(4)} |`,
    );
  }
}

console.log(`\n## batched decoding on worker threads at beam 20, against the main thread in the same run (${nWorkerCases} validation cases per protocol, after one warm-up batch)`);
console.log('| decoding threads | cases/s | speed-up | R@10 (both protocols) |');
console.log('|---|---:|---:|---:|');
let mainRate = 0;
for (const workers of [0, ...workerCounts]) {
  let seconds = 0;
  let hits = 0;
  // One ranker: each fit replaces its workers (idle workers do not keep the process alive).
  const ranker = new GenerativeRanker(() => model, { beam: 20, workers });
  for (const protocol of ['rec', 'search'] as Protocol[]) {
    const { train, workerCases: cases } = data[protocol];
    await ranker.fit(train);
    // Fresh threads compile their kernels on the first batch; a long evaluation pays it once.
    await ranker.rankBatch(cases.slice(0, ranker.batchSize), 10);
    const t0 = performance.now();
    const result = await evaluateSystem(ranker, cases, { nItems: train.nItems, ks: [10], excludeHistory: 'no' });
    seconds += (performance.now() - t0) / 1000;
    hits += result.variants[0].means['recall@10'] * cases.length;
  }
  const rate = (2 * nWorkerCases) / seconds;
  mainRate ||= rate;
  console.log(`| ${workers === 0 ? 'main thread' : `${workers} worker(s)`} | ${rate.toFixed(1)} | ${(rate / mainRate).toFixed(2)}x | ${(hits / (2 * nWorkerCases)).toFixed(4)} |`);
}
