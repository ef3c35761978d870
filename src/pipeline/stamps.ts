import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * Build stamps: a step records a fingerprint of its inputs when it finishes, and a later run
 * skips the step while the fingerprint is unchanged and its outputs still exist.
 */
export interface StepStamp {
  step: string;
  fingerprint: string;
  finishedAt: string;
}

/** Fingerprint of files (content) and settings (plain data), order-sensitive. */
export function fingerprint(files: readonly string[], settings: unknown = null): string {
  const hash = createHash('sha256');
  for (const f of files) {
    hash.update(f);
    hash.update(readFileSync(f));
  }
  hash.update(JSON.stringify(settings));
  return hash.digest('hex');
}

function stampPath(home: string, step: string): string {
  return join(home, 'stamps', `${step}.json`);
}

export function isFresh(home: string, step: string, print: string): boolean {
  const path = stampPath(home, step);
  if (!existsSync(path)) return false;
  try {
    return (JSON.parse(readFileSync(path, 'utf8')) as StepStamp).fingerprint === print;
  } catch {
    return false; // a damaged stamp just means the step runs again
  }
}

/** Fresh and every output path still there (a deleted folder makes the step run again). */
export function isBuilt(home: string, step: string, print: string, outputs: readonly string[]): boolean {
  return isFresh(home, step, print) && outputs.every((p) => existsSync(p));
}

/** Fingerprint of a step that depends on an earlier step's fingerprint and its own settings. */
export function chained(previous: string, settings: unknown): string {
  return createHash('sha256').update(previous).update(JSON.stringify(settings)).digest('hex');
}

/** Written after the step's outputs, atomically, so a crash mid-step never looks finished. */
export function markDone(home: string, step: string, print: string): void {
  const path = stampPath(home, step);
  mkdirSync(dirname(path), { recursive: true });
  const stamp: StepStamp = { step, fingerprint: print, finishedAt: new Date().toISOString() };
  writeFileSync(`${path}.tmp`, JSON.stringify(stamp, null, 2));
  renameSync(`${path}.tmp`, path);
}
