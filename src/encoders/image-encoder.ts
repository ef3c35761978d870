import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors.js';
import { disposeParams } from '../model/params.js';
import { loadTrainedParams, train, TRAIN_DEFAULTS } from '../tensor/trainer.js';
import { adapt, type AdapterConfig, adapterObjective, type AdapterParams, adapterSpec, FeatureViewSource } from './adapter.js';
import { type Backbone, type BackboneConfig, loadBackbone } from './backbone.js';
import type { ImageEncoderConfig } from './image-model.js';
import { AUGMENT_DEFAULTS, type AugmentConfig, embedPixels, loadImageEncoder, mirrored, type PhotoSet, photoViews, trainImageEncoder, viewOf } from './image-train.js';

/**
 * The image encoders photo search can use, behind one interface: the small CNN trained from
 * scratch, or the pretrained MobileNetV2 backbone (frozen) with an optional trained head.
 * Everything downstream (VRQ, nearest view, the generative photo model, search, serving) only
 * sees `embed`.
 */
export type ImageEncoderKind = 'cnn' | 'mobilenet';
export const IMAGE_ENCODER_KINDS: readonly ImageEncoderKind[] = ['cnn', 'mobilenet'];

export type ImageEncoderSpec = (
  | { kind: 'cnn'; cnn: ImageEncoderConfig }
  | {
      kind: 'mobilenet';
      backbone: BackboneConfig;
      /** The trained head (its input width is the backbone's); null = the backbone's features as they are. */
      head: Omit<AdapterConfig, 'input'> | null;
      /** Views per catalog photo whose features train the head (the photo as shot + augmented ones). */
      copies: number;
    }
) & {
  /** Test-time augmentation: the embedding of the photo and of its mirror image, averaged. */
  flipTta: boolean;
  /** Training augmentation (phone-photo changes). */
  augment: AugmentConfig;
};

export interface ImageEncoder {
  readonly spec: ImageEncoderSpec;
  /** Side of the square [0, 1] RGB pixels `embed` takes (`squarePixels(img, size)`). */
  readonly size: number;
  readonly dim: number;
  /** Unit embeddings [n, dim], row-major. */
  embed(images: readonly Float32Array[]): Float32Array;
  dispose(): void;
}

/**
 * Loaded backbones by configuration, shared by the encoders of one training or evaluation run:
 * they keep the features of the pixels they saw, so a run over several catalogs of one photo
 * set embeds each view once. The pool owns them (`dispose`). Serving opens models without one.
 */
export class BackbonePool {
  private readonly loaded = new Map<string, Promise<Backbone>>();

  get(cfg: BackboneConfig): Promise<Backbone> {
    const key = `${cfg.layer}@${cfg.size}`;
    let backbone = this.loaded.get(key);
    if (!backbone) {
      backbone = loadBackbone(cfg, true);
      this.loaded.set(key, backbone);
    }
    return backbone;
  }

  async dispose(): Promise<void> {
    for (const b of this.loaded.values()) (await b).dispose();
    this.loaded.clear();
  }
}

export function encoderInputSize(spec: ImageEncoderSpec): number {
  return spec.kind === 'cnn' ? spec.cnn.size : spec.backbone.size;
}

/** Mean of the embeddings of the photos and of their mirror images, renormalised. */
function withFlip(embed: (images: readonly Float32Array[]) => Float32Array, size: number, dim: number): (images: readonly Float32Array[]) => Float32Array {
  return (images) => {
    const a = embed(images);
    const b = embed(images.map((img) => mirrored(img, size)));
    for (let r = 0; r < images.length; r++) {
      let norm = 0;
      for (let j = r * dim; j < (r + 1) * dim; j++) {
        a[j] += b[j];
        norm += a[j] * a[j];
      }
      norm = Math.sqrt(norm) || 1;
      for (let j = r * dim; j < (r + 1) * dim; j++) a[j] /= norm;
    }
    return a;
  };
}

function unitRowsHost(x: Float32Array, dim: number): Float32Array {
  for (let r = 0; r < x.length / dim; r++) {
    let norm = 0;
    for (let j = r * dim; j < (r + 1) * dim; j++) norm += x[j] * x[j];
    norm = Math.sqrt(norm) || 1;
    for (let j = r * dim; j < (r + 1) * dim; j++) x[j] /= norm;
  }
  return x;
}

function makeEncoder(spec: ImageEncoderSpec, dim: number, embedPlain: (images: readonly Float32Array[]) => Float32Array, dispose: () => void): ImageEncoder {
  const size = encoderInputSize(spec);
  const embed = spec.flipTta ? withFlip(embedPlain, size, dim) : embedPlain;
  return {
    spec,
    size,
    dim,
    embed: (images) => {
      for (const img of images) if (img.length !== size * size * 3) throw badInput(`an image holds ${img.length} values; the encoder takes ${size} x ${size} x 3`);
      return embed(images);
    },
    dispose,
  };
}

function mobilenetEncoder(spec: ImageEncoderSpec & { kind: 'mobilenet' }, backbone: Backbone, head: { params: AdapterParams; cfg: AdapterConfig } | null, release: () => void): ImageEncoder {
  if (!head) return makeEncoder(spec, backbone.dim, (images) => unitRowsHost(backbone.features(images), backbone.dim), release);
  const embedPlain = (images: readonly Float32Array[]) => {
    const feats = backbone.features(images);
    const z = tf.tidy(() => adapt(head.params, head.cfg, tf.tensor2d(feats, [images.length, backbone.dim])));
    const out = z.dataSync() as Float32Array;
    z.dispose();
    return out;
  };
  return makeEncoder(spec, head.cfg.dim, embedPlain, () => {
    disposeParams(head.params);
    release();
  });
}

/** A backbone from the pool, or one of its own that the encoder disposes. */
async function backboneFor(cfg: BackboneConfig, pool: BackbonePool | undefined): Promise<{ backbone: Backbone; release: () => void }> {
  if (pool) return { backbone: await pool.get(cfg), release: () => {} };
  const backbone = await loadBackbone(cfg);
  return { backbone, release: () => backbone.dispose() };
}

export interface EncoderTrainOptions {
  /** Catalog photos at twice the encoder's input side (augmentation crops and tilts them). */
  photos: PhotoSet;
  steps: number;
  batchSize: number;
  lr: number;
  seed: number;
  outDir: string;
  resume?: boolean;
  pool?: BackbonePool;
  log?: (message: string) => void;
}

export interface TrainedEncoder {
  encoder: ImageEncoder;
  /** Optimizer steps (0: nothing trained). */
  steps: number;
  /** Wall time, feature caching included. */
  seconds: number;
  /** Mean loss per image over the last epoch (NaN: nothing trained). */
  loss: number;
}

const SPEC_FILE = 'encoder.json';

/** Trains (where the kind has anything to train) and saves an encoder of `spec` to `outDir`. */
export async function trainEncoder(spec: ImageEncoderSpec, o: EncoderTrainOptions): Promise<TrainedEncoder> {
  if (o.photos.pixels.length === 0) throw badInput('the catalog has no photos to train the image encoder on');
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, SPEC_FILE), JSON.stringify(spec, null, 2));
  if (spec.kind === 'cnn') {
    const t = await trainImageEncoder({ ...o, encoder: spec.cnn, augment: spec.augment });
    const encoder = makeEncoder(spec, spec.cnn.dim, (images) => embedPixels(t.params, t.cfg, images), () => disposeParams(t.params));
    return { encoder, steps: t.steps, seconds: t.seconds, loss: t.loss };
  }
  const start = performance.now();
  const { backbone, release } = await backboneFor(spec.backbone, o.pool);
  if (!spec.head) return { encoder: mobilenetEncoder(spec, backbone, null, release), steps: 0, seconds: (performance.now() - start) / 1000, loss: Number.NaN };
  const cfg: AdapterConfig = { ...spec.head, input: backbone.dim };
  const features = catalogViewFeatures(backbone, o.photos, spec.copies, o.seed, spec.augment, o.log);
  const photos = o.photos.pixels.length;
  const batchSize = Math.min(o.batchSize, photos);
  const result = await train({
    spec: adapterSpec(cfg),
    data: new FeatureViewSource(features, o.photos.item, spec.copies, backbone.dim, o.seed),
    config: {
      ...TRAIN_DEFAULTS,
      epochs: Math.max(1, Math.ceil(o.steps / Math.ceil(photos / batchSize))),
      batchSize,
      lr: o.lr,
      warmupSteps: Math.min(50, Math.floor(o.steps / 10)),
      schedule: 'cosine',
      seed: o.seed,
      patience: 0,
      bucketByLength: false,
    },
    outDir: o.outDir,
    resume: o.resume,
    identity: { photos, side: o.photos.side, spec },
    log: o.log,
  });
  const head = { params: result.params as AdapterParams, cfg };
  return {
    encoder: mobilenetEncoder(spec, backbone, head, release),
    steps: result.state.step,
    seconds: (performance.now() - start) / 1000,
    loss: result.state.epochLossSum / Math.max(1, result.state.epochTerms),
  };
}

/** Backbone features of each catalog photo as shot and of `copies - 1` augmented views: photos x copies x width. */
function catalogViewFeatures(backbone: Backbone, photos: PhotoSet, copies: number, seed: number, augment: AugmentConfig, log?: (m: string) => void): Float32Array {
  const { size } = backbone.cfg;
  const out = new Float32Array(photos.pixels.length * copies * backbone.dim);
  const start = performance.now();
  photos.pixels.forEach((src, i) => {
    const views = [viewOf(src, photos.side, size, null, null, photos.gray), ...photoViews(src, photos.side, size, copies - 1, seed, augment, photos.gray)];
    out.set(backbone.features(views), i * copies * backbone.dim);
  });
  log?.(`backbone features of ${photos.pixels.length} photos x ${copies} views in ${((performance.now() - start) / 1000).toFixed(1)} s`);
  return out;
}

/** The encoder a training run saved in `dir` (folders from before encoder kinds hold a CNN). */
export async function loadEncoder(dir: string, pool?: BackbonePool): Promise<ImageEncoder> {
  const path = join(dir, SPEC_FILE);
  if (!existsSync(path)) {
    const { params, cfg } = loadImageEncoder(dir);
    const spec: ImageEncoderSpec = { kind: 'cnn', cnn: cfg, flipTta: false, augment: AUGMENT_DEFAULTS };
    return makeEncoder(spec, cfg.dim, (images) => embedPixels(params, cfg, images), () => disposeParams(params));
  }
  const spec = JSON.parse(readFileSync(path, 'utf8')) as ImageEncoderSpec;
  if (spec.kind === 'cnn') {
    const { params, cfg } = loadImageEncoder(dir);
    return makeEncoder(spec, cfg.dim, (images) => embedPixels(params, cfg, images), () => disposeParams(params));
  }
  if (spec.kind !== 'mobilenet') throw badInput(`${path}: unknown image encoder kind "${String((spec as { kind: unknown }).kind)}"; known: ${IMAGE_ENCODER_KINDS.join(', ')}`);
  const { backbone, release } = await backboneFor(spec.backbone, pool);
  if (!spec.head) return mobilenetEncoder(spec, backbone, null, release);
  const cfg: AdapterConfig = { ...spec.head, input: backbone.dim };
  const { params } = loadTrainedParams(adapterObjective(cfg), dir, 'best');
  return mobilenetEncoder(spec, backbone, { params: params as AdapterParams, cfg }, release);
}
