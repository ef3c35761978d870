import type { Command } from 'commander';
import { DEMO_MODEL, runDemo } from '../../pipeline/demo.js';
import { cliContext, type GlobalOptions } from '../context.js';
import { type ServeCliOptions, serveUntilStopped, withServeOptions } from './serve.js';

interface DemoCliOptions extends ServeCliOptions {
  data?: string;
  serve: boolean;
  report: boolean;
}

export function registerDemo(program: Command): void {
  withServeOptions(program.command('demo'), 'demo')
    .description(
      'the main job on the bundled demo data: import, embed, build SIDs, train the small model, evaluate the baselines, then serve (each step skipped while its inputs are unchanged)',
    )
    .option('--data <dir>', 'a folder in the Amazon Beauty (S3Rec) format instead of the bundled slice')
    .option('--no-serve', 'build everything, then exit instead of serving')
    .option('--no-report', 'skip the baseline evaluation report')
    .action(async (opts: DemoCliOptions, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      const result = await runDemo({ home: ctx.home, dataDir: opts.data, dataset: opts.dataset, model: { ...DEMO_MODEL, name: opts.name }, report: opts.report, log: console.log });
      if (result.markdown) {
        console.log(`\n${result.markdown}`);
        console.log('report:');
        for (const f of result.reportFiles) console.log(`  ${f}`);
      }
      console.log(`steps: ${Object.entries(result.steps).map(([step, outcome]) => `${step} ${outcome}`).join(', ')}`);
      if (opts.serve) await serveUntilStopped(ctx.home, opts);
    });
}
