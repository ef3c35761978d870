import { readFileSync } from 'node:fs';
import { generateItems } from '../decode/generate.js';
import { openPhotoSearch, type PhotoSearch, type SearchImageOptions, searchPhoto } from '../decode/photo-search.js';
import type { BackbonePool } from '../encoders/image-encoder.js';
import { type CoilCatalog, coilObjects, type CoilSet, isCatalogAngle } from '../import/coil.js';
import { readImagePixels } from '../import/image.js';
import type { CodebookReport } from '../sids/codebook-metrics.js';
import { matrix } from '../sids/matrix.js';
import { shallowAgreement } from '../sids/vrq.js';
import { photoPrompt } from '../tasks/photo.js';
import { type BuiltPhotoModel, buildPhotoModel, type PhotoCatalog, type PhotoModelOptions } from '../tasks/photo-model.js';
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
  /** Object names where the labels file has them, else the item ids. */
  titles: string[];
  /** Catalog photos and each one's item. */
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
    titles: objects.map((o) => o.label ?? o.id),
    catalogPaths,
    catalogItem: Int32Array.from(catalogItem),
    queryPaths,
    queryItem: Int32Array.from(queryItem),
    gray: set === 'coil20',
  };
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
 * measured through `searchPhoto`, one photo file at a time: decode, resize, embed, search (on
 * `timedModel` where given: the model opened as a server opens it, without cached features).
 */
export async function evalPhotoModel(
  model: PhotoSearch,
  photos: CoilPhotos,
  queryEmb: Float32Array,
  options: { beam: number; margins: (number | null)[]; timed?: number; timedModel?: PhotoSearch },
): Promise<{ nearestView: PhotoMetrics; generative: GenerativeMetrics[] }> {
  const dim = model.encoder.dim;
  const nItems = photos.itemIds.length;
  const n = photos.queryItem.length;
  const timedPaths = photos.queryPaths.slice(0, options.timed ?? 50);
  const timedModel = options.timedModel ?? model;
  const latency = (opts: SearchImageOptions) => timePerPhoto(timedPaths, (path) => searchPhoto(timedModel, readFileSync(path), opts));
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

export interface PhotoEvalOptions extends Omit<PhotoModelOptions, 'log'> {
  dir: string;
  set: CoilSet;
  catalog: CoilCatalog;
  beam: number;
  /** Dynamic pruning margins to decode with (null = off). */
  margins: (number | null)[];
  log?: (m: string) => void;
}

export interface PhotoEvalResult {
  set: CoilSet;
  catalog: CoilCatalog;
  items: number;
  catalogPhotos: number;
  encoder: { kind: string; steps: number; seconds: number; loss: number };
  vrq: { report: CodebookReport; queryShare: { level1: number; level12: number }; catalogShare: { level1: number; level12: number } };
  generativeTraining: BuiltPhotoModel['generativeTraining'];
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
  log(`${o.set} catalog ${o.catalog}: ${photos.itemIds.length} items, ${photos.catalogPaths.length} catalog photos, ${photos.queryPaths.length} query photos`);
  const built = await buildPhotoModel(tf, coilCatalog(photos), { ...o, log });
  const { encoder } = built.encoder;
  const queryEmb = encoder.embed(photos.queryPaths.map((p) => readImagePixels(p, encoder.size)));
  const queryShare = shallowAgreement(tf, built.vrq, matrix(queryEmb, photos.queryItem.length, encoder.dim), photos.queryItem);
  log(`VRQ [${built.vrq.layout.levels.join(', ')}]: query photos on their item's L1 ${queryShare.level1.toFixed(4)}, L1+L2 ${queryShare.level12.toFixed(4)}`);
  encoder.dispose();
  const trained: PhotoTraining = {
    set: o.set,
    catalog: o.catalog,
    items: photos.itemIds.length,
    catalogPhotos: photos.catalogPaths.length,
    encoder: { kind: encoder.spec.kind, steps: built.encoder.steps, seconds: built.encoder.seconds, loss: built.encoder.loss },
    vrq: { report: built.report, queryShare, catalogShare: built.catalogShare },
    generativeTraining: built.generativeTraining,
  };
  return reevalPhotoModel(o.outDir, photos, trained, { beam: o.beam, margins: o.margins }, log, o.pool);
}

/** The catalog side of a COIL protocol, as photo-model training takes it. */
export function coilCatalog(photos: CoilPhotos): PhotoCatalog {
  return { dataset: photos.set, itemIds: photos.itemIds, titles: photos.titles, photoPaths: photos.catalogPaths, photoItem: photos.catalogItem, gray: photos.gray };
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
  pool?: BackbonePool,
): Promise<PhotoEvalResult> {
  const model = await openPhotoSearch(dir, pool);
  const timedModel = pool ? await openPhotoSearch(dir) : model;
  try {
    const { encoder } = model;
    const queryEmb = encoder.embed(photos.queryPaths.map((p) => readImagePixels(p, encoder.size)));
    const { nearestView, generative } = await evalPhotoModel(model, photos, queryEmb, { ...options, timedModel });
    log(`nearest view: HR@1 ${nearestView.hr1.toFixed(4)} HR@5 ${nearestView.hr5.toFixed(4)} MRR ${nearestView.mrr.toFixed(4)}`);
    for (const g of generative) log(`generative (prune ${g.pruneMargin ?? 'off'}): HR@1 ${g.hr1.toFixed(4)} HR@5 ${g.hr5.toFixed(4)} MRR ${g.mrr.toFixed(4)}, ${g.beamRowsPerPhoto.toFixed(1)} beam rows / photo`);
    return { ...trained, nearestView, generative };
  } finally {
    model.dispose();
    if (timedModel !== model) timedModel.dispose();
  }
}

