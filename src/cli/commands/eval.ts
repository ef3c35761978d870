import type { Command } from 'commander';
import { join } from 'node:path';
import { BASELINES, baseline, parseSettings } from '../../baselines/registry.js';
import { badInput } from '../../errors.js';
import type { HistoryMode } from '../../eval/evaluate.js';
import { parseKs } from '../../eval/metrics.js';
import { runEvaluation, writeReport } from '../../eval/run.js';
import { PROTOCOLS, type Protocol, SPLITS, type Split } from '../../eval/types.js';
import { type Interactions, loadInteractions } from '../../store/interactions.js';
import { type CliContext, cliContext, type GlobalOptions } from '../context.js';

interface EvalOptions {
  dataset: string;
  protocol: string;
  split: string;
  system: string;
  name: string;
  excludeHistory: HistoryMode;
  k: string;
  out?: string;
  reference?: string;
  set: string[];
  seed: string;
  iterations: string;
}

/** Parses a comma list and checks every entry is allowed. */
export function parseList<T extends string>(text: string, allowed: readonly T[], option: string): T[] {
  const values = text.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = values.find((v) => !allowed.includes(v as T));
  if (bad !== undefined || values.length === 0) {
    throw badInput(`${option} expects one or more of ${allowed.join(', ')} separated by commas; got "${text}"`);
  }
  return values as T[];
}

export function parseInteger(text: string, option: string, min = 0): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw badInput(`${option} expects an integer >= ${min}; got "${text}"`);
  return n;
}

export function parsePositive(text: string, option: string, allowZero = false): number {
  const x = Number(text);
  if (!(allowZero ? x >= 0 : x > 0) || !Number.isFinite(x)) throw badInput(`${option} expects a ${allowZero ? 'number >= 0' : 'positive number'}; got "${text}"`);
  return x;
}

/** Commander collector for repeatable options. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** The dense interactions of a dataset in the command's store (the store is closed again). */
export function interactionsOf(ctx: CliContext, dataset: string): Interactions {
  const store = ctx.openStore();
  try {
    return loadInteractions(store, dataset);
  } finally {
    store.close();
  }
}

export function registerEval(program: Command): void {
  program
    .command('eval')
    .description('evaluate ranking systems with leave-one-out (rec) or HEM personalised search; writes JSON, Markdown and HTML')
    .option('--dataset <name>', 'dataset in the store', 'beauty')
    .option('--protocol <list>', 'rec, search, or both comma-separated', 'rec')
    .option('--split <list>', 'valid, test, or both comma-separated', 'test')
    .option('--system <list>', `systems, comma-separated: ${BASELINES.map((b) => b.name).join(', ')}`, 'popular,itemcf')
    .option('--name <name>', 'generative model the generative system ranks with (gensearch train --name)', 'default')
    .option('--exclude-history <mode>', "rank with the user's history items excluded (yes), kept (no), or report both", 'both')
    .option('--k <list>', 'cut-offs', '5,10,50,350')
    .option('--reference <system>', 'system the others are tested against (default: the first)')
    .option('--set <system.knob=value>', 'override a knob, repeatable (e.g. itemcf.recency=0.6)', collect, [])
    .option('--seed <n>', 'seed of the randomization test', '1')
    .option('--iterations <n>', 'sign flips of the randomization test', '10000')
    .option('--out <dir>', 'report folder (default <home>/reports/eval-<date>)')
    .action(async (opts: EvalOptions, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      const protocols = parseList<Protocol>(opts.protocol, PROTOCOLS, '--protocol');
      const splits = parseList<Split>(opts.split, SPLITS, '--split');
      const settings = parseSettings(opts.set);
      const systems = opts.system.split(',').map((name) => {
        const spec = baseline(name.trim());
        const params = { ...spec.defaults, ...settings.get(spec.name) };
        return { name: spec.name, create: () => spec.create(params, { home: ctx.home, generativeName: opts.name }) };
      });
      const inter = interactionsOf(ctx, opts.dataset);
      const report = await runEvaluation(inter, {
        protocols,
        splits,
        systems,
        ks: parseKs(opts.k),
        excludeHistory: opts.excludeHistory,
        reference: opts.reference,
        seed: parseInteger(opts.seed, '--seed'),
        iterations: parseInteger(opts.iterations, '--iterations', 1),
        command: ['gensearch', ...process.argv.slice(2)].join(' '),
      });
      const out = opts.out ?? join(ctx.home, 'reports', `eval-${report.meta.date.replace(/[:.]/g, '-')}`);
      for (const path of writeReport(out, report)) console.log(path);
    });
}
