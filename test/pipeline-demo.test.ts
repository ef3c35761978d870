import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import type { EvalReport } from '../src/eval/report.js';
import { runDemo } from '../src/pipeline/demo.js';
import { tempDir } from './helpers.js';

test('the main job imports the bundled demo once, evaluates the baselines and writes the report (model steps: test/serve.test.ts)', async (t) => {
  const home = tempDir(t);
  const first = await runDemo({ home, iterations: 200, model: null });
  assert.equal(first.imported, true);
  for (const f of first.reportFiles) assert.ok(existsSync(f), f);
  const report = JSON.parse(readFileSync(first.reportFiles.find((f) => f.endsWith('report.json'))!, 'utf8')) as EvalReport;
  const ndcg10 = (protocol: string, system: string) =>
    report.runs.find((r) => r.protocol === protocol && r.system === system && r.excludeHistory)!.metrics['ndcg@10'];
  assert.ok(ndcg10('rec', 'itemcf') > 2 * ndcg10('rec', 'popular'), 'co-occurrence beats popularity');
  assert.ok(ndcg10('search', 'bm25-personal') > ndcg10('search', 'bm25'), 'the personal prior helps search');
  const second = await runDemo({ home, iterations: 200, model: null });
  assert.equal(second.imported, false, 'unchanged inputs are not imported again');
});
