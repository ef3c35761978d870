import type { Command } from 'commander';
import { runDemo } from '../../pipeline/demo.js';
import { cliContext, type GlobalOptions } from '../context.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('the main job on the bundled demo data: import (skipped when unchanged), evaluate the baselines, write the report')
    .option('--data <dir>', 'a folder in the Amazon Beauty (S3Rec) format instead of the bundled slice')
    .option('--dataset <name>', 'dataset name in the store', 'demo')
    .action(async (opts: { data?: string; dataset: string }, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      const result = await runDemo({ home: ctx.home, dataDir: opts.data, dataset: opts.dataset, log: console.log });
      console.log(`\n${result.markdown}`);
      console.log('report:');
      for (const f of result.reportFiles) console.log(`  ${f}`);
    });
}
