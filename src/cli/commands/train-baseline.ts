import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSettings } from '../../baselines/registry.js';
import { cascadeModelDir } from '../../cascade/cascade.js';
import { loadAlignedEmbeddings } from '../../cascade/embeddings.js';
import { cascadeKnobs } from '../../cascade/knobs.js';
import { trainCascade } from '../../cascade/train.js';
import { sasrecKnobs, sasrecModelDir, trainSasrec } from '../../baselines/sasrec.js';
import { badInput } from '../../errors.js';
import { buildEvalData } from '../../eval/protocol.js';
import { disposeParams } from '../../model/params.js';
import { type CliContext, cliContext, type GlobalOptions } from '../context.js';
import { collect, interactionsOf, parseInteger } from './eval.js';

interface TrainBaselineOptions {
  dataset: string;
  set: string[];
  workers?: string;
  resume?: boolean;
  out?: string;
}

/** Learned baselines that train with the shared trainer (checkpoints, resume, early stopping). */
const TRAINABLE = ['sasrec', 'cascade'] as const;

export function registerTrainBaseline(program: Command): void {
  program
    .command('train-baseline')
    .description('train a learned baseline on the leave-one-out training view, early-stopped on the validation split; `eval --system NAME` then uses it')
    .argument('<system>', `one of: ${TRAINABLE.join(', ')}`)
    .option('--dataset <name>', 'dataset in the store', 'beauty')
    .option('--set <system.knob=value>', 'override a knob, repeatable (e.g. sasrec.dModel=128, cascade.quotaAnn=300)', collect, [])
    .option('--workers <n>', 'data-parallel worker threads (0 = main thread); same as --set sasrec.workers=N')
    .option('--resume', 'continue from the newest checkpoint in the model folder')
    .option('--out <dir>', 'model folder (default <home>/models/<system>/<dataset>-<training view>-<recipe>)')
    .action(async (system: string, opts: TrainBaselineOptions, cmd: Command) => {
      if (!(TRAINABLE as readonly string[]).includes(system)) {
        throw badInput(`train-baseline trains ${TRAINABLE.join(', ')}; got "${system}" (the other baselines need no training: run eval)`);
      }
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      if (system === 'cascade') {
        await trainCascadeCommand(ctx, opts);
        return;
      }
      const settings = { ...parseSettings(opts.set).get(system) };
      if (opts.workers !== undefined) settings.workers = parseInteger(opts.workers, '--workers');
      const knobs = sasrecKnobs(settings);
      const inter = interactionsOf(ctx, opts.dataset);
      // The valid and test splits share one training view (all but each user's last two items).
      const { train, cases } = buildEvalData(inter, 'rec', 'valid');
      const outDir = opts.out ?? sasrecModelDir(ctx.home, train, knobs);
      const result = await trainSasrec(train, { knobs, valid: cases, outDir, resume: opts.resume });
      disposeParams(result.params);
      const summary = {
        system,
        dataset: opts.dataset,
        knobs,
        outDir,
        stoppedEarly: result.stoppedEarly,
        epochs: result.state.epoch,
        steps: result.state.step,
        bestEpoch: result.state.best?.epoch ?? null,
        validation: result.state.best?.metrics ?? null,
        /** Wall seconds of the whole training, validation included, over all resumed runs. */
        trainSeconds: result.state.trainSeconds,
        /** Throughput of this process's optimizer steps (validation and checkpoints left out). */
        examplesPerSecond: result.stepSeconds > 0 ? result.examples / result.stepSeconds : null,
        termsPerSecond: result.stepSeconds > 0 ? result.terms / result.stepSeconds : null,
        achievedGflops: result.stepSeconds > 0 ? result.flops / result.stepSeconds / 1e9 : null,
        command: ['gensearch', ...process.argv.slice(2)].join(' '),
        date: new Date().toISOString(),
      };
      writeFileSync(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
      console.log(JSON.stringify(summary, null, 2));
    });
}

/** `train-baseline cascade`: tunes the pre-rank and trains the ranker; writes summary.json. */
async function trainCascadeCommand(ctx: CliContext, opts: TrainBaselineOptions): Promise<void> {
  if (opts.workers !== undefined) throw badInput('the cascade ranker trains on the main thread; --workers applies to sasrec');
  const knobs = cascadeKnobs(parseSettings(opts.set).get('cascade'));
  const inter = interactionsOf(ctx, opts.dataset);
  const { train, cases } = buildEvalData(inter, 'search', 'valid');
  const emb = await loadAlignedEmbeddings(ctx.home, opts.dataset, train.items);
  const outDir = opts.out ?? cascadeModelDir(ctx.home, train, knobs, emb.version);
  const result = await trainCascade(train, { knobs, emb, valid: cases, outDir, resume: opts.resume });
  disposeParams(result.params);
  const t = result.train;
  const summary = {
    system: 'cascade',
    dataset: opts.dataset,
    knobs,
    outDir,
    encoder: emb.version,
    prerank: result.prerankFile,
    recallOnValidation: result.recall,
    trainingCases: result.trainingCases,
    stoppedEarly: t.stoppedEarly,
    epochs: t.state.epoch,
    steps: t.state.step,
    bestEpoch: t.state.best?.epoch ?? null,
    validation: result.validation,
    calibration: result.calibration,
    trainSeconds: t.state.trainSeconds,
    examplesPerSecond: t.stepSeconds > 0 ? t.examples / t.stepSeconds : null,
    command: ['gensearch', ...process.argv.slice(2)].join(' '),
    date: new Date().toISOString(),
  };
  writeFileSync(join(outDir, 'summary.json'), `${JSON.stringify(summary, null, 2)}\n`);
  console.log(JSON.stringify(summary, null, 2));
}
