import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { baseline } from '../src/baselines/registry.js';
import { compareToReference, labelReport, mergeReports, readReport, renderMarkdown } from '../src/eval/report.js';
import { caseBuckets, popularityBreakdown, trainingCounts } from '../src/eval/popularity.js';
import { runEvaluation, writeReport } from '../src/eval/run.js';
import type { TrainData } from '../src/eval/types.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { plantedChain } from './eval-fixtures.js';
import { tempDir } from './helpers.js';

const entries = (names: string[]) =>
  names.map((name) => {
    const spec = baseline(name);
    return { name, create: () => spec.create(spec.defaults) };
  });

test('a run covers every protocol, split and history variant, with significance against the reference', async (t) => {
  const inter = plantedChain({ users: 150 });
  const report = await runEvaluation(inter, {
    protocols: ['rec', 'search'],
    splits: ['valid', 'test'],
    systems: entries(['popular', 'itemcf', 'bm25']),
    ks: [5, 10],
    iterations: 300,
    seed: 4,
    command: 'test run',
  });
  // BM25 has no rec tables: 2 splits x 2 variants x (2 rec + 3 search systems).
  assert.equal(report.runs.length, 20);
  assert.ok(!report.runs.some((r) => r.protocol === 'rec' && r.system === 'bm25'));
  for (const run of report.runs) {
    assert.equal(run.significance === undefined, run.system === 'popular', `${run.system} significance`);
    assert.ok(Object.keys(run.metrics).length === 6);
  }
  const cf = report.runs.find((r) => r.system === 'itemcf' && r.protocol === 'rec' && r.split === 'test' && r.excludeHistory)!;
  assert.ok(cf.significance!['recall@10'].pRandomization < 0.01, 'planted chain: itemcf clearly beats popular');
  assert.equal(report.meta.command, 'test run');
  assert.match(report.meta.gitCommit, /^([0-9a-f]{40}(\+dirty)?|unknown)$/);
  // The popularity buckets split the cases: their case-weighted means are the run's means.
  for (const run of report.runs) {
    const buckets = run.byPopularity!;
    assert.deepEqual(buckets.map((b) => b.label), ['0-4', '5-9', '10-19', '20-49', '50+']);
    assert.equal(buckets.reduce((n, b) => n + b.cases, 0), run.nCases);
    for (const key of Object.keys(run.metrics)) {
      const pooled = buckets.reduce((sum, b) => sum + b.metrics[key] * b.cases, 0) / run.nCases;
      assert.ok(Math.abs(pooled - run.metrics[key]) < 1e-6, `${run.system} ${key}: ${pooled} vs ${run.metrics[key]}`);
    }
  }

  const dir = tempDir(t);
  const files = writeReport(dir, report);
  for (const f of files) assert.ok(existsSync(f), f);
  const back = readReport(dir);
  assert.deepEqual(back.runs, report.runs);
  for (const [key, r] of report.ranks) assert.deepEqual(back.ranks.get(key), r, key);
  const md = readFileSync(join(dir, 'report.md'), 'utf8');
  assert.match(md, /## next-item recommendation, test split, user's history items excluded from the ranking/);
  assert.match(md, /\| itemcf \| 150 \| 0\.\d{4}/);
  assert.match(md, /By how often the target was bought in the training view \(N@10 \/ R@10;/);
  assert.match(md, /\| itemcf \| (0\.\d{4} \/ 0\.\d{4} \| ){4}0\.\d{4} \/ 0\.\d{4} \|/);
  const html = readFileSync(join(dir, 'report.html'), 'utf8');
  assert.equal((html.match(/<svg /g) ?? []).length, 8 * 3, 'a chart per K per section, and one by target popularity');
  assert.doesNotMatch(html, /<script|<link|src=|https?:\/\/(?!www\.w3\.org\/2000\/svg)/, 'opens offline');
});

test('reports merge so a later system is tested against stored baselines', async (t) => {
  const inter = plantedChain({ users: 100 });
  const common = { protocols: ['rec'] as const, splits: ['test'] as const, ks: [10], iterations: 200 };
  const a = await runEvaluation(inter, { ...common, systems: entries(['popular']) });
  const b = await runEvaluation(inter, { ...common, systems: entries(['itemcf']) });
  const dirA = tempDir(t);
  const dirB = tempDir(t);
  writeReport(dirA, a);
  writeReport(dirB, b);
  const merged = mergeReports([readReport(dirA), readReport(dirB)]);
  compareToReference(merged, 'popular');
  const cf = merged.runs.filter((r) => r.system === 'itemcf');
  assert.equal(cf.length, 2);
  for (const r of cf) assert.ok(r.significance!['ndcg@10'].delta > 0);
  assert.match(renderMarkdown(merged), /Δ N@10 vs popular|ΔN@10 vs popular/);
  const other = await runEvaluation(inter, { ...common, ks: [5], systems: entries(['popular']) });
  assert.throws(() => mergeReports([a, other]), /dataset and --k must match/);
  assert.throws(() => readReport(join(dirA, 'missing')), /written by `gensearch eval/);
  // Two runs of one system merge under labels and are tested against each other.
  const twice = mergeReports([labelReport(readReport(dirB), 'cf-a'), labelReport(readReport(dirB), 'cf-b')]);
  compareToReference(twice, 'cf-a');
  const b2 = twice.runs.filter((r) => r.system === 'cf-b');
  assert.equal(b2.length, 2);
  for (const r of b2) assert.equal(r.significance!['ndcg@10'].delta, 0, 'the same ranks: no difference');
  assert.deepEqual(new Set(labelReport(merged, 'x').runs.map((r) => r.system)), new Set(['popular@x', 'itemcf@x']));
});

test('gensearch eval and report on the command line', (t) => {
  const home = tempDir(t);
  const inter = plantedChain({ users: 80 });
  const store = new SqliteStore(join(home, 'store.sqlite'));
  store.write((tx) => {
    tx.ensureDataset('chain', 'test');
    tx.putItems('chain', inter.items);
    tx.putEvents(
      'chain',
      inter.sequences.flatMap((seq, u) =>
        Array.from(seq, (item, ts) => ({
          userId: `u${u}`,
          itemId: inter.items[item].id,
          type: 'purchase' as const,
          query: null,
          ts,
          sessionId: null,
          key: `u${u}:${ts}`,
        })),
      ),
    );
  });
  store.close();
  const cli = (...args: string[]) => spawnSync(process.execPath, ['dist/src/cli/main.js', '--home', home, ...args], { encoding: 'utf8' });
  const out = join(home, 'report');
  const run = cli('eval', '--dataset', 'chain', '--protocol', 'rec,search', '--split', 'valid', '--system', 'popular,itemcf,bm25-personal', '--k', '5,10', '--iterations', '100', '--out', out);
  assert.equal(run.status, 0, run.stderr);
  assert.ok(existsSync(join(out, 'report.html')));
  const json = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8'));
  assert.equal(json.meta.dataset, 'chain');
  assert.match(json.meta.command, /^gensearch .*eval --dataset chain/);
  const again = cli('report', '--in', out, '--reference', 'itemcf');
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, /vs itemcf/);
  const bad = cli('eval', '--dataset', 'chain', '--protocol', 'web');
  assert.equal(bad.status, 65);
  assert.match(bad.stderr, /--protocol expects one or more of rec, search/);
  const missing = cli('eval', '--dataset', 'nope');
  assert.equal(missing.status, 66);
  assert.match(missing.stderr, /dataset "nope" not found/);
});

test('popularity buckets: a case goes by its target\'s training purchases, and each bucket averages its own cases', () => {
  const train = { nItems: 4, sequences: [Int32Array.of(0, 1, 1), Int32Array.of(1, 2), Int32Array.from({ length: 60 }, () => 3)] } as unknown as TrainData;
  const counts = trainingCounts(train);
  assert.deepEqual(Array.from(counts), [1, 3, 1, 60]);
  const cases = [0, 3, 1, 3, 2].map((t) => ({ user: 0, history: new Int32Array(0), query: null, targets: Int32Array.of(t) }));
  const buckets = caseBuckets(cases, counts);
  assert.deepEqual(Array.from(buckets), [0, 4, 0, 4, 0]);
  const breakdown = popularityBreakdown(buckets, new Map([['recall@10', Float32Array.of(1, 0, 0, 1, 1)]]));
  assert.deepEqual(breakdown.map((b) => [b.label, b.cases, b.metrics['recall@10']]), [
    ['0-4', 3, 2 / 3],
    ['5-9', 0, 0],
    ['10-19', 0, 0],
    ['20-49', 0, 0],
    ['50+', 2, 0.5],
  ]);
});
