import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { sharedDataDir } from '../src/paths.js';

/**
 * The path of a folder under ../shared/data, or undefined after marking the test skipped.
 * In CI (CI=true) a missing folder fails the test instead: CI must never skip them.
 */
export function sharedData(t: TestContext, folder: string): string | undefined {
  const path = join(sharedDataDir(), folder);
  if (existsSync(path)) return path;
  if (process.env.CI) throw new Error(`shared data ${path} is missing; CI must run this test`);
  t.skip(`shared data ${path} is absent (set GENSEARCH_SHARED_DATA or put ../shared beside the checkout)`);
  return undefined;
}

/** A fresh temporary folder, removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'gensearch-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
