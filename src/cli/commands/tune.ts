import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { baseline, parseSettings } from '../../baselines/registry.js';
import { tuneBaseline } from '../../baselines/tune.js';
import { PROTOCOLS, type Protocol } from '../../eval/types.js';
import { cliContext, type GlobalOptions } from '../context.js';
import { collect, interactionsOf, parseInteger, parseList } from './eval.js';

interface TuneCliOptions {
  dataset: string;
  protocol: string;
  system: string;
  metric: string;
  excludeHistory: string;
  set: string[];
  passes: string;
  out?: string;
}

export function registerTune(program: Command): void {
  program
    .command('tune')
    .description("tune a baseline's knobs by coordinate search on the VALIDATION split (never the test split)")
    .option('--dataset <name>', 'dataset in the store', 'beauty')
    .option('--protocol <name>', 'rec or search', 'rec')
    .requiredOption('--system <name>', 'baseline to tune: itemcf, bm25, bm25-personal')
    .option('--metric <key>', 'what to maximise', 'ndcg@10')
    .option('--exclude-history <yes|no>', 'select on the variant with history excluded (yes) or kept (no)', 'yes')
    .option('--set <system.knob=value>', 'starting value of a knob, repeatable', collect, [])
    .option('--passes <n>', 'rounds of coordinate search', '2')
    .option('--out <file>', 'write the result (best knobs and all trials) as JSON')
    .action(async (opts: TuneCliOptions, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      const [protocol] = parseList<Protocol>(opts.protocol, PROTOCOLS, '--protocol');
      const [exclude] = parseList(opts.excludeHistory, ['yes', 'no'] as const, '--exclude-history');
      const spec = baseline(opts.system);
      const inter = interactionsOf(ctx, opts.dataset);
      const result = await tuneBaseline(inter, spec, {
        protocol,
        metric: opts.metric,
        excludeHistory: exclude === 'yes',
        start: parseSettings(opts.set).get(spec.name),
        passes: parseInteger(opts.passes, '--passes', 1),
        log: (line) => console.log(line),
        context: { home: ctx.home },
      });
      console.log(`best ${result.metric} on valid = ${result.score.toFixed(5)}`);
      console.log(Object.entries(result.best).map(([k, v]) => `--set ${spec.name}.${k}=${v}`).join(' '));
      if (opts.out) writeFileSync(opts.out, JSON.stringify(result, null, 1) + '\n');
    });
}
