import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generateItems } from '../decode/generate.js';
import { ENCODER_DIR, openPhotoSearch, type PhotoModelFile, type PhotoSearch, savePhotoModel, type SearchImageOptions, searchPhoto } from '../decode/photo-search.js';
import type { ImageEncoderConfig } from '../encoders/image-model.js';
import { AUGMENT_DEFAULTS, embedPixels, trainImageEncoder, type TrainedImageEncoder, viewOf } from '../encoders/image-train.js';
import { type CoilCatalog, coilObjects, type CoilSet, isCatalogAngle } from '../import/coil.js';
import { readImagePixels } from '../import/image.js';
import { disposeParams } from '../model/params.js';
import { type CodebookReport, codebookReport } from '../sids/codebook-metrics.js';
import { codesToTokens, positionSizes } from '../sids/layout.js';
import { matrix } from '../sids/matrix.js';
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
  options: { encoder: ImageEncoderConfig; steps: number; batchSize: number; lr: number; seed: number; outDir: string; resume?: boolean; log?: (m: string) => void },
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
    resume: options.resume,
    log: options.log,
  });
  const embed = (paths: string[]) => embedPixels(encoder.params, encoder.cfg, paths.map((p) => readImagePixels(p, size)));
  return { encoder, catalogEmb: embed(photos.catalogPaths), queryEmb: embed(photos.queryPaths) };
}

/** 1-based rank of `target` when items are ordered by score (ties: lower index first). */
function rankOf(scores: Float32Array, target: number): number {
  const own = scores[target];
  let rank = 1;
  scores.forEach((s, i) => {
    if (s > own || (s === own && i < target)) rank++;
  });
  return rank;
}

/** Generative metrics at one decoding setting. */
export interface GenerativeMetrics extends PhotoMetrics {
  beam: number;
  /** Dynamic pruning margin in nats; null = off. */
  pruneMargin: number | null;
  /** Beam rows the decoder scored per photo (the work pruning saves). */
  beamRowsPerPhoto: number;
}

/**
 * Both systems of an opened photo model on the query photos (embedded beforehand with the
 * model's encoder): nearest view, then the generative model at each pruning margin. Latency is
 * measured through `searchPhoto`, one photo file at a time: decode, resize, embed, search.
 */
export async function evalPhotoModel(
  model: PhotoSearch,
  photos: CoilPhotos,
  queryEmb: Float32Array,
  options: { beam: number; margins: (number | null)[]; timed?: number },
): Promise<{ nearestView: PhotoMetrics; generative: GenerativeMetrics[] }> {
  const dim = model.encoder.cfg.dim;
  const nItems = photos.itemIds.length;
  const n = photos.queryItem.length;
  const timedPaths = photos.queryPaths.slice(0, options.timed ?? 50);
  const latency = (opts: SearchImageOptions) => timePerPhoto(timedPaths, (path) => searchPhoto(model, readFileSync(path), opts));
  const nearestRanks = Int32Array.from({ length: n }, (_, q) => rankOf(model.nearest.itemScores(queryEmb.subarray(q * dim, (q + 1) * dim)), photos.queryItem[q]));
  const nearestView = photoMetrics(nearestRanks, nItems, await latency({ method: 'nearest' }));
  const generative: GenerativeMetrics[] = [];
  const g = model.generative;
  if (g) {
    const prompts = Array.from(photos.queryItem, (_, q) => photoPrompt(queryEmb.subarray(q * dim, (q + 1) * dim)));
    for (const margin of options.margins) {
      const pruneMargin = margin ?? undefined;
      const { lists, stats } = await generateItems(g, g.pack, g.trie, prompts, { beam: options.beam, k: nItems, pruneMargin });
      const ranks = Int32Array.from(lists, (l, q) => l.items.indexOf(photos.queryItem[q]) + 1);
      const ms = await latency({ method: 'generative', beam: options.beam, pruneMargin, k: 10 });
      generative.push({ ...photoMetrics(ranks, nItems, ms), beam: options.beam, pruneMargin: margin, beamRowsPerPhoto: stats.beamRowsScored / n });
    }
  }
  return { nearestView, generative };
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
  /** Dynamic pruning margins to decode with (null = off). */
  margins: (number | null)[];
  /** Continue from the checkpoints a run left in `outDir` (a finished stage is not trained again). */
  resume?: boolean;
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
  vrq: { report: CodebookReport; queryShare: { level1: number; level12: number }; catalogShare: { level1: number; level12: number } };
  generativeTraining: { seconds: number; stages: TrainedPhotoModel['stages'] } | null;
  nearestView: PhotoMetrics;
  /** One entry per pruning margin; empty without a generative model. */
  generative: GenerativeMetrics[];
}

/** What training produced, before the systems are evaluated. */
export type PhotoTraining = Omit<PhotoEvalResult, 'nearestView' | 'generative'>;

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
  const run = await trainAndEmbed(photos, { encoder: o.encoder, steps: o.encoderSteps, batchSize: o.encoderBatch, lr: o.encoderLr, seed: o.seed, outDir: encoderDir, resume: o.resume, log });

  const dim = o.encoder.dim;
  const catalogM = matrix(run.catalogEmb, photos.catalogItem.length, dim);
  const vrq = buildVrq(tf, catalogM, photos.catalogItem, nItems, { levels: o.vrqLevels, seed: o.seed });
  const report = codebookReport(vrq.codes, vrq.layout);
  const queryShare = shallowAgreement(tf, vrq, matrix(run.queryEmb, photos.queryItem.length, dim), photos.queryItem);
  const catalogShare = shallowAgreement(tf, vrq, catalogM, photos.catalogItem);
  log(`VRQ [${vrq.layout.levels.join(', ')}]: query photos on their item's L1 ${queryShare.level1.toFixed(4)}, L1+L2 ${queryShare.level12.toFixed(4)}`);

  let training: PhotoEvalResult['generativeTraining'] = null;
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
      search: concatExamples(concatExamples(clean, augmented), withinItemMixes(concatExamples(clean, augmented), augmented.item.length, o.seed)),
      dir: join(o.outDir, 'generative'),
      resume: o.resume,
      log,
    });
    training = { seconds: model.seconds, stages: model.stages };
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
  const trained: PhotoTraining = {
    set: o.set,
    catalog: o.catalog,
    items: nItems,
    catalogPhotos: photos.catalogPaths.length,
    encoder: { steps: run.encoder.steps, seconds: run.encoder.seconds, loss: run.encoder.loss },
    vrq: { report, queryShare, catalogShare },
    generativeTraining: training,
  };
  return reevalPhotoModel(o.outDir, photos, trained, { beam: o.beam, margins: o.margins }, log);
}

/**
 * Evaluates the photo model saved in `dir` (both systems) and returns `trained` with the
 * numbers filled in: what `eval-image --reuse` runs on a model trained before.
 */
export async function reevalPhotoModel(
  dir: string,
  photos: CoilPhotos,
  trained: PhotoTraining,
  options: { beam: number; margins: (number | null)[] },
  log: (m: string) => void,
): Promise<PhotoEvalResult> {
  const model = openPhotoSearch(dir);
  try {
    const { params, cfg } = model.encoder;
    const queryEmb = embedPixels(params, cfg, photos.queryPaths.map((p) => readImagePixels(p, cfg.size)));
    const { nearestView, generative } = await evalPhotoModel(model, photos, queryEmb, options);
    log(`nearest view: HR@1 ${nearestView.hr1.toFixed(4)} HR@5 ${nearestView.hr5.toFixed(4)} MRR ${nearestView.mrr.toFixed(4)}`);
    for (const g of generative) log(`generative (prune ${g.pruneMargin ?? 'off'}): HR@1 ${g.hr1.toFixed(4)} HR@5 ${g.hr5.toFixed(4)} MRR ${g.mrr.toFixed(4)}, ${g.beamRowsPerPhoto.toFixed(1)} beam rows / photo`);
    return { ...trained, nearestView, generative };
  } finally {
    model.dispose();
  }
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

/**
 * `count` mixes of two photo embeddings of the same item (a random convex combination,
 * renormalised): photos between two shots of an item, such as a turntable angle the catalog
 * skipped, land between their embeddings; the generative model learns that region maps to
 * the item too.
 */
export function withinItemMixes(photos: PhotoExamples, count: number, seed: number): PhotoExamples {
  const { dim } = photos;
  const rng = new Rng(seed + 13);
  const byItem = new Map<number, number[]>();
  photos.item.forEach((it, i) => byItem.set(it, [...(byItem.get(it) ?? []), i]));
  const emb = new Float32Array(count * dim);
  const item = new Int32Array(count);
  for (let m = 0; m < count; m++) {
    const a = rng.int(photos.item.length);
    const same = byItem.get(photos.item[a])!;
    const b = same[rng.int(same.length)];
    const t = rng.next();
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const v = (1 - t) * photos.emb[a * dim + j] + t * photos.emb[b * dim + j];
      emb[m * dim + j] = v;
      norm += v * v;
    }
    norm = Math.sqrt(norm) || 1;
    for (let j = 0; j < dim; j++) emb[m * dim + j] /= norm;
    item[m] = photos.item[a];
  }
  return { emb, item, dim };
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
