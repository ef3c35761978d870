import { type ChildProcess, spawn } from 'node:child_process';

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
