import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { listStepCheckpoints } from '../src/tensor/checkpoint.js';
import { tempDir } from './helpers.js';
import { lastJsonLine, runFixture } from './process-fixtures.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/train-planted.js', import.meta.url));

interface Outcome {
  resumedFromStep: number;
  steps: number;
  finalStep: number;
  hash: string;
}

const run = (args: string[], pauseMs: number) => runFixture(FIXTURE, args, pauseMs);

const outcome = (out: string): Outcome => lastJsonLine<Outcome>(out);

test('a training process killed mid-run resumes from its last checkpoint and ends where an uninterrupted run ends', async (t) => {
  const dir = tempDir(t);
  // Run slowly and SIGKILL it once a checkpoint is on disk (some steps after, the kill lands).
  const first = run([dir], 40);
  let step = 0;
  for (let i = 0; i < 600 && step < 5; i++) {
    await sleep(10);
    step = listStepCheckpoints(dir)[0]?.step ?? 0;
  }
  first.child.kill('SIGKILL');
  const killed = await first.done;
  assert.equal(killed.code, null, `the first run finished before it could be killed: ${killed.out}`);
  assert.ok(step >= 5, `no checkpoint appeared: ${killed.out}`);

  const resumed = await run([dir, '--resume'], 0).done;
  assert.equal(resumed.code, 0, resumed.out);
  const r = outcome(resumed.out);
  assert.ok(r.resumedFromStep >= 5, `resumed from step ${r.resumedFromStep}`);
  assert.equal(r.resumedFromStep % 5, 0, 'resumed from a checkpoint step');
  assert.equal(r.steps, r.finalStep - r.resumedFromStep, 'ran only the steps after the checkpoint');

  const fresh = await run([tempDir(t)], 0).done;
  assert.equal(fresh.code, 0, fresh.out);
  const f = outcome(fresh.out);
  assert.equal(f.resumedFromStep, 0);
  assert.equal(r.finalStep, f.finalStep);
  assert.equal(r.hash, f.hash, 'the resumed run ends with the parameters of an uninterrupted run');
});
