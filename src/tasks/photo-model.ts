import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ENCODER_DIR, type PhotoModelFile, savePhotoModel } from '../decode/photo-search.js';
import { type BackbonePool, encoderInputSize, type ImageEncoder, type ImageEncoderSpec, trainEncoder, type TrainedEncoder } from '../encoders/image-encoder.js';
import { photoViews } from '../encoders/image-train.js';
import { badInput } from '../errors.js';
import { readImage, squarePixels } from '../import/image.js';
import { itemImages } from '../import/images.js';
import { disposeParams } from '../model/params.js';
import { type CodebookReport, codebookReport } from '../sids/codebook-metrics.js';
import { codesToTokens, positionSizes } from '../sids/layout.js';
import { matrix } from '../sids/matrix.js';
import { buildVrq, shallowAgreement, type VrqModel } from '../sids/vrq.js';
import type { Store } from '../store/types.js';
import { Rng } from '../tensor/rng.js';
import type { Tf } from '../tensor/runtime.js';
import { type PhotoExamples, photoModelConfig, type PhotoRecipe, trainPhotoGenerative, type TrainedPhotoModel } from './photo.js';

/**
 * Building a photo model from a catalog's photos (what `searchImage` opens): the image encoder
 * trained on the catalog photos, VRQ SIDs of the items, and the photo-conditioned generative
 * retriever; all written to one folder.
 */

/** A catalog's photos: every photo's path and item (an item may have several). */
export interface PhotoCatalog {
  dataset: string;
  itemIds: string[];
  titles: (string | null)[];
  photoPaths: string[];
  photoItem: Int32Array;
  /** All photos grayscale: a changed background stays gray in augmentation. */
  gray: boolean;
}

/** The items of a dataset with photos (`attributes.images`, as the image importers store them). */
export function catalogFromStore(store: Store, dataset: string): PhotoCatalog {
  const items = store.items(dataset).filter((it) => itemImages(it).length > 0);
  if (items.length < 2) throw badInput(`dataset "${dataset}" has ${items.length} items with photos; a photo model needs at least 2 (gensearch import images <folder>)`);
  const photoPaths: string[] = [];
  const photoItem: number[] = [];
  items.forEach((it, i) => {
    for (const path of itemImages(it)) {
      photoPaths.push(path);
      photoItem.push(i);
    }
  });
  return {
    dataset,
    itemIds: items.map((it) => it.id),
    titles: items.map((it) => it.title),
    photoPaths,
    photoItem: Int32Array.from(photoItem),
    gray: photoPaths.every((p) => readImage(p).gray),
  };
}

export interface PhotoModelOptions {
  encoder: ImageEncoderSpec;
  encoderSteps: number;
  encoderBatch: number;
  encoderLr: number;
  seed: number;
  vrqLevels: number[];
  /** null: encoder, VRQ and nearest view only. */
  generative: PhotoRecipe | null;
  /** Augmented views per catalog photo for the generative model's training. */
  viewsPerPhoto: number;
  outDir: string;
  /** Continue from the checkpoints in `outDir` (a finished stage is not trained again). */
  resume?: boolean;
  /** Backbones shared with other photo models of the run (their feature caches). */
  pool?: BackbonePool;
  log: (m: string) => void;
}

export interface BuiltPhotoModel {
  /** The trained encoder (the caller disposes it). */
  encoder: TrainedEncoder;
  catalogEmb: Float32Array;
  vrq: VrqModel;
  report: CodebookReport;
  /** Share of catalog photos whose own embedding quantizes to its item's shallow codes. */
  catalogShare: { level1: number; level12: number };
  generativeTraining: { seconds: number; stages: TrainedPhotoModel['stages'] } | null;
}

export async function buildPhotoModel(tf: Tf, catalog: PhotoCatalog, o: PhotoModelOptions): Promise<BuiltPhotoModel> {
  const nItems = catalog.itemIds.length;
  const size = encoderInputSize(o.encoder);
  const side = 2 * size;
  mkdirSync(o.outDir, { recursive: true });
  const sources = catalog.photoPaths.map((p) => squarePixels(readImage(p), side));
  const trained = await trainEncoder(o.encoder, {
    photos: { side, pixels: sources, item: catalog.photoItem, gray: catalog.gray },
    steps: o.encoderSteps,
    batchSize: o.encoderBatch,
    lr: o.encoderLr,
    seed: o.seed,
    outDir: join(o.outDir, ENCODER_DIR),
    resume: o.resume,
    pool: o.pool,
    log: o.log,
  });
  const { encoder } = trained;
  const dim = encoder.dim;
  const catalogEmb = encoder.embed(catalog.photoPaths.map((p) => squarePixels(readImage(p), size)));
  const catalogM = matrix(catalogEmb, catalog.photoItem.length, dim);
  const vrq = buildVrq(tf, catalogM, catalog.photoItem, nItems, { levels: o.vrqLevels, seed: o.seed });
  const report = codebookReport(vrq.codes, vrq.layout);
  const catalogShare = shallowAgreement(tf, vrq, catalogM, catalog.photoItem);

  let generativeTraining: BuiltPhotoModel['generativeTraining'] = null;
  let generativeFile: PhotoModelFile['generative'] = null;
  if (o.generative) {
    const itemTokens = codesToTokens(vrq.layout, vrq.codes);
    const cfg = photoModelConfig(o.generative, { sidSizes: positionSizes(vrq.layout), nItems, dim });
    const clean: PhotoExamples = { emb: catalogEmb, item: catalog.photoItem, dim };
    // Views the encoder never trained on (another seed): their embeddings scatter the way a
    // query photo's do, not pulled tight by the encoder's own training.
    const photos = concatExamples(clean, augmentedEmbeddings(encoder, sources, catalog, o.viewsPerPhoto, o.seed + 7));
    // No item with two catalog photos: no gap between views to fill, no noisy copies.
    const radius = o.generative.jitter * viewGap(clean);
    const jitter = radius > 0 ? [jitteredCopies(photos, photos.item.length, radius, o.seed)] : [];
    const model = await trainPhotoGenerative({
      recipe: o.generative,
      cfg,
      itemTokens,
      align: photos,
      search: [withinItemMixes(photos, photos.item.length - clean.item.length, o.seed), ...jitter].reduce(concatExamples, photos),
      dir: join(o.outDir, 'generative'),
      resume: o.resume,
      log: o.log,
    });
    generativeTraining = { seconds: model.seconds, stages: model.stages };
    generativeFile = { cfg, dir: join('generative', model.stages[model.stages.length - 1].name) };
    disposeParams(model.params);
  }
  savePhotoModel(o.outDir, {
    dataset: catalog.dataset,
    itemIds: catalog.itemIds,
    titles: catalog.titles,
    sids: { layout: vrq.layout, codes: Array.from(vrq.codes) },
    catalog: { emb: Array.from(catalogEmb), item: Array.from(catalog.photoItem) },
    generative: generativeFile,
  });
  return { encoder: trained, catalogEmb, vrq, report, catalogShare, generativeTraining };
}

/**
 * `perPhoto` phone-like views of every catalog photo, embedded: training prompts of the photo
 * task. The views are the photo's own seeded ones (`photoViews`): every catalog of a photo set
 * that holds the photo embeds the same views, so a backbone's features of them are cached once.
 */
function augmentedEmbeddings(encoder: ImageEncoder, sources: Float32Array[], catalog: PhotoCatalog, perPhoto: number, seed: number): PhotoExamples {
  const side = 2 * encoder.size;
  const emb = new Float32Array(sources.length * perPhoto * encoder.dim);
  const item = new Int32Array(sources.length * perPhoto);
  sources.forEach((src, i) => {
    emb.set(encoder.embed(photoViews(src, side, encoder.size, perPhoto, seed, encoder.spec.augment, catalog.gray)), i * perPhoto * encoder.dim);
    item.fill(catalog.photoItem[i], i * perPhoto, (i + 1) * perPhoto);
  });
  return { emb, item, dim: encoder.dim };
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

/**
 * The typical distance from a catalog photo's embedding to the nearest other photo of its
 * item (the gap a query photo between two catalog angles falls into): the median over photos
 * whose item has another photo; 0 when no item has two.
 */
export function viewGap(photos: PhotoExamples): number {
  const { dim, emb, item } = photos;
  const gaps: number[] = [];
  for (let i = 0; i < item.length; i++) {
    let best = Number.POSITIVE_INFINITY;
    for (let j = 0; j < item.length; j++) {
      if (j === i || item[j] !== item[i]) continue;
      let d = 0;
      for (let k = 0; k < dim; k++) d += (emb[i * dim + k] - emb[j * dim + k]) ** 2;
      best = Math.min(best, d);
    }
    if (best < Number.POSITIVE_INFINITY) gaps.push(Math.sqrt(best));
  }
  return gaps.length === 0 ? 0 : gaps.sort((a, b) => a - b)[gaps.length >> 1];
}

/**
 * `count` copies of random photo embeddings moved by Gaussian noise of norm about `radius`,
 * renormalised: the generative model then maps the neighbourhood of each catalog view to its
 * item, as nearest view does, instead of drawing sharp boundaries where no photo lies (its
 * training loss on the photos alone goes to ~0 long before the boundaries settle).
 */
export function jitteredCopies(photos: PhotoExamples, count: number, radius: number, seed: number): PhotoExamples {
  const { dim } = photos;
  const rng = new Rng(seed + 17);
  const emb = new Float32Array(count * dim);
  const item = new Int32Array(count);
  const sd = radius / Math.sqrt(dim);
  for (let m = 0; m < count; m++) {
    const a = rng.int(photos.item.length);
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      const g = Math.sqrt(-2 * Math.log(rng.next() + 1e-12)) * Math.cos(2 * Math.PI * rng.next());
      const v = photos.emb[a * dim + j] + sd * g;
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
