import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openPhotoSearch, PHOTO_MODEL_FILE, photoModelDir, type PhotoSearch, searchPhoto } from '../decode/photo-search.js';
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

/** Loads a photo model fully (encoder, SIDs, generative retriever) and warms it up before anyone sees it. */
export async function loadServingPhoto(home: string, dataset: string, name: string): Promise<ServingPhoto> {
  const dir = photoModelDir(home, dataset, name);
  const file = join(dir, PHOTO_MODEL_FILE);
  if (!existsSync(file)) throw notFound(`photo model "${name}" of dataset "${dataset}"`, `no ${file}: run \`gensearch train-image --dataset ${dataset} --name ${name}\` first`);
  const version = createHash('sha256').update(readFileSync(file)).digest('hex').slice(0, 12);
  const search = await openPhotoSearch(dir);
  if (search.dataset !== dataset) {
    search.dispose();
    throw new GensearchError('CONFLICT', `${dir} holds a photo model of dataset "${search.dataset}", not "${dataset}"`);
  }
  // One search on a gray square: the first real upload would otherwise pay for the backend's
  // first calls at these shapes.
  const side = search.encoder.size;
  const gray = { width: side, height: side, gray: true, rgb: new Uint8Array(side * side * 3).fill(128) };
  try {
    await searchPhoto(search, gray, { k: 1 });
  } catch (error) {
    search.dispose();
    throw error;
  }
  return { name, dataset, version, loadedAt: new Date().toISOString(), search, indexOf: new Map(search.itemIds.map((id, i) => [id, i])) };
}

/** The served photo model, swappable like the text model; null when none is there and none was asked for. */
export async function openPhotoSlot(home: string, choice: PhotoModelChoice): Promise<SwapSlot<ServingPhoto> | null> {
  if (!choice.required && !existsSync(join(photoModelDir(home, choice.dataset, choice.name), PHOTO_MODEL_FILE))) return null;
  return photoSlot(await loadServingPhoto(home, choice.dataset, choice.name));
}

export function photoSlot(initial: ServingPhoto): SwapSlot<ServingPhoto> {
  return new SwapSlot(initial, (p) => p.search.dispose());
}
