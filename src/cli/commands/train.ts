import type { Command } from 'commander';
import { badInput } from '../../errors.js';
import { disposeParams } from '../../model/params.js';
import { STAGES } from '../../tasks/examples.js';
import { join } from 'node:path';
import { runEvaluation, writeReport } from '../../eval/run.js';
import { SPLITS, type Split } from '../../eval/types.js';
import { generativeDir, generativeRecipe, generativeSystem, generativeTrainingSids, TRAINING_REPORT, trainGenerative } from '../../tasks/train.js';
import { initTensorRuntime, parseTensorBackend } from '../../tensor/runtime.js';
import { cliContext, type GlobalOptions } from '../context.js';
import { collect, interactionsOf, parseInteger, parseList } from './eval.js';

interface TrainCliOptions {
  dataset: string;
  name: string;
  profile?: string;
  sids?: string;
  schedule?: string;
  set: string[];
  workers: string;
  resume?: boolean;
  stage1: boolean;
  stage2: boolean;
  history: boolean;
  backend?: string;
  out?: string;
  initFrom?: string;
  eval?: string;
  evalBeam: string;
}

/** Parses `key=value` settings (repeatable `--set`). */
export function parseKeyValues(settings: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const s of settings) {
    const m = /^([\w.]+)=(.*)$/.exec(s.trim());
    if (!m) throw badInput(`--set expects key=value (e.g. dModel=128 or mix.item2next=0.5); got "${s}"`);
    out[m[1]] = m[2];
  }
  return out;
}

export function registerTrain(program: Command): void {
  program
    .command('train')
    .description(
      'train the generative retriever (encoder-decoder writing item SIDs) on the training view: stage 1 semantic alignment, stage 2 co-occurrence, stage 3 personalisation; early-stopped on the validation split',
    )
    .option('--dataset <name>', 'dataset in the store', 'beauty')
    .option('--name <name>', 'model name: the folder <home>/<dataset>/generative/<name>', 'default')
    .option('--profile <p>', 'model size: tiny (tests), small (demo), base (benchmarks)')
    .option('--sids <build>', 'SID build to generate (`gensearch sids build --name`)')
    .option('--schedule <s>', 'mixed (all stages in one run) or sequential (stage 1, 2, then 3)')
    .option('--set <key=value>', 'override a recipe setting, repeatable (dModel=128, epochs=10, mix.item2next=0.5, ...)', collect, [])
    .option('--no-stage1', 'ablation: no stage-1 (semantic alignment) samples')
    .option('--no-stage2', 'ablation: no stage-2 (co-occurrence) samples')
    .option('--no-history', 'ablation: prompts carry no user history')
    .option('--workers <n>', 'worker threads for training, preference mining and --eval decoding (0 = main thread; webgpu: 0)', '2')
    .option('--backend <b>', 'tensor backend: wasm (default), webgpu (a GPU through the optional package webgpu, on the main thread) or tensorflow (needs @tensorflow/tfjs-node)')
    .option('--resume', 'continue from the newest checkpoints in the model folder')
    .option('--out <dir>', 'model folder (overrides --name)')
    .option('--init-from <name>', 'continued training: start from the trained model <name> of the dataset (same model config, SIDs and tokenizer) instead of a fresh init')
    .option('--eval <splits>', 'then evaluate the model on these splits (valid, test), both protocols, K = 5,10; report in <model>/eval')
    .option('--eval-beam <n>', 'beam width of that evaluation', '20')
    .action(async (opts: TrainCliOptions, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      const settings = parseKeyValues(opts.set);
      if (opts.profile) settings.profile = opts.profile;
      if (opts.sids) settings.sids = opts.sids;
      if (opts.schedule) settings.schedule = opts.schedule;
      if (!opts.history) settings.useHistory = 'false';
      for (const [stage, on] of [
        [1, opts.stage1],
        [2, opts.stage2],
      ] as const) {
        if (!on) for (const kind of STAGES[stage]) settings[`mix.${kind}`] = '0';
      }
      const recipe = generativeRecipe(settings);
      const backend = opts.backend === undefined ? undefined : parseTensorBackend(opts.backend, '--backend');
      await initTensorRuntime({ backend });
      // A GPU backend runs on the main thread: its default is no worker threads.
      const workers = backend === 'webgpu' && cmd.getOptionValueSource('workers') === 'default' ? 0 : parseInteger(opts.workers, '--workers');
      const inter = interactionsOf(ctx, opts.dataset);
      const store = ctx.openStore();
      let prepared: ReturnType<typeof generativeTrainingSids>;
      try {
        prepared = generativeTrainingSids(store, ctx.home, opts.dataset, recipe, inter.items.map((it) => it.id), { strictInit: 'sidInit' in settings, log: console.log });
      } finally {
        store.close();
      }
      const { sids, sidRows, itemRows } = prepared;
      const dir = opts.out ?? generativeDir(ctx.home, opts.dataset, opts.name);
      const initFrom = opts.initFrom === undefined ? undefined : generativeDir(ctx.home, opts.dataset, opts.initFrom);
      const { model, summary } = await trainGenerative(inter, sids, {
        dir,
        recipe: prepared.recipe,
        resume: opts.resume,
        workers,
        backend,
        sidRows,
        itemRows,
        initFrom,
      });
      disposeParams(model.params);
      if (opts.eval) {
        const report = await runEvaluation(inter, {
          protocols: ['rec', 'search'],
          splits: parseList<Split>(opts.eval, SPLITS, '--eval'),
          systems: [{ name: 'generative', create: () => generativeSystem(ctx.home, { beam: parseInteger(opts.evalBeam, '--eval-beam', 1), workers }, opts.name, dir) }],
          ks: [5, 10],
          command: ['gensearch', ...process.argv.slice(2)].join(' '),
        });
        for (const path of writeReport(join(dir, 'eval'), report)) console.log(path);
        for (const run of report.runs) {
          const m = run.metrics;
          console.log(`${run.protocol}/${run.split} history ${run.excludeHistory ? 'excluded' : 'kept'}: R@5 ${m['recall@5'].toFixed(4)} N@5 ${m['ndcg@5'].toFixed(4)} R@10 ${m['recall@10'].toFixed(4)} N@10 ${m['ndcg@10'].toFixed(4)}`);
        }
      }
      for (const p of summary.phases) {
        const best = p.best ? Object.entries(p.best).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ') : '';
        console.log(
          `${p.name}: ${p.samples} samples, ${p.epochs} epochs, ${p.steps} steps, ${p.trainSeconds.toFixed(0)} s, ${p.examplesPerSecond.toFixed(0)} ex/s, ${p.gflops.toFixed(2)} GFLOP/s${best ? ` | best ${best}` : ''}`,
        );
      }
      console.log(
        `${summary.parameters} parameters; matmul peak ${summary.matmulGflops.toFixed(1)} GFLOP/s x ${summary.threads} thread(s), MFU ${(100 * summary.mfu).toFixed(1)}%; trained ${summary.trainSeconds.toFixed(0)} s`,
      );
      console.log(dir);
      console.log(join(dir, TRAINING_REPORT));
    });
}
