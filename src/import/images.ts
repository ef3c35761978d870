/**
 * A catalog of photos: a folder holding one image file per item (item id = file name without
 * extension) and/or one sub-folder per item (item id = folder name; every image inside is a
 * photo of it, e.g. several angles). Items keep their photo paths in `attributes.images` (a
 * JSON list), so the image encoder and VRQ read them back from the store.
 */
import { readdirSync, statSync } from 'node:fs';
import { basename, extname, join, resolve } from 'node:path';
import { badInput, notFound } from '../errors.js';
import type { ItemRecord, Store } from '../store/types.js';
import { checkImageFile } from './coil.js';
import { type ImportOptions, type ImportResult, writeImport } from './common.js';

const IMAGE_EXT = new Set(['.png', '.jpg', '.jpeg']);

/** Photo paths of an item as stored by the image importers ([] when it has none). */
export function itemImages(item: ItemRecord): string[] {
  const raw = item.attributes.images;
  if (typeof raw !== 'string') return [];
  const list = JSON.parse(raw) as unknown;
  if (!Array.isArray(list) || list.some((p) => typeof p !== 'string')) throw badInput(`item ${item.id}: attributes.images must be a JSON list of paths`);
  return list as string[];
}

export function importImageCatalog(store: Store, dir: string, options: ImportOptions = {}): ImportResult {
  let entries: string[];
  try {
    entries = readdirSync(dir).sort();
  } catch {
    throw notFound(`image catalog folder ${dir}`, 'give a folder of image files or of one sub-folder per item');
  }
  const items: ItemRecord[] = [];
  const isImage = (name: string) => IMAGE_EXT.has(extname(name).toLowerCase());
  for (const name of entries) {
    const path = resolve(dir, name);
    let photos: string[];
    let id: string;
    if (statSync(path).isDirectory()) {
      photos = readdirSync(path).sort().filter(isImage).map((f) => join(path, f));
      id = name;
    } else if (isImage(name)) {
      photos = [path];
      id = basename(name, extname(name));
    } else {
      continue;
    }
    if (photos.length === 0) continue;
    photos.forEach(checkImageFile);
    items.push({ id, title: id, brand: null, categories: [], price: null, attributes: { images: JSON.stringify(photos) } });
  }
  const seen = new Set<string>();
  for (const it of items) {
    if (seen.has(it.id)) throw badInput(`${dir}: item id "${it.id}" appears twice (a file and a folder, or two extensions)`);
    seen.add(it.id);
  }
  if (items.length === 0) throw badInput(`${dir} holds no .png/.jpg/.jpeg images nor sub-folders with images`);
  return writeImport(store, options.dataset ?? 'images', options.replace ?? false, { source: `images:${resolve(dir)}`, items, users: [], events: [] });
}
