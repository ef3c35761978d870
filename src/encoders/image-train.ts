import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { badInput, notFound } from '../errors.js';
import { bilinearRgb } from '../import/image.js';
import type { ExampleSource } from '../tensor/batching.js';
import type { HostBatch } from '../tensor/objective.js';
import { Rng } from '../tensor/rng.js';
import { loadTrainedParams, train, TRAIN_DEFAULTS } from '../tensor/trainer.js';
import type { TensorBackend } from '../tensor/runtime.js';
import { embedImages, type ImageEncoderConfig, type ImageEncoderParams, imageEncoderObjective, imageEncoderSpec } from './image-model.js';

/**
 * Training the image encoder on catalog photos only: every batch shows each drawn photo twice,
 * each copy changed the way a shopper's phone photo differs from a studio shot (crop and zoom,
 * a small tilt, exposure and contrast, another background), so a batch always holds positives
 * even when an item has a single photo; the item's other photos in the batch are positives too.
 */

/** Catalog photos at a working resolution: pixels [n][side, side, 3] in [0, 1] and each one's item. */
export interface PhotoSet {
  side: number;
  pixels: Float32Array[];
  item: Int32Array;
  /** Grayscale photos: a changed background stays gray. */
  gray: boolean;
}

export interface AugmentConfig {
  /** Zoom range (1 = as shot; > 1 crops in). */
  scale: [number, number];
  /** Largest in-plane tilt, degrees. */
  rotateDeg: number;
  /** Largest shift, as a share of the side. */
  shift: number;
  /** Largest brightness offset (pixels in [0, 1]). */
  brightness: number;
  contrast: [number, number];
  /** Chance of replacing the (dark, empty) background with a random flat colour. */
  background: number;
  /** Chance of a horizontal mirror (absent: never, and no random draw for it). */
  flip?: number;
}

export const AUGMENT_DEFAULTS: AugmentConfig = { scale: [0.85, 1.2], rotateDeg: 12, shift: 0.08, brightness: 0.15, contrast: [0.7, 1.3], background: 0.3 };

/** Pixels darker than this (max over channels) count as background. */
const DARK = 0.08;

/**
 * One view of a square photo `src` [srcSide, srcSide, 3] resampled to outSide: with `aug`, a
 * random zoom, tilt, shift, exposure and background drawn from `rng`; without, the plain
 * downscale (what catalog and query photos get at embedding time).
 */
export function viewOf(src: Float32Array, srcSide: number, outSide: number, rng: Rng | null, aug: AugmentConfig | null, gray: boolean): Float32Array {
  const u = (lo: number, hi: number) => lo + (hi - lo) * (rng ? rng.next() : 0.5);
  const on = aug !== null && rng !== null;
  const s = on ? u(aug.scale[0], aug.scale[1]) : 1;
  const theta = on ? (u(-aug.rotateDeg, aug.rotateDeg) * Math.PI) / 180 : 0;
  const tx = on ? u(-aug.shift, aug.shift) : 0;
  const ty = on ? u(-aug.shift, aug.shift) : 0;
  const bright = on ? u(-aug.brightness, aug.brightness) : 0;
  const contrast = on ? u(aug.contrast[0], aug.contrast[1]) : 1;
  let bg: number[] | null = null;
  if (on && rng.next() < aug.background) {
    const c = rng.next();
    bg = gray ? [c, c, c] : [c, rng.next(), rng.next()];
  }
  const mirror = on && aug.flip !== undefined && rng.next() < aug.flip ? -1 : 1;
  const cos = Math.cos(theta);
  const sin = Math.sin(theta);
  const out = new Float32Array(outSide * outSide * 3);
  const px = new Float32Array(3);
  for (let oy = 0; oy < outSide; oy++) {
    for (let ox = 0; ox < outSide; ox++) {
      // Output pixel centre in [-0.5, 0.5], mapped back through shift, zoom and tilt.
      const a = mirror * ((ox + 0.5) / outSide - 0.5) - tx;
      const b = (oy + 0.5) / outSide - 0.5 - ty;
      const sx = ((cos * a + sin * b) / s + 0.5) * srcSide - 0.5;
      const sy = ((-sin * a + cos * b) / s + 0.5) * srcSide - 0.5;
      const o = (oy * outSide + ox) * 3;
      if (sx < -0.5 || sy < -0.5 || sx > srcSide - 0.5 || sy > srcSide - 0.5) {
        px.fill(0);
      } else {
        bilinearRgb(src, srcSide, srcSide, Math.min(srcSide - 1, Math.max(0, sx)), Math.min(srcSide - 1, Math.max(0, sy)), px, 0, 1);
      }
      const fg = bg ? Math.min(1, Math.max(px[0], px[1], px[2]) / DARK) : 1;
      for (let c = 0; c < 3; c++) {
        const v = bg ? px[c] * fg + bg[c] * (1 - fg) : px[c];
        out[o + c] = Math.min(1, Math.max(0, (v - 0.5) * contrast + 0.5 + bright));
      }
    }
  }
  return out;
}

/** The photo mirrored left to right ([side, side, 3]). */
export function mirrored(img: Float32Array, side: number): Float32Array {
  const out = new Float32Array(img.length);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) out.set(img.subarray((y * side + x) * 3, (y * side + x) * 3 + 3), (y * side + side - 1 - x) * 3);
  }
  return out;
}

/**
 * `count` augmented views of one source photo, drawn from a generator seeded by the photo's
 * own pixels: a photo gets the same views whichever catalog or run it is in, so features of
 * them computed once (a frozen backbone's) serve every later use.
 */
export function photoViews(src: Float32Array, srcSide: number, outSide: number, count: number, seed: number, aug: AugmentConfig, gray: boolean): Float32Array[] {
  let h = 0x811c9dc5 ^ seed;
  const words = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < words.length; i++) h = Math.imul(h ^ words[i], 0x01000193);
  const rng = new Rng(h >>> 0);
  return Array.from({ length: count }, () => viewOf(src, srcSide, outSide, rng, aug, gray));
}

/** Seeds augmentation from the batch itself, so a resumed run draws the same views. */
function batchSeed(ids: Int32Array, seed: number): number {
  let h = 0x811c9dc5 ^ seed;
  for (const i of ids) h = Math.imul(h ^ i, 0x01000193);
  return h >>> 0;
}

/** Catalog photos as trainer examples: each drawn photo becomes two augmented views. */
export class PhotoViewSource implements ExampleSource {
  readonly size: number;

  constructor(
    private readonly photos: PhotoSet,
    private readonly outSide: number,
    private readonly augment: AugmentConfig,
    private readonly seed: number,
  ) {
    this.size = photos.pixels.length;
  }

  collate(ids: Int32Array): HostBatch {
    const rng = new Rng(batchSeed(ids, this.seed));
    const per = this.outSide * this.outSide * 3;
    const x = new Float32Array(2 * ids.length * per);
    const label = new Int32Array(2 * ids.length);
    ids.forEach((id, j) => {
      for (let copy = 0; copy < 2; copy++) {
        const at = 2 * j + copy;
        x.set(viewOf(this.photos.pixels[id], this.photos.side, this.outSide, rng, this.augment, this.photos.gray), at * per);
        label[at] = this.photos.item[id];
      }
    });
    return { x: { data: x, shape: [label.length, this.outSide, this.outSide, 3] }, label: { data: label, shape: [label.length] } };
  }
}

export interface ImageTrainOptions {
  photos: PhotoSet;
  encoder: ImageEncoderConfig;
  augment?: AugmentConfig;
  /** Optimizer steps in total (epochs follow from the catalog size). */
  steps: number;
  /** Photos per batch (each shown twice). */
  batchSize: number;
  lr: number;
  seed: number;
  outDir: string;
  resume?: boolean;
  workers?: number;
  backend?: TensorBackend;
  log?: (message: string) => void;
}

export interface TrainedImageEncoder {
  params: ImageEncoderParams;
  cfg: ImageEncoderConfig;
  seconds: number;
  steps: number;
  /** Mean loss per image over the last epoch. */
  loss: number;
}

const CONFIG_FILE = 'image-encoder.json';

export async function trainImageEncoder(o: ImageTrainOptions): Promise<TrainedImageEncoder> {
  if (o.photos.pixels.length === 0) throw badInput('the catalog has no photos to train the image encoder on');
  const batchSize = Math.min(o.batchSize, o.photos.pixels.length);
  const epochs = Math.max(1, Math.ceil(o.steps / Math.ceil(o.photos.pixels.length / batchSize)));
  const augment = o.augment ?? AUGMENT_DEFAULTS;
  mkdirSync(o.outDir, { recursive: true });
  writeFileSync(join(o.outDir, CONFIG_FILE), JSON.stringify({ encoder: o.encoder, augment }, null, 2));
  const result = await train({
    spec: imageEncoderSpec(o.encoder),
    data: new PhotoViewSource(o.photos, o.encoder.size, augment, o.seed),
    config: { ...TRAIN_DEFAULTS, epochs, batchSize, lr: o.lr, warmupSteps: Math.min(50, Math.floor(o.steps / 10)), schedule: 'cosine', seed: o.seed, patience: 0, bucketByLength: false },
    outDir: o.outDir,
    resume: o.resume,
    workers: o.workers,
    backend: o.backend,
    identity: { photos: o.photos.pixels.length, side: o.photos.side, augment },
    log: o.log,
  });
  return {
    params: result.params as ImageEncoderParams,
    cfg: o.encoder,
    seconds: result.seconds,
    steps: result.state.step,
    loss: result.state.epochLossSum / Math.max(1, result.state.epochTerms),
  };
}

/** The encoder a training run left in `dir` (its last checkpoint). */
export function loadImageEncoder(dir: string): { params: ImageEncoderParams; cfg: ImageEncoderConfig } {
  const path = join(dir, CONFIG_FILE);
  if (!existsSync(path)) throw notFound(`image encoder in ${dir}`, `no ${CONFIG_FILE}: train one first (gensearch eval-image trains and saves it)`);
  const { encoder } = JSON.parse(readFileSync(path, 'utf8')) as { encoder: ImageEncoderConfig };
  const { params } = loadTrainedParams(imageEncoderObjective(encoder), dir, 'best');
  return { params: params as ImageEncoderParams, cfg: encoder };
}

/** Unit embeddings [n, dim] of images already at the encoder's size ([size, size, 3] each). */
export function embedPixels(params: ImageEncoderParams, cfg: ImageEncoderConfig, images: readonly Float32Array[], batch = 128): Float32Array {
  const per = cfg.size * cfg.size * 3;
  const out = new Float32Array(images.length * cfg.dim);
  for (let from = 0; from < images.length; from += batch) {
    const chunk = images.slice(from, from + batch);
    const x = new Float32Array(chunk.length * per);
    chunk.forEach((img, i) => {
      if (img.length !== per) throw badInput(`an image holds ${img.length} values; the encoder takes ${cfg.size} x ${cfg.size} x 3`);
      x.set(img, i * per);
    });
    const z = tf.tidy(() => embedImages(params, cfg, tf.tensor4d(x, [chunk.length, cfg.size, cfg.size, 3])));
    out.set(z.dataSync() as Float32Array, from * cfg.dim);
    z.dispose();
  }
  return out;
}
