import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../src/paths.js';
import { writeS3Rec } from './import-fixtures.js';
import { plantedSequences } from './sequence-fixtures.js';

/** Runs the built CLI on `home` (progress quiet) and returns its exit code and output. */
export function cli(home: string, ...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [join(repoRoot(), 'dist/src/cli/main.js'), '--home', home, ...args], {
    encoding: 'utf8',
    env: { ...process.env, GENSEARCH_QUIET: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Writes a planted catalog in S3Rec format to `dir` (40 items, 300 users; item i+1 follows a
 * fixed successor rule) and imports it into `home` as dataset "planted"; the import's result.
 */
export function importPlanted(home: string, dir: string): ReturnType<typeof cli> {
  writeS3Rec(dir, { items: 40, users: 1 });
  const { sequences } = plantedSequences(300, 40, 5, 5, 9);
  writeFileSync(join(dir, 'sequences.txt'), sequences.map((s, u) => [u + 1, ...Array.from(s, (i) => i + 1)].join(' ')).join('\n') + '\n');
  return cli(home, 'import', 'beauty', dir, '--dataset', 'planted');
}

/** A fixture script running as its own process (so a test can SIGKILL it), with its output. */
export interface FixtureRun {
  child: ChildProcess;
  done: Promise<{ code: number | null; out: string }>;
}

/**
 * Starts `node <script> ...args` with STEP_PAUSE_MS set (fixtures pause that long after each
 * training step, so a test can kill them mid-run); stdout and stderr are collected together.
 */
export function runFixture(script: string, args: string[], pauseMs: number): FixtureRun {
  const child = spawn(process.execPath, [script, ...args], { env: { ...process.env, STEP_PAUSE_MS: String(pauseMs) }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  return { child, done: new Promise((resolve) => child.on('exit', (code) => resolve({ code, out }))) };
}

/** The last line a fixture printed, parsed as JSON (its outcome). */
export function lastJsonLine<T>(out: string): T {
  return JSON.parse(out.trim().split('\n').pop()!) as T;
}
