import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from './helpers.js';
import { cli, importPlanted } from './process-fixtures.js';

const SMALL = ['quotaBm25=10', 'quotaAnn=10', 'quotaItemcf=10', 'prerankSize=8', 'historyLen=6', 'attnDim=8', 'hidden=16', 'hardNegatives=4', 'randomNegatives=2', 'epochs=3', 'lr=0.005'];
const knobs = (system: string) => SMALL.flatMap((k) => ['--set', `${system}.${k}`]);

test('CLI: embed, train-baseline cascade, then eval --system cascade-norank,cascade finds the trained model', (t) => {
  const home = tempDir(t);
  const dir = tempDir(t);
  assert.equal(importPlanted(home, dir).code, 0);

  const early = cli(home, 'train-baseline', 'cascade', '--dataset', 'planted', ...knobs('cascade'));
  assert.equal(early.code, 66, 'no embeddings yet');
  assert.match(early.stderr, /gensearch embed --dataset planted/);

  const embedded = cli(home, 'embed', '--dataset', 'planted', '--epochs', '1', '--no-word-vectors');
  assert.equal(embedded.code, 0, embedded.stderr);
  const trained = cli(home, 'train-baseline', 'cascade', '--dataset', 'planted', ...knobs('cascade'));
  assert.equal(trained.code, 0, trained.stderr);
  const summary = JSON.parse(trained.stdout) as { outDir: string; calibration: { logLoss: number }; recallOnValidation: { merged: { recall: number } } };
  assert.ok(summary.recallOnValidation.merged.recall > 0.5, `merged recall ${summary.recallOnValidation.merged.recall}`);
  assert.ok(readFileSync(join(summary.outDir, 'prerank.json'), 'utf8').includes('"weights"'));

  const out = join(home, 'report');
  const evaluated = cli(home, 'eval', '--dataset', 'planted', '--protocol', 'search', '--system', 'cascade-norank,cascade', '--split', 'test', '--k', '10', '--out', out, ...knobs('cascade'), ...knobs('cascade-norank'));
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { runs: { system: string; params: { model: string }; metrics: Record<string, number> }[] };
  const runs = report.runs.filter((r) => r.system === 'cascade');
  assert.equal(runs.length, 2, 'both history variants');
  assert.equal(runs[0].params.model, summary.outDir, 'eval used the model train-baseline wrote');
  // Chance R@10 is 10 / 40; the planted successor rule makes the target easy to recall and rank.
  assert.ok(runs[0].metrics['recall@10'] > 0.5, `R@10 ${runs[0].metrics['recall@10']}`);

  const other = cli(home, 'eval', '--dataset', 'planted', '--protocol', 'search', '--system', 'cascade', '--split', 'test', '--set', 'cascade.hidden=32');
  assert.equal(other.code, 66, 'knobs without a trained model');
  assert.match(other.stderr, /train-baseline cascade --dataset planted/);
});
