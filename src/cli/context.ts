import { join } from 'node:path';
import { defaultHome } from '../paths.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/types.js';

/** Options every command accepts. */
export interface GlobalOptions {
  home?: string;
}

/** Where a command keeps its state: the store and the artifacts built from it. */
export interface CliContext {
  home: string;
  storePath: string;
  openStore(): Store;
}

export function cliContext(options: GlobalOptions): CliContext {
  const home = options.home ?? defaultHome();
  const storePath = join(home, 'store.sqlite');
  return { home, storePath, openStore: () => new SqliteStore(storePath) };
}
