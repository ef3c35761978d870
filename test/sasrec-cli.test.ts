import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from './helpers.js';
import { cli, importPlanted } from './process-fixtures.js';

const KNOBS = ['dModel=32', 'nLayers=1', 'maxLen=12', 'epochs=4', 'lr=0.005', 'batchSize=32'].flatMap((k) => ['--set', `sasrec.${k}`]);

test('CLI: train-baseline sasrec trains with early stopping, eval --system sasrec reuses the model, --resume of a finished run does nothing', (t) => {
  const home = tempDir(t);
  const dir = tempDir(t);
  assert.equal(importPlanted(home, dir).code, 0);

  const trained = cli(home, 'train-baseline', 'sasrec', '--dataset', 'planted', ...KNOBS);
  assert.equal(trained.code, 0, trained.stderr);
  const summary = JSON.parse(trained.stdout) as { validation: Record<string, number>; outDir: string; epochs: number; bestEpoch: number };
  assert.ok(summary.validation['recall@10'] > 0.8, `validation R@10 ${summary.validation['recall@10']}`);
  assert.ok(summary.bestEpoch >= 1 && summary.bestEpoch <= summary.epochs);
  assert.ok(readFileSync(join(summary.outDir, 'metrics.jsonl'), 'utf8').includes('"type":"epoch"'));

  const out = join(home, 'report');
  const evaluated = cli(home, 'eval', '--dataset', 'planted', '--system', 'sasrec,popular', '--split', 'test', '--out', out, ...KNOBS);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as {
    runs: { system: string; excludeHistory: boolean; fitSeconds: number; metrics: Record<string, number> }[];
  };
  const run = (system: string) => report.runs.find((r) => r.system === system && !r.excludeHistory)!;
  assert.ok(run('sasrec').metrics['recall@10'] > 0.8, `test R@10 ${run('sasrec').metrics['recall@10']}`);
  assert.ok(run('sasrec').metrics['recall@10'] > 2 * run('popular').metrics['recall@10']);
  assert.ok(report.runs.some((r) => r.system === 'sasrec' && r.excludeHistory), 'both history variants');
  assert.ok(run('sasrec').fitSeconds < 5, `eval trained again (fit took ${run('sasrec').fitSeconds} s)`);

  const again = cli(home, 'train-baseline', 'sasrec', '--dataset', 'planted', '--resume', ...KNOBS);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(JSON.parse(again.stdout).validation, summary.validation);
});

test('CLI: train-baseline refuses what it cannot train, with the fix in the message', (t) => {
  const home = tempDir(t);
  const wrong = cli(home, 'train-baseline', 'itemcf');
  assert.equal(wrong.code, 65);
  assert.match(wrong.stderr, /trains sasrec, cascade; got "itemcf"/);
  const knob = cli(home, 'train-baseline', 'sasrec', '--set', 'sasrec.depth=3');
  assert.equal(knob.code, 65);
  assert.match(knob.stderr, /sasrec has no knob "depth"; its knobs: dModel, nLayers/);
});
