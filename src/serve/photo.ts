import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPhotoSearch, PHOTO_MODEL_FILE, photoModelDir, type PhotoSearch } from '../decode/photo-search.js';
import { GensearchError, notFound } from '../errors.js';
import { SwapSlot } from './model-slot.js';

/** One loaded photo model (`gensearch train-image`), immutable once built. */
export interface ServingPhoto {
  name: string;
  /** The photo catalog it searches (may differ from the served text dataset). */
  dataset: string;
  /** Content hash of photo-model.json: changes with every training. */
  version: string;
  loadedAt: string;
  search: PhotoSearch;
  /** Item id -> the photo model's item index, for user histories. */
  indexOf: Map<string, number>;
}

/** Which photo model a server offers: `required` when it was asked for by name (a missing one is an error then). */
export interface PhotoModelChoice {
  dataset: string;
  name: string;
  required: boolean;
}

/** Loads a photo model fully (encoder, SIDs, generative retriever) before anyone sees it. */
export function loadServingPhoto(home: string, dataset: string, name: string): ServingPhoto {
  const dir = photoModelDir(home, dataset, name);
  const file = join(dir, PHOTO_MODEL_FILE);
  if (!existsSync(file)) throw notFound(`photo model "${name}" of dataset "${dataset}"`, `no ${file}: run \`gensearch train-image --dataset ${dataset} --name ${name}\` first`);
  const version = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
  const search = openPhotoSearch(dir);
  if (search.dataset !== dataset) {
    search.dispose();
    throw new GensearchError('CONFLICT', `${dir} holds a photo model of dataset "${search.dataset}", not "${dataset}"`);
  }
  return { name, dataset, version, loadedAt: new Date().toISOString(), search, indexOf: new Map(search.itemIds.map((id, i) => [id, i])) };
}

/** The served photo model, swappable like the text model; null when none is there and none was asked for. */
export function openPhotoSlot(home: string, choice: PhotoModelChoice): SwapSlot<ServingPhoto> | null {
  if (!choice.required && !existsSync(join(photoModelDir(home, choice.dataset, choice.name), PHOTO_MODEL_FILE))) return null;
  return photoSlot(loadServingPhoto(home, choice.dataset, choice.name));
}

export function photoSlot(initial: ServingPhoto): SwapSlot<ServingPhoto> {
  return new SwapSlot(initial, (p) => p.search.dispose());
}
