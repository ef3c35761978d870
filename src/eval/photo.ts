import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { NearestView } from '../baselines/nearest-view.js';
import { generateItems } from '../decode/generate.js';
import { ENCODER_DIR, type PhotoModelFile, savePhotoModel } from '../decode/photo-search.js';
import type { ImageEncoderConfig, ImageEncoderParams } from '../encoders/image-model.js';
import { AUGMENT_DEFAULTS, embedPixels, trainImageEncoder, type TrainedImageEncoder, viewOf } from '../encoders/image-train.js';
import { type CoilCatalog, coilObjects, type CoilSet, isCatalogAngle } from '../import/coil.js';
import { readImage, readImagePixels, squarePixels } from '../import/image.js';
import { disposeParams } from '../model/params.js';
import { type CodebookReport, codebookReport } from '../sids/codebook-metrics.js';
import { codesToTokens, positionSizes } from '../sids/layout.js';
import { matrix } from '../sids/matrix.js';
import { SidTrie } from '../sids/trie.js';
import { buildVrq, shallowAgreement } from '../sids/vrq.js';
import { type PhotoExamples, photoModelConfig, photoPrompt, type PhotoRecipe, trainPhotoGenerative, type TrainedPhotoModel } from '../tasks/photo.js';
import { Rng } from '../tensor/rng.js';
import type { Tf } from '../tensor/runtime.js';
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
export async function evalNearestView(photos: CoilPhotos, run: EncoderRun, timed = 100): Promise<PhotoMetrics> {
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
  const ms = await timePerPhoto(photos.queryPaths.slice(0, timed), (path) => index.search(embedOne(params, cfg, path), 10));
  return photoMetrics(ranks, photos.itemIds.length, ms);
}

/** The embedding of one photo file, as a live request computes it. */
export function embedOne(params: ImageEncoderParams, cfg: ImageEncoderConfig, path: string): Float32Array {
  return embedPixels(params, cfg, [squarePixels(readImage(path), cfg.size)]);
}

/** Mean milliseconds of `fn` per path (awaited one at a time), after one warm-up call. */
export async function timePerPhoto(paths: string[], fn: (path: string) => unknown): Promise<number> {
  if (paths.length === 0) return 0;
  await fn(paths[0]);
  const start = performance.now();
  for (const p of paths) await fn(p);
  return (performance.now() - start) / paths.length;
}

export interface PhotoEvalOptions {
  dir: string;
  set: CoilSet;
  catalog: CoilCatalog;
  encoder: ImageEncoderConfig;
  encoderSteps: number;
  encoderBatch: number;
  encoderLr: number;
  seed: number;
  vrqLevels: number[];
  /** null: nearest-view and VRQ only. */
  generative: PhotoRecipe | null;
  /** Augmented views per catalog photo for the generative model's training. */
  viewsPerPhoto: number;
  beam: number;
  pruneMargin?: number;
  /** The photo model is written here (see src/decode/photo-search.ts). */
  outDir: string;
  log?: (m: string) => void;
}

export interface PhotoEvalResult {
  set: CoilSet;
  catalog: CoilCatalog;
  items: number;
  catalogPhotos: number;
  encoder: { steps: number; seconds: number; loss: number };
  nearestView: PhotoMetrics;
  vrq: { report: CodebookReport; queryShare: { level1: number; level12: number }; catalogShare: { level1: number; level12: number } };
  generative: (PhotoMetrics & { trainSeconds: number; stages: TrainedPhotoModel['stages']; beam: number; pruneMargin: number | null; beamRowsPerPhoto: number; invalidSids: number }) | null;
}

/**
 * The whole photo-search run on one COIL set and catalog: image encoder (catalog photos only),
 * nearest-view baseline, VRQ SIDs with their codebook report, then the photo-conditioned
 * generative retriever; writes the photo model to `outDir` and returns every number.
 */
export async function runPhotoEval(tf: Tf, o: PhotoEvalOptions): Promise<PhotoEvalResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const photos = loadCoilPhotos(o.dir, o.set, o.catalog);
  const nItems = photos.itemIds.length;
  const encoderDir = join(o.outDir, ENCODER_DIR);
  log(`${o.set} catalog ${o.catalog}: ${nItems} items, ${photos.catalogPaths.length} catalog photos, ${photos.queryPaths.length} query photos`);
  const run = await trainAndEmbed(photos, { encoder: o.encoder, steps: o.encoderSteps, batchSize: o.encoderBatch, lr: o.encoderLr, seed: o.seed, outDir: encoderDir, log });
  const nearestView = await evalNearestView(photos, run);
  log(`nearest view: HR@1 ${nearestView.hr1.toFixed(4)} HR@5 ${nearestView.hr5.toFixed(4)} MRR ${nearestView.mrr.toFixed(4)}`);

  const dim = o.encoder.dim;
  const catalogM = matrix(run.catalogEmb, photos.catalogItem.length, dim);
  const vrq = buildVrq(tf, catalogM, photos.catalogItem, nItems, { levels: o.vrqLevels, seed: o.seed });
  const report = codebookReport(vrq.codes, vrq.layout);
  const queryShare = shallowAgreement(tf, vrq, matrix(run.queryEmb, photos.queryItem.length, dim), photos.queryItem);
  const catalogShare = shallowAgreement(tf, vrq, catalogM, photos.catalogItem);
  log(`VRQ [${vrq.layout.levels.join(', ')}]: query photos on their item's L1 ${queryShare.level1.toFixed(4)}, L1+L2 ${queryShare.level12.toFixed(4)}`);

  let generative: PhotoEvalResult['generative'] = null;
  let generativeFile: PhotoModelFile['generative'] = null;
  if (o.generative) {
    const itemTokens = codesToTokens(vrq.layout, vrq.codes);
    const cfg = photoModelConfig(o.generative, { sidSizes: positionSizes(vrq.layout), nItems, dim });
    const augmented = augmentedEmbeddings(photos, run, o.viewsPerPhoto, o.seed);
    const clean: PhotoExamples = { emb: run.catalogEmb, item: photos.catalogItem, dim };
    const model = await trainPhotoGenerative({
      recipe: o.generative,
      cfg,
      itemTokens,
      align: concatExamples(clean, augmented),
      search: augmented,
      dir: join(o.outDir, 'generative'),
      log,
    });
    const trie = new SidTrie(itemTokens, cfg.sidSizes.length);
    const prompts = Array.from(photos.queryItem, (_, q) => photoPrompt(run.queryEmb.subarray(q * dim, (q + 1) * dim)));
    const { lists, stats } = await generateItems(model, model.pack, trie, prompts, { beam: o.beam, k: nItems, pruneMargin: o.pruneMargin });
    const ranks = Int32Array.from(lists, (l, q) => l.items.indexOf(photos.queryItem[q]) + 1);
    const valid = new Set(Array.from({ length: nItems }, (_, i) => i));
    const invalidSids = lists.reduce((n, l) => n + l.items.filter((it) => !valid.has(it)).length, 0);
    const ms = await timePerPhoto(photos.queryPaths.slice(0, 50), (path) =>
      generateItems(model, model.pack, trie, [photoPrompt(embedOne(run.encoder.params, run.encoder.cfg, path))], { beam: o.beam, k: 10, pruneMargin: o.pruneMargin }),
    );
    generative = {
      ...photoMetrics(ranks, nItems, ms),
      trainSeconds: model.seconds,
      stages: model.stages,
      beam: o.beam,
      pruneMargin: o.pruneMargin ?? null,
      beamRowsPerPhoto: stats.beamRowsScored / prompts.length,
      invalidSids,
    };
    log(`generative: HR@1 ${generative.hr1.toFixed(4)} HR@5 ${generative.hr5.toFixed(4)} MRR ${generative.mrr.toFixed(4)}`);
    generativeFile = { cfg, dir: join('generative', model.stages[model.stages.length - 1].name) };
    disposeParams(model.params);
  }
  const objects = coilObjects(o.dir, o.set);
  savePhotoModel(o.outDir, {
    dataset: o.set,
    itemIds: photos.itemIds,
    titles: objects.map((ob) => ob.label ?? ob.id),
    sids: { layout: vrq.layout, codes: Array.from(vrq.codes) },
    catalog: { emb: Array.from(run.catalogEmb), item: Array.from(photos.catalogItem) },
    generative: generativeFile,
  });
  disposeParams(run.encoder.params);
  return {
    set: o.set,
    catalog: o.catalog,
    items: nItems,
    catalogPhotos: photos.catalogPaths.length,
    encoder: { steps: run.encoder.steps, seconds: run.encoder.seconds, loss: run.encoder.loss },
    nearestView,
    vrq: { report, queryShare, catalogShare },
    generative,
  };
}

/** `perPhoto` phone-like views of every catalog photo, embedded: training prompts of the photo task. */
function augmentedEmbeddings(photos: CoilPhotos, run: EncoderRun, perPhoto: number, seed: number): PhotoExamples {
  const { params, cfg } = run.encoder;
  const side = 2 * cfg.size;
  const rng = new Rng(seed + 7);
  const views: Float32Array[] = [];
  const item: number[] = [];
  photos.catalogPaths.forEach((path, i) => {
    const src = readImagePixels(path, side);
    for (let v = 0; v < perPhoto; v++) {
      views.push(viewOf(src, side, cfg.size, rng, AUGMENT_DEFAULTS, photos.gray));
      item.push(photos.catalogItem[i]);
    }
  });
  return { emb: embedPixels(params, cfg, views), item: Int32Array.from(item), dim: cfg.dim };
}

function concatExamples(a: PhotoExamples, b: PhotoExamples): PhotoExamples {
  const emb = new Float32Array(a.emb.length + b.emb.length);
  emb.set(a.emb);
  emb.set(b.emb, a.emb.length);
  const item = new Int32Array(a.item.length + b.item.length);
  item.set(a.item);
  item.set(b.item, a.item.length);
  return { emb, item, dim: a.dim };
}
