import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { IMAGE_ENCODER_DEFAULTS, type ImageEncoderConfig } from '../src/encoders/image-model.js';
import { AUGMENT_DEFAULTS } from '../src/encoders/image-train.js';
import { PHOTO_RECIPE_DEFAULTS } from '../src/tasks/photo.js';
import { buildPhotoModel, catalogFromStore } from '../src/tasks/photo-model.js';
import { importImageCatalog } from '../src/import/images.js';
import type { Store } from '../src/store/types.js';
import { Rng } from '../src/tensor/rng.js';
import type { Tf } from '../src/tensor/runtime.js';

/**
 * A planted multi-view signal: item k is a stripe pattern of its own orientation and colour;
 * each view shifts the stripes (another phase) and adds noise, as a turntable would change
 * what the camera sees while the item stays the same. side x side x RGB in [0, 1].
 */
export function stripeView(item: number, rng: Rng, side = 16): Float32Array {
  const angle = (item * Math.PI) / 4;
  const phase = rng.next() * 2 * Math.PI;
  const colour = [[1, 0.3, 0.3], [0.3, 1, 0.3], [0.3, 0.3, 1], [1, 1, 0.3]][item % 4];
  const out = new Float32Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    for (let x = 0; x < side; x++) {
      const v = 0.5 + 0.5 * Math.sin((x * Math.cos(angle) + y * Math.sin(angle)) * 1.6 + phase);
      for (let c = 0; c < 3; c++) out[(y * side + x) * 3 + c] = Math.min(1, Math.max(0, v * colour[(c + item) % 3] + 0.1 * (rng.next() - 0.5)));
    }
  }
  return out;
}

/** side x side RGB in [0, 1] as opaque RGBA bytes. */
function rgba(rgb: Float32Array, side: number): Buffer {
  const data = Buffer.alloc(side * side * 4, 255);
  rgb.forEach((v, i) => (data[Math.floor(i / 3) * 4 + (i % 3)] = Math.round(v * 255)));
  return data;
}

export function pngOf(rgb: Float32Array, side: number): Buffer {
  const png = new PNG({ width: side, height: side });
  rgba(rgb, side).copy(png.data);
  return PNG.sync.write(png);
}

/** The same picture as a JPEG. */
export function jpegOf(png: Buffer, quality = 95): Buffer {
  const { width, height, data } = PNG.sync.read(png);
  return jpeg.encode({ width, height, data }, quality).data;
}

/** The smallest photo encoder the photo tests train. */
export const TINY_ENCODER: ImageEncoderConfig = { ...IMAGE_ENCODER_DEFAULTS, size: 16, channels: [8, 16], hidden: 32, dim: 16 };

/**
 * A photo catalog of `items` stripe items x `views` PNG photos (one sub-folder per item) under
 * `dir`, imported as `dataset`, with a tiny photo model (encoder, VRQ, generative) trained in
 * `outDir`. Returns the photo paths of each item.
 */
export async function buildTinyPhotoModel(tf: Tf, store: Store, dir: string, dataset: string, outDir: string, items = 4, views = 3): Promise<string[][]> {
  const side = 2 * TINY_ENCODER.size;
  const rng = new Rng(5);
  const paths = Array.from({ length: items }, (_, k) => {
    mkdirSync(join(dir, `item${k}`), { recursive: true });
    return Array.from({ length: views }, (_, v) => {
      const path = join(dir, `item${k}`, `view${v}.png`);
      writeFileSync(path, pngOf(stripeView(k, rng, side), side));
      return path;
    });
  });
  importImageCatalog(store, dir, { dataset });
  const built = await buildPhotoModel(tf, catalogFromStore(store, dataset), {
    encoder: { kind: 'cnn', cnn: TINY_ENCODER, flipTta: false, augment: AUGMENT_DEFAULTS },
    encoderSteps: 40,
    encoderBatch: 12,
    encoderLr: 3e-3,
    seed: 1,
    vrqLevels: [2, 2],
    generative: { ...PHOTO_RECIPE_DEFAULTS, alignSteps: 10, searchSteps: 20, batchSize: 16, lr: 5e-3 },
    viewsPerPhoto: 2,
    outDir,
    log: () => {},
  });
  built.encoder.encoder.dispose();
  return paths;
}
