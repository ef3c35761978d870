import type { Command } from 'commander';
import { photoModelDir } from '../../decode/photo-search.js';
import { IMAGE_ENCODER_DEFAULTS } from '../../encoders/image-model.js';
import { formatReport } from '../../sids/codebook-metrics.js';
import { PHOTO_RECIPE_DEFAULTS } from '../../tasks/photo.js';
import { buildPhotoModel, catalogFromStore, type PhotoCatalog, type PhotoModelOptions } from '../../tasks/photo-model.js';
import { disposeParams } from '../../model/params.js';
import { initTensorRuntime } from '../../tensor/runtime.js';
import { cliContext, type GlobalOptions } from '../context.js';
import { parseInteger } from './eval.js';

/** The training options `train-image` and `eval-image` share. */
export interface PhotoTrainingCliOptions {
  steps: string;
  seed: string;
  levels: string;
  generative: boolean;
  genSteps: string;
  views: string;
  resume?: boolean;
}

export function withPhotoTrainingOptions(cmd: Command): Command {
  return cmd
    .option('--steps <n>', 'image encoder optimizer steps', '300')
    .option('--seed <n>', 'seed', '1')
    .option('--levels <list>', 'VRQ shallow codebook sizes', '4,4')
    .option('--no-generative', 'image encoder, VRQ and nearest view only')
    .option('--gen-steps <n>', 'steps of the generative photo-search stage (the alignment stage runs half as many)', String(PHOTO_RECIPE_DEFAULTS.searchSteps))
    .option('--views <n>', 'augmented views per catalog photo for the generative model', '16')
    .option('--resume', 'continue from the checkpoints in the model folder (finished stages are not trained again)');
}

export function photoTrainingOptions(opts: PhotoTrainingCliOptions, outDir: string): Omit<PhotoModelOptions, 'log'> {
  const seed = parseInteger(opts.seed, '--seed');
  const genSteps = parseInteger(opts.genSteps, '--gen-steps', 1);
  return {
    encoder: IMAGE_ENCODER_DEFAULTS,
    encoderSteps: parseInteger(opts.steps, '--steps', 1),
    encoderBatch: 64,
    encoderLr: 2e-3,
    seed,
    vrqLevels: opts.levels.split(',').map((k) => parseInteger(k, '--levels', 2)),
    generative: opts.generative ? { ...PHOTO_RECIPE_DEFAULTS, alignSteps: Math.ceil(genSteps / 2), searchSteps: genSteps, seed } : null,
    viewsPerPhoto: parseInteger(opts.views, '--views', 1),
    resume: opts.resume,
    outDir,
  };
}

interface TrainImageCliOptions extends PhotoTrainingCliOptions {
  dataset: string;
  name: string;
}

export function registerTrainImage(program: Command): void {
  withPhotoTrainingOptions(
    program
      .command('train-image')
      .description('photo search for an imported photo catalog: image encoder, VRQ SIDs and the photo generative model (then: search --image)')
      .requiredOption('--dataset <name>', 'dataset with photos (gensearch import images / import coil)')
      .option('--name <name>', 'photo model name (search --image --name)', 'default'),
  ).action(async (opts: TrainImageCliOptions, cmd: Command) => {
    const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
    const store = ctx.openStore();
    let catalog: PhotoCatalog;
    try {
      catalog = catalogFromStore(store, opts.dataset);
    } finally {
      store.close();
    }
    const tf = await initTensorRuntime();
    const outDir = photoModelDir(ctx.home, opts.dataset, opts.name);
    const log = (m: string) => process.stderr.write(`${m}\n`);
    log(`${opts.dataset}: ${catalog.itemIds.length} items, ${catalog.photoPaths.length} photos`);
    const built = await buildPhotoModel(tf, catalog, { ...photoTrainingOptions(opts, outDir), log });
    disposeParams(built.encoder.params);
    console.log(`photo model in ${outDir}: encoder ${built.encoder.steps} steps (${built.encoder.seconds.toFixed(0)} s)` + (built.generativeTraining ? `, generative ${built.generativeTraining.seconds.toFixed(0)} s` : ''));
    console.log(formatReport(built.report));
  });
}
