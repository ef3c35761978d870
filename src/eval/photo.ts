import { mkdirSync } from 'node:fs';
import { NearestView } from '../baselines/nearest-view.js';
import type { ImageEncoderConfig, ImageEncoderParams } from '../encoders/image-model.js';
import { embedPixels, trainImageEncoder, type TrainedImageEncoder } from '../encoders/image-train.js';
import { type CoilCatalog, coilObjects, type CoilSet, isCatalogAngle } from '../import/coil.js';
import { readImage, readImagePixels, squarePixels } from '../import/image.js';
import { type CaseRanks, meanMetrics, metricKey, perCaseMetrics } from './metrics.js';

/** HR@1, HR@5 and MRR (full ranking) of photo queries with one true item each. */
export interface PhotoMetrics {
  queries: number;
  hr1: number;
  hr5: number;
  mrr: number;
  /** Wall time per photo, one photo at a time: decode, resize, embed, search. */
  msPerPhoto: number;
}

/** Rank (1-based; 0 = not returned) of each query's true item -> the metrics. */
export function photoMetrics(ranks: Int32Array, nItems: number, msPerPhoto: number): PhotoMetrics {
  const caseRanks: CaseRanks = { offsets: Int32Array.from({ length: ranks.length + 1 }, (_, i) => i), ranks };
  const m = meanMetrics(perCaseMetrics(caseRanks, [1, 5, nItems]));
  return { queries: ranks.length, hr1: m[metricKey('recall', 1)], hr5: m[metricKey('recall', 5)], mrr: m[metricKey('mrr', nItems)], msPerPhoto };
}

/** The COIL photo-search protocol of one set and catalog, loaded into memory. */
export interface CoilPhotos {
  set: CoilSet;
  catalog: CoilCatalog;
  itemIds: string[];
  /** Catalog photos: path, item, pixels at 2x the encoder size (for augmentation). */
  catalogPaths: string[];
  catalogItem: Int32Array;
  queryPaths: string[];
  queryItem: Int32Array;
  gray: boolean;
}

export function loadCoilPhotos(dir: string, set: CoilSet, catalog: CoilCatalog): CoilPhotos {
  const objects = coilObjects(dir, set);
  const catalogPaths: string[] = [];
  const catalogItem: number[] = [];
  const queryPaths: string[] = [];
  const queryItem: number[] = [];
  objects.forEach((o, item) => {
    for (const v of o.views) {
      if (isCatalogAngle(catalog, v.angle)) {
        catalogPaths.push(v.path);
        catalogItem.push(item);
      } else {
        queryPaths.push(v.path);
        queryItem.push(item);
      }
    }
  });
  return {
    set,
    catalog,
    itemIds: objects.map((o) => o.id),
    catalogPaths,
    catalogItem: Int32Array.from(catalogItem),
    queryPaths,
    queryItem: Int32Array.from(queryItem),
    gray: set === 'coil20',
  };
}

export interface EncoderRun {
  encoder: TrainedImageEncoder;
  catalogEmb: Float32Array;
  queryEmb: Float32Array;
}

/** Trains the image encoder on the catalog photos alone and embeds catalog and query photos. */
export async function trainAndEmbed(
  photos: CoilPhotos,
  options: { encoder: ImageEncoderConfig; steps: number; batchSize: number; lr: number; seed: number; outDir: string; log?: (m: string) => void },
): Promise<EncoderRun> {
  mkdirSync(options.outDir, { recursive: true });
  const size = options.encoder.size;
  const side = 2 * size;
  const encoder = await trainImageEncoder({
    photos: { side, pixels: photos.catalogPaths.map((p) => readImagePixels(p, side)), item: photos.catalogItem, gray: photos.gray },
    encoder: options.encoder,
    steps: options.steps,
    batchSize: options.batchSize,
    lr: options.lr,
    seed: options.seed,
    outDir: options.outDir,
    log: options.log,
  });
  const embed = (paths: string[]) => embedPixels(encoder.params, encoder.cfg, paths.map((p) => readImagePixels(p, size)));
  return { encoder, catalogEmb: embed(photos.catalogPaths), queryEmb: embed(photos.queryPaths) };
}

/** Nearest catalog photo: ranks of the true items, and latency measured on `timed` photos one by one. */
export function evalNearestView(photos: CoilPhotos, run: EncoderRun, timed = 100): PhotoMetrics {
  const { cfg, params } = run.encoder;
  const index = new NearestView(run.catalogEmb, photos.catalogItem, cfg.dim);
  const n = photos.queryItem.length;
  const ranks = new Int32Array(n);
  for (let q = 0; q < n; q++) {
    const scores = index.itemScores(run.queryEmb.subarray(q * cfg.dim, (q + 1) * cfg.dim));
    const own = scores[photos.queryItem[q]];
    let rank = 1;
    scores.forEach((s, i) => {
      if (s > own || (s === own && i < photos.queryItem[q])) rank++;
    });
    ranks[q] = rank;
  }
  const ms = timePerPhoto(photos.queryPaths.slice(0, timed), (path) => index.search(embedOne(params, cfg, path), 10));
  return photoMetrics(ranks, photos.itemIds.length, ms);
}

/** The embedding of one photo file, as a live request computes it. */
export function embedOne(params: ImageEncoderParams, cfg: ImageEncoderConfig, path: string): Float32Array {
  return embedPixels(params, cfg, [squarePixels(readImage(path), cfg.size)]);
}

/** Mean milliseconds of `fn` per path, after one warm-up call. */
export function timePerPhoto(paths: string[], fn: (path: string) => unknown): number {
  if (paths.length === 0) return 0;
  fn(paths[0]);
  const start = performance.now();
  for (const p of paths) fn(p);
  return (performance.now() - start) / paths.length;
}
