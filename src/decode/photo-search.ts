import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NearestView } from '../baselines/nearest-view.js';
import { type BackbonePool, type ImageEncoder, loadEncoder } from '../encoders/image-encoder.js';
import { badInput, GensearchError, notFound } from '../errors.js';
import { decodeImage, type RgbImage, squarePixels } from '../import/image.js';
import { type GenerativeConfig, generativeObjective, type GenerativeParams } from '../model/generative.js';
import { disposeParams } from '../model/params.js';
import { codesToTokens, type SidLayout, sidWidth, tokenName } from '../sids/layout.js';
import { SidTrie } from '../sids/trie.js';
import { type PackContext, packContext } from '../tasks/prompt.js';
import { photoPrompt } from '../tasks/photo.js';
import type { Objective } from '../tensor/objective.js';
import { loadTrainedParams } from '../tensor/trainer.js';
import { generateItems } from './generate.js';

/**
 * Photo search as a library call: a photo model folder (written by `gensearch eval-image` or
 * `savePhotoModel`) holds the image encoder, the VRQ SIDs of the catalog, the photo-conditioned
 * generative retriever and the catalog photo embeddings (the nearest-view fallback).
 */
export const PHOTO_MODEL_FILE = 'photo-model.json';
const FORMAT = 'gensearch-photo-1';

export interface PhotoModelFile {
  format: typeof FORMAT;
  dataset: string;
  itemIds: string[];
  titles: (string | null)[];
  /** VRQ layout and nItems x width codes. */
  sids: { layout: SidLayout; codes: number[] };
  /** Catalog photo embeddings (row-major) and each photo's item. */
  catalog: { emb: number[]; item: number[] };
  /** The photo-conditioned generative model (its last stage's trainer folder), if trained. */
  generative: { cfg: GenerativeConfig; dir: string } | null;
}

export function savePhotoModel(dir: string, file: Omit<PhotoModelFile, 'format'>): void {
  writeFileSync(join(dir, PHOTO_MODEL_FILE), JSON.stringify({ format: FORMAT, ...file }));
}

export const ENCODER_DIR = 'encoder';

/** Where a photo model of a dataset lives under the working folder (`eval-image` writes <set>/<catalog>). */
export function photoModelDir(home: string, dataset: string, name: string): string {
  return join(home, 'photo', dataset, name);
}

/** An open photo model: load once, search many times. */
export interface PhotoSearch {
  dataset: string;
  itemIds: string[];
  titles: (string | null)[];
  /** The items' VRQ SIDs as global tokens (nItems x width). */
  sids: { layout: SidLayout; tokens: Int32Array; width: number };
  encoder: ImageEncoder;
  nearest: NearestView;
  generative: { params: GenerativeParams; cfg: GenerativeConfig; pack: PackContext; trie: SidTrie } | null;
  dispose(): void;
}

/** Opens the photo model in `dir`; a pool shares backbones (and their feature caches) with other models. */
export async function openPhotoSearch(dir: string, pool?: BackbonePool): Promise<PhotoSearch> {
  const path = join(dir, PHOTO_MODEL_FILE);
  if (!existsSync(path)) throw notFound(`photo model ${dir}`, `no ${PHOTO_MODEL_FILE} there: train one with gensearch eval-image (or pass --name)`);
  const file = JSON.parse(readFileSync(path, 'utf8')) as PhotoModelFile;
  if (file.format !== FORMAT) throw new GensearchError('CONFLICT', `${path} has format ${String(file.format)}; this version reads ${FORMAT}: train again`);
  const encoder = await loadEncoder(join(dir, ENCODER_DIR), pool);
  const nearest = new NearestView(Float32Array.from(file.catalog.emb), Int32Array.from(file.catalog.item), encoder.dim);
  const itemTokens = codesToTokens(file.sids.layout, Int32Array.from(file.sids.codes));
  let generative: PhotoSearch['generative'] = null;
  if (file.generative) {
    const cfg = file.generative.cfg;
    const { params } = loadTrainedParams(generativeObjective(cfg) as Objective, join(dir, file.generative.dir));
    generative = { params: params as GenerativeParams, cfg, pack: packContext(cfg, itemTokens), trie: new SidTrie(itemTokens, cfg.sidSizes.length) };
  }
  return {
    dataset: file.dataset,
    itemIds: file.itemIds,
    titles: file.titles,
    sids: { layout: file.sids.layout, tokens: itemTokens, width: sidWidth(file.sids.layout) },
    encoder,
    nearest,
    generative,
    dispose() {
      encoder.dispose();
      if (generative) disposeParams(generative.params);
    },
  };
}

export interface SearchImageOptions {
  /** Items to return (default 10). */
  k?: number;
  /** 'generative' (default when the model has one): photo -> SIDs by constrained beam search; 'nearest': nearest catalog photo. */
  method?: 'generative' | 'nearest';
  /** Beam width (default 10). */
  beam?: number;
  /** Dynamic pruning margin in nats (default off). */
  pruneMargin?: number;
  /** The user's items (dense indices, oldest first), when known. */
  history?: Int32Array;
}

export interface PhotoHit {
  rank: number;
  id: string;
  title: string | null;
  /** The item's VRQ SID in the paper spelling, e.g. <a_1><b_3><c_0>. */
  sid: string;
  /** Log-probability of the SID (generative) or cosine similarity (nearest). */
  score: number;
}

export interface PhotoSearchResult {
  method: 'generative' | 'nearest';
  items: PhotoHit[];
  seconds: number;
}

/** Ranked items for one photo: PNG or JPEG bytes (other bytes give a BAD_INPUT error), or a decoded image. */
export async function searchPhoto(model: PhotoSearch, image: Uint8Array | RgbImage, opts: SearchImageOptions = {}): Promise<PhotoSearchResult> {
  const start = performance.now();
  const k = opts.k ?? 10;
  if (!Number.isInteger(k) || k < 1) throw badInput(`k must be a positive integer; got ${k}`);
  const method = opts.method ?? (model.generative ? 'generative' : 'nearest');
  const { encoder } = model;
  const emb = encoder.embed([squarePixels(image instanceof Uint8Array ? decodeImage(image, 'the uploaded photo') : image, encoder.size)]);
  let items: Int32Array;
  let scores: Float32Array;
  if (method === 'nearest') {
    ({ items, scores } = model.nearest.search(emb, k));
  } else {
    const g = model.generative;
    if (!g) throw badInput('this photo model has no generative retriever; use method "nearest" or train one');
    const { lists } = await generateItems({ params: g.params, cfg: g.cfg }, g.pack, g.trie, [photoPrompt(emb, opts.history)], {
      beam: Math.max(opts.beam ?? 10, 1),
      k,
      pruneMargin: opts.pruneMargin,
    });
    ({ items, scores } = lists[0]);
  }
  const hits = Array.from(items, (it, i) => ({ rank: i + 1, id: model.itemIds[it], title: model.titles[it], sid: photoSid(model, it), score: scores[i] }));
  return { method, items: hits, seconds: (performance.now() - start) / 1000 };
}

function photoSid(model: PhotoSearch, item: number): string {
  const { layout, tokens, width } = model.sids;
  return Array.from(tokens.subarray(item * width, (item + 1) * width), (t) => tokenName(layout, t)).join('');
}

/**
 * One-shot photo search: opens the model in `modelDir`, answers, closes it. A server should
 * `openPhotoSearch` once and call `searchPhoto` per request.
 */
export async function searchImage(modelDir: string, imageBytes: Uint8Array, opts: SearchImageOptions = {}): Promise<PhotoSearchResult> {
  const model = await openPhotoSearch(modelDir);
  try {
    return await searchPhoto(model, imageBytes, opts);
  } finally {
    model.dispose();
  }
}
