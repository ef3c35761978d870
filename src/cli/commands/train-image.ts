import type { Command } from 'commander';
import { photoModelDir } from '../../decode/photo-search.js';
import { ADAPTER_DEFAULTS } from '../../encoders/adapter.js';
import { BACKBONE_DEFAULTS } from '../../encoders/backbone.js';
import { type BackbonePool, IMAGE_ENCODER_KINDS, type ImageEncoderKind, type ImageEncoderSpec } from '../../encoders/image-encoder.js';
import { IMAGE_ENCODER_DEFAULTS } from '../../encoders/image-model.js';
import { AUGMENT_DEFAULTS } from '../../encoders/image-train.js';
import { badInput } from '../../errors.js';
import { formatReport } from '../../sids/codebook-metrics.js';
import { PHOTO_RECIPE_DEFAULTS } from '../../tasks/photo.js';
import { buildPhotoModel, catalogFromStore, type PhotoCatalog, type PhotoModelOptions } from '../../tasks/photo-model.js';
import { initTensorRuntime } from '../../tensor/runtime.js';
import { cliContext, type GlobalOptions } from '../context.js';
import { parseInteger } from './eval.js';

/** The training options `train-image` and `eval-image` share. */
export interface PhotoTrainingCliOptions {
  encoder: string;
  layer: string;
  head: string;
  copies: string;
  flipTta?: string;
  flipAugment: string;
  steps?: string;
  seed: string;
  levels: string;
  generative: boolean;
  genSteps: string;
  jitter: string;
  views: string;
  resume?: boolean;
}

export function withPhotoTrainingOptions(cmd: Command): Command {
  return cmd
    .option('--encoder <kind>', `image encoder: ${IMAGE_ENCODER_KINDS.join(', ')} (the pretrained MobileNetV2 from nsfwjs, frozen, with a trained head)`, 'mobilenet')
    .option('--layer <name>', 'mobilenet: the backbone layer whose average-pooled output is the feature', BACKBONE_DEFAULTS.layer)
    .option('--head <width>', 'mobilenet: hidden width of the trained head, 0 = linear, "none" = the backbone features as they are', String(ADAPTER_DEFAULTS.hidden))
    .option('--copies <n>', 'mobilenet: views per catalog photo whose backbone features train the head (as shot + augmented)', '24')
    .option('--flip-tta <on|off>', 'embed a photo as the mean of it and its mirror image (default: on for mobilenet, off for cnn)')
    .option('--flip-augment <p>', 'chance of a mirrored view in training augmentation', '0')
    .option('--steps <n>', 'image encoder (or head) optimizer steps (default: cnn 300, mobilenet 600)')
    .option('--seed <n>', 'seed', '1')
    .option('--levels <list>', 'VRQ shallow codebook sizes', '4,4')
    .option('--no-generative', 'image encoder, VRQ and nearest view only')
    .option('--gen-steps <n>', 'steps of the generative photo-search stage (the alignment stage runs half as many)', String(PHOTO_RECIPE_DEFAULTS.searchSteps))
    .option('--jitter <share>', 'noisy copies of the photo embeddings in the photo-search stage: noise norm as a share of the gap between an item\'s catalog views (0 = none)', String(PHOTO_RECIPE_DEFAULTS.jitter))
    .option('--views <n>', 'augmented views per catalog photo for the generative model', '16')
    .option('--resume', 'continue from the checkpoints in the model folder (finished stages are not trained again)');
}

/** The encoder the options name. */
export function encoderSpec(opts: PhotoTrainingCliOptions): ImageEncoderSpec {
  const flip = Number(opts.flipAugment);
  if (!(flip >= 0 && flip <= 1)) throw badInput(`--flip-augment expects a chance in [0, 1]; got "${opts.flipAugment}"`);
  const kind = opts.encoder as ImageEncoderKind;
  if (opts.flipTta !== undefined && opts.flipTta !== 'on' && opts.flipTta !== 'off') throw badInput(`--flip-tta expects on or off; got "${opts.flipTta}"`);
  const common = { flipTta: (opts.flipTta ?? (kind === 'mobilenet' ? 'on' : 'off')) === 'on', augment: flip > 0 ? { ...AUGMENT_DEFAULTS, flip } : AUGMENT_DEFAULTS };
  if (kind === 'cnn') return { kind, cnn: IMAGE_ENCODER_DEFAULTS, ...common };
  if (kind !== 'mobilenet') throw badInput(`--encoder expects one of ${IMAGE_ENCODER_KINDS.join(', ')}; got "${opts.encoder}"`);
  const head = opts.head === 'none' ? null : { ...ADAPTER_DEFAULTS, hidden: parseInteger(opts.head, '--head', 0) };
  return { kind, backbone: { ...BACKBONE_DEFAULTS, layer: opts.layer }, head, copies: parseInteger(opts.copies, '--copies', 2), ...common };
}

function parseJitter(text: string): number {
  const x = Number(text);
  if (!(x >= 0)) throw badInput(`--jitter expects a share >= 0; got "${text}"`);
  return x;
}

export function photoTrainingOptions(opts: PhotoTrainingCliOptions, outDir: string, pool?: BackbonePool): Omit<PhotoModelOptions, 'log'> {
  const seed = parseInteger(opts.seed, '--seed');
  const genSteps = parseInteger(opts.genSteps, '--gen-steps', 1);
  const encoder = encoderSpec(opts);
  return {
    encoder,
    encoderSteps: parseInteger(opts.steps ?? (encoder.kind === 'cnn' ? '300' : '600'), '--steps', 1),
    encoderBatch: 64,
    encoderLr: encoder.kind === 'cnn' ? 2e-3 : 1e-3,
    seed,
    vrqLevels: opts.levels.split(',').map((k) => parseInteger(k, '--levels', 2)),
    generative: opts.generative ? { ...PHOTO_RECIPE_DEFAULTS, alignSteps: Math.ceil(genSteps / 2), searchSteps: genSteps, seed, jitter: parseJitter(opts.jitter) } : null,
    viewsPerPhoto: parseInteger(opts.views, '--views', 1),
    resume: opts.resume,
    outDir,
    pool,
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
    built.encoder.encoder.dispose();
    console.log(`photo model in ${outDir}: encoder ${built.encoder.steps} steps (${built.encoder.seconds.toFixed(0)} s)` + (built.generativeTraining ? `, generative ${built.generativeTraining.seconds.toFixed(0)} s` : ''));
    console.log(formatReport(built.report));
  });
}
