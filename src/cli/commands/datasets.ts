import type { Command } from 'commander';
import { cliContext, type GlobalOptions } from '../context.js';

export function registerDatasets(program: Command): void {
  program
    .command('datasets')
    .description('list the datasets in the store with their counts')
    .option('--json', 'print JSON instead of a table')
    .action((opts: { json?: boolean }, cmd: Command) => {
      const store = cliContext(cmd.optsWithGlobals<GlobalOptions>()).openStore();
      try {
        const rows = store.listDatasets();
        if (opts.json) {
          console.log(JSON.stringify(rows, null, 2));
          return;
        }
        if (rows.length === 0) console.log('no datasets: run `gensearch import ...` first');
        for (const d of rows) {
          console.log(`${d.name}\titems=${d.items}\tusers=${d.users}\tevents=${d.events}\t${d.source}\t${d.importedAt}`);
        }
      } finally {
        store.close();
      }
    });
}
