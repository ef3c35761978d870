// Cost of the search cascade, stage by stage: `npm run bench:cascade -- --home H --dataset beauty
// [--generative <model folder>] [--beams 20,100] [--queries 200] [--recall-cases 0]`.
// 1. Recall of each channel at its quota, of the merged set at its size and of the pre-rank cut
//    (valid and test, all cases by default).
// 2. Per-query latency and CPU time of each stage, one request at a time (what a search box
//    sees), with no query cache: BM25, ANN (query encoding + HNSW search), ItemCF, merge +
//    features + pre-rank, rank; and the batched rate of the whole cascade.
//    And the HNSW channel against exact search: overlap of the top quota, time per query.
// 3. With --generative: the generative retriever's per-query decode latency and CPU time on the
//    same requests in the same run, and its ratio to the cascade's.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Cascade, cascadeModelDir } from '../src/cascade/cascade.js';
import { CHANNELS, type Candidates } from '../src/cascade/candidates.js';
import { loadAlignedEmbeddings } from '../src/cascade/embeddings.js';
import { cascadeKnobs } from '../src/cascade/knobs.js';
import { generateAll, RecallCounter } from '../src/cascade/train.js';
import { TopKSelector } from '../src/eval/topk.js';
import { rankRequest } from '../src/decode/ranker.js';
import { buildEvalData } from '../src/eval/protocol.js';
import type { EvalCase, Split } from '../src/eval/types.js';
import { defaultHome } from '../src/paths.js';
import { loadInteractions } from '../src/store/interactions.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { loadGenerative, spaced } from '../src/tasks/train.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { benchArg } from './args.js';

process.env.GENSEARCH_QUIET = '1';
const home = benchArg('home', defaultHome());
const dataset = benchArg('dataset', 'beauty');
const nQueries = Number(benchArg('queries', '200'));
const recallCases = Number(benchArg('recall-cases', '0'));
const generativeFolder = benchArg('generative', '');
const beams = benchArg('beams', '20,100').split(',').map(Number);
const WARMUP = 10;

await initTensorRuntime();
const store = new SqliteStore(join(home, 'store.sqlite'));
const inter = loadInteractions(store, dataset);
store.close();
const knobs = cascadeKnobs();
const data = Object.fromEntries((['valid', 'test'] as Split[]).map((s) => [s, buildEvalData(inter, 'search', s)])) as Record<Split, ReturnType<typeof buildEvalData>>;
const train = data.valid.train;
const emb = await loadAlignedEmbeddings(home, dataset, train.items);
const trained = existsSync(join(cascadeModelDir(home, train, knobs, emb.version), 'best.json'));
const cascade = new Cascade('cascade', knobs, home, { rank: trained, embeddings: emb });
await cascade.fit(train);
const gen = cascade.generator();
console.log(`# search cascade on ${dataset}: ${train.nItems} items, quotas BM25 ${knobs.quotaBm25} / ANN ${knobs.quotaAnn} / ItemCF ${knobs.quotaItemcf}, pre-rank cut ${knobs.prerankSize}, ${trained ? 'trained ranker' : 'no trained ranker (rank stage left out)'}`);

console.log('\n## recall of each stage (share of cases whose target it holds), history kept');
console.log('| split | cases | BM25 | ANN | ItemCF | merged | merged size (mean) | pre-rank cut |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const split of ['valid', 'test'] as Split[]) {
  const cases = recallCases > 0 ? spaced(data[split].cases, recallCases) : data[split].cases;
  const counter = new RecallCounter(knobs.prerankSize);
  generateAll(gen, cases, `recall ${split}`, (c, i) => counter.add(c, cases[i].targets[0]));
  const s = counter.stats();
  console.log(
    `| ${split} | ${s.cases} | ${CHANNELS.map((ch) => `${s.channels[ch].recall.toFixed(4)} @${s.channels[ch].meanSize.toFixed(0)}`).join(' | ')} | ${s.merged.recall.toFixed(4)} | ${s.merged.meanSize.toFixed(1)} | ${s.prerank.recall.toFixed(4)} @${s.prerank.size} |`,
  );
}

interface Cost {
  ms: number[];
  cpuMs: number[];
}
const costs = new Map<string, Cost>();
/** A clock reading: wall time and this process's CPU time. */
const clock = () => ({ t: performance.now(), cpu: process.cpuUsage() });
function note(stage: string, since: ReturnType<typeof clock>): void {
  const used = process.cpuUsage(since.cpu);
  const c = costs.get(stage) ?? { ms: [], cpuMs: [] };
  c.ms.push(performance.now() - since.t);
  c.cpuMs.push((used.user + used.system) / 1000);
  costs.set(stage, c);
}
function timed<T>(stage: string, fn: () => T): T {
  const since = clock();
  const out = fn();
  note(stage, since);
  return out;
}
const quantile = (xs: number[], q: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
const meanOf = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);

const requests: EvalCase[] = spaced(data.valid.cases, nQueries + WARMUP);
const stages = ['recall: BM25', 'recall: ANN (encode query + HNSW)', 'recall: ItemCF', 'merge + features + pre-rank', ...(trained ? ['rank (DIN, top 100)'] : [])];
const TOTAL = 'cascade total';
requests.forEach((c, r) => {
  // The first requests warm up (JIT, wasm, caches of the engines) and are not recorded.
  const stage = (name: string) => (r >= WARMUP ? name : 'warm-up');
  const start = clock();
  const { bRow, bm25 } = timed(stage(stages[0]), () => {
    const row = gen.bm25Rows([c]);
    return { bRow: row, bm25: gen.topOfRow(row, knobs.quotaBm25) };
  });
  const { query, ann } = timed(stage(stages[1]), () => {
    const q = emb.encodeQueries([c.query!]);
    return { query: q, ann: gen.annSearch(q) };
  });
  const { cRow, itemcf } = timed(stage(stages[2]), () => {
    const row = gen.itemcfRows([c]);
    return { cRow: row, itemcf: gen.topOfRow(row, knobs.quotaItemcf) };
  });
  const cands: Candidates = timed(stage(stages[3]), () => gen.merge(c, query, bRow, cRow, { bm25, ann, itemcf }));
  if (trained) timed(stage(stages[4]), () => cascade.rank([c], [cands]));
  note(stage(TOTAL), start);
});
const totals = costs.get(TOTAL)!.ms;
const totalCpu = costs.get(TOTAL)!.cpuMs;

console.log(`\n## per-query cost of each stage, one request at a time, no query cache (${totals.length} validation queries, main thread)`);
console.log('| stage | wall ms (median) | wall ms (p90) | wall ms (mean) | CPU ms (mean) | share of total |');
console.log('|---|---:|---:|---:|---:|---:|');
const totalMean = meanOf(totals);
for (const stage of stages) {
  const c = costs.get(stage)!;
  console.log(`| ${stage} | ${quantile(c.ms, 0.5).toFixed(2)} | ${quantile(c.ms, 0.9).toFixed(2)} | ${meanOf(c.ms).toFixed(2)} | ${meanOf(c.cpuMs).toFixed(2)} | ${((100 * meanOf(c.ms)) / totalMean).toFixed(0)}% |`);
}
console.log(`| **cascade total** | ${quantile(totals, 0.5).toFixed(2)} | ${quantile(totals, 0.9).toFixed(2)} | ${totalMean.toFixed(2)} | ${meanOf(totalCpu).toFixed(2)} | 100% |`);

const batchCases = requests.slice(WARMUP);
const t0 = performance.now();
for (let from = 0; from < batchCases.length; from += cascade.batchSize) cascade.rankBatch(batchCases.slice(from, from + cascade.batchSize));
console.log(`\nbatched (${cascade.batchSize} per call, query cache on): ${((performance.now() - t0) / batchCases.length).toFixed(2)} ms/query`);

// The HNSW channel against exact inner-product search over all items (the same query vectors).
{
  const exact = new TopKSelector();
  const top = new Int32Array(knobs.quotaAnn);
  const scores = new Float32Array(train.nItems);
  let overlap = 0;
  let hnswMs = 0;
  let exactMs = 0;
  for (const c of batchCases) {
    const q = emb.encodeQueries([c.query!]);
    let t = performance.now();
    const hits = gen.annSearch(q);
    hnswMs += performance.now() - t;
    t = performance.now();
    for (let i = 0; i < train.nItems; i++) {
      let sum = 0;
      for (let j = 0; j < emb.dim; j++) sum += q[j] * emb.items[i * emb.dim + j];
      scores[i] = sum;
    }
    const n = exact.select(scores, knobs.quotaAnn, top);
    exactMs += performance.now() - t;
    const truth = new Set(top.subarray(0, n));
    overlap += hits.filter((item) => truth.has(item)).length / Math.max(1, n);
  }
  const m = batchCases.length;
  console.log(
    `
HNSW (M ${knobs.connectivity}, ef_add ${knobs.expansionAdd}, ef_search ${knobs.expansionSearch}) vs exact search for the top ${knobs.quotaAnn}: ` +
      `overlap ${(overlap / m).toFixed(4)}, ${(hnswMs / m).toFixed(3)} ms vs ${(exactMs / m).toFixed(3)} ms per query (${(exactMs / hnswMs).toFixed(1)}x)`,
  );
}

if (generativeFolder) {
  if (!existsSync(generativeFolder)) {
    console.log(`\n(no generative model at ${generativeFolder}: comparison left out)`);
  } else {
    const { model } = loadGenerative(generativeFolder);
    console.log(`\n## generative retriever (${generativeFolder}) on the same requests, same run`);
    console.log('| system | wall ms (median) | wall ms (p90) | wall ms (mean) | CPU ms (mean) | wall vs cascade (mean) | CPU vs cascade (mean) |');
    console.log('|---|---:|---:|---:|---:|---:|---:|');
    console.log(`| cascade (all stages) | ${quantile(totals, 0.5).toFixed(2)} | ${quantile(totals, 0.9).toFixed(2)} | ${totalMean.toFixed(2)} | ${meanOf(totalCpu).toFixed(2)} | 1.00x | 1.00x |`);
    for (const beam of beams) {
      const stage = `generative beam ${beam}`;
      for (const [r, c] of requests.entries()) {
        const since = clock();
        await rankRequest(model, c.history, c.query, { beam, k: 10 });
        note(r >= WARMUP ? stage : 'warm-up', since);
      }
      const c = costs.get(stage)!;
      console.log(
        `| ${stage} | ${quantile(c.ms, 0.5).toFixed(2)} | ${quantile(c.ms, 0.9).toFixed(2)} | ${meanOf(c.ms).toFixed(2)} | ${meanOf(c.cpuMs).toFixed(2)} | ${(meanOf(c.ms) / totalMean).toFixed(2)}x | ${(meanOf(c.cpuMs) / meanOf(totalCpu)).toFixed(2)}x |`,
      );
    }
  }
}
