import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readS3Rec } from '../src/import/amazon-beauty.js';
import { sliceS3Rec } from '../src/import/demo-slice.js';
import { demoDataDir } from '../src/paths.js';
import { tempDir } from './helpers.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

test('end to end on a slice of the demo data: import, embed, SIDs, train (tiny, 2 workers), eval, search, recommend', async (t) => {
  const home = tempDir(t);
  const data = join(home, 'slice');
  mkdirSync(data);
  const slice = sliceS3Rec(readS3Rec(demoDataDir()), { items: 40, minInteractions: 5 });
  for (const [file, text] of Object.entries(slice.files)) writeFileSync(join(data, file), text);
  const cli = (...args: string[]) => {
    const r = spawnSync(process.execPath, [CLI, '--home', home, ...args], { encoding: 'utf8', env: { ...process.env, GENSEARCH_QUIET: '1' } });
    assert.equal(r.status, 0, `gensearch ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
    return r.stdout;
  };
  cli('import', 'beauty', data, '--dataset', 'slice');
  cli('embed', '--dataset', 'slice', '--epochs', '1', '--dim', '16', '--no-word-vectors');
  cli('sids', 'build', '--dataset', 'slice', '--levels', '4,4', '--opq', '4', '--no-keywords');
  const trained = cli('train', '--dataset', 'slice', '--profile', 'tiny', '--workers', '2', '--set', 'epochs=2', '--set', 'validCases=30', '--set', 'textVocab=100');
  assert.match(trained, /mixed: \d+ samples, 2 epochs/);
  assert.match(trained, /MFU \d/);
  assert.doesNotMatch(trained, /random init/, '16-d codebooks warm-start the 32-wide model (zero-padded)');
  const narrow = ['train', '--dataset', 'slice', '--profile', 'tiny', '--name', 'narrow', '--set', 'dModel=8', '--set', 'epochs=1', '--set', 'validCases=10', '--set', 'textVocab=100'];
  assert.match(cli(...narrow), /SID tokens start from random init: SID build "default" has 16-d codebooks, the model is 8 wide/);
  const strict = spawnSync(process.execPath, [CLI, '--home', home, ...narrow, '--name', 'strict', '--set', 'sidInit=1'], { encoding: 'utf8' });
  assert.equal(strict.status, 65, 'an explicit warm start the codebooks cannot give is bad input');
  assert.match(strict.stderr, /sidInit needs SID codebooks no wider than the model: .*set dModel >= 16 or sidInit=0/);
  const out = join(home, 'report');
  cli('eval', '--dataset', 'slice', '--protocol', 'rec,search', '--split', 'test', '--system', 'popular,generative', '--k', '5,10', '--iterations', '50', '--out', out);
  const report = JSON.parse(readFileSync(join(out, 'report.json'), 'utf8')) as { runs: { protocol: string; system: string; excludeHistory: boolean; metrics: Record<string, number> }[] };
  for (const protocol of ['rec', 'search']) {
    const gen = report.runs.find((r) => r.protocol === protocol && r.system === 'generative' && !r.excludeHistory);
    assert.ok(gen && gen.metrics['recall@10'] > 0, `${protocol}: the generative system ranks targets (${JSON.stringify(gen?.metrics)})`);
  }
  const named = join(home, 'report-narrow');
  cli('eval', '--dataset', 'slice', '--protocol', 'rec', '--split', 'test', '--system', 'generative', '--name', 'narrow', '--k', '10', '--iterations', '50', '--out', named);
  const narrowRun = (JSON.parse(readFileSync(join(named, 'report.json'), 'utf8')) as typeof report).runs.find((r) => !r.excludeHistory)!;
  const defaultRun = report.runs.find((r) => r.protocol === 'rec' && r.system === 'generative' && !r.excludeHistory)!;
  assert.notDeepEqual(narrowRun.metrics, defaultRun.metrics, '--name picks the 8-wide one-epoch model, not the default');
  const unknown = spawnSync(process.execPath, [CLI, '--home', home, 'eval', '--dataset', 'slice', '--system', 'generative', '--name', 'nope'], { encoding: 'utf8' });
  assert.equal(unknown.status, 66);
  assert.match(unknown.stderr, /no generative model "nope"/);
  const user = slice.files['sequences.txt'].split(' ')[0];
  const found = JSON.parse(cli('search', 'nail polish', '--dataset', 'slice', '--user', user, '--k', '3', '--beam', '8', '--json')) as { items: { id: string }[] };
  assert.equal(found.items.length, 3);
  // The item head's knobs reach the decoder: this model has no head to weigh.
  const weighted = spawnSync(process.execPath, [CLI, '--home', home, 'search', 'nail polish', '--dataset', 'slice', '--item-weight', '1'], { encoding: 'utf8' });
  assert.equal(weighted.status, 65);
  assert.match(weighted.stderr, /itemWeight > 0 needs a model trained with an item head/);
  const prior = spawnSync(process.execPath, [CLI, '--home', home, 'recommend', '--dataset', 'slice', '--user', user, '--text-match', '2'], { encoding: 'utf8' });
  assert.equal(prior.status, 65);
  assert.match(prior.stderr, /textMatchWeight needs the item head in the ranking/);
  const tuned = spawnSync(process.execPath, [CLI, '--home', home, 'tune', '--system', 'generative', '--dataset', 'slice', '--protocol', 'rec'], { encoding: 'utf8' });
  assert.equal(tuned.status, 65);
  assert.match(tuned.stderr, /tuning the head needs a model trained with an item head/);
  const badStart = spawnSync(process.execPath, [CLI, '--home', home, 'tune', '--system', 'generative', '--dataset', 'slice', '--set', 'generative.beam=100'], { encoding: 'utf8' });
  assert.equal(badStart.status, 65);
  assert.match(badStart.stderr, /--set generative.beam: the tuner starts from itemWeight, coPurchase, textMatch, queryCosine, userCosine, historyCosine/);
  const recs = JSON.parse(cli('recommend', '--dataset', 'slice', '--user', user, '--k', '3', '--beam', '8', '--json')) as { items: { id: string }[]; historyLength: number };
  assert.equal(recs.items.length, 3);
  assert.ok(recs.historyLength >= 5);
});
