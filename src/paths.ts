import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, found from this file whether it runs from src/ (tsx) or dist/src/ (tsc). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('package.json not found above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

/** The shared research data (`../shared/data` beside the checkout), or GENSEARCH_SHARED_DATA. */
export function sharedDataDir(): string {
  return process.env.GENSEARCH_SHARED_DATA ?? resolve(repoRoot(), '..', 'shared', 'data');
}

/** Bundled demo data set, shipped in the repo so the quickstart needs nothing else. */
export function demoDataDir(): string {
  return join(repoRoot(), 'data', 'demo');
}

/** Default working folder for the store, embeddings, SIDs, checkpoints and reports. */
export function defaultHome(): string {
  return process.env.GENSEARCH_HOME ?? join(repoRoot(), '.gensearch');
}
