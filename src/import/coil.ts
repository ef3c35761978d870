/**
 * COIL multi-view photos (../shared/data/coil; README there): turntable views every 5 degrees,
 * 72 per object. COIL-20 (`coil20/objN__V.png`, V = view index, angle = 5 V) is grayscale
 * without names; the COIL-100 subset (`coil100-subset/objN__A.png`, A = angle) is colour, named
 * in coil100_subset_labels.tsv. The protocol: a catalog of views at multiples of 30 degrees
 * (or 90 degrees, or the 0-degree view alone); every other view is a query ("user photo").
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { badRow, GensearchError, notFound } from '../errors.js';
import type { ItemRecord, Store } from '../store/types.js';
import { type ImportOptions, type ImportResult, readText, writeImport } from './common.js';
import { sniffImageFormat } from './image.js';

export const COIL_SETS = ['coil20', 'coil100'] as const;
export type CoilSet = (typeof COIL_SETS)[number];

/** Catalog variants: which angles are catalog photos. Everything else is a query. */
export const COIL_CATALOGS = ['30', '90', 'one'] as const;
export type CoilCatalog = (typeof COIL_CATALOGS)[number];

export function isCatalogAngle(catalog: CoilCatalog, angle: number): boolean {
  return catalog === 'one' ? angle === 0 : angle % Number(catalog) === 0;
}

export interface CoilView {
  /** Object number as in the file name. */
  object: number;
  /** Turntable angle in degrees (0, 5, ..., 355). */
  angle: number;
  path: string;
}

export interface CoilObject {
  object: number;
  /** Item id in the store: `obj<N>`. */
  id: string;
  /** Name from the labels file, or null (COIL-20 has none). */
  label: string | null;
  /** All 72 views, by angle. */
  views: CoilView[];
}

const SET_FOLDERS: Record<CoilSet, { folder: string; angleOf: (n: number) => number; title: string }> = {
  coil20: { folder: 'coil20', angleOf: (v) => 5 * v, title: 'COIL-20' },
  coil100: { folder: 'coil100-subset', angleOf: (a) => a, title: 'COIL-100' },
};
const LABELS = 'coil100_subset_labels.tsv';
const VIEWS_PER_OBJECT = 72;

/** The objects of one set with all their views, checked complete (72 views, 5 degrees apart). */
export function coilObjects(dir: string, set: CoilSet): CoilObject[] {
  const spec = SET_FOLDERS[set];
  const folder = join(dir, spec.folder);
  if (!existsSync(folder)) throw notFound(`COIL folder ${folder}`, `expected ${spec.folder}/ inside ${dir} (see its README)`);
  const labels = set === 'coil100' ? readLabels(join(dir, LABELS)) : new Map<number, string>();
  const byObject = new Map<number, CoilView[]>();
  for (const name of readdirSync(folder).sort()) {
    const m = /^obj(\d+)__(\d+)\.png$/.exec(name);
    if (!m) continue;
    const object = Number(m[1]);
    const angle = spec.angleOf(Number(m[2]));
    const views = byObject.get(object) ?? [];
    views.push({ object, angle, path: join(folder, name) });
    byObject.set(object, views);
  }
  if (byObject.size === 0) throw new GensearchError('BAD_INPUT', `no objN__K.png files in ${folder}`);
  return [...byObject.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([object, views]) => {
      views.sort((a, b) => a.angle - b.angle);
      const complete = views.length === VIEWS_PER_OBJECT && views.every((v, i) => v.angle === 5 * i);
      if (!complete) {
        throw new GensearchError('BAD_INPUT', `${folder}: object ${object} has ${views.length} views; expected ${VIEWS_PER_OBJECT}, one every 5 degrees`);
      }
      return { object, id: `obj${object}`, label: labels.get(object) ?? null, views };
    });
}

function readLabels(path: string): Map<number, string> {
  const out = new Map<number, string>();
  readText(path, 'COIL-100 labels (object<TAB>label)')
    .split('\n')
    .forEach((line, i) => {
      if (i === 0 || line.trim() === '') return;
      const [object, label] = line.split('\t');
      if (!/^\d+$/.test(object ?? '') || !label?.trim()) throw badRow(path, i + 1, `expected "object<TAB>label", got "${line}"`);
      out.set(Number(object), label.trim());
    });
  return out;
}

export interface CoilImportOptions extends ImportOptions {
  set: CoilSet;
  /** Which views become catalog photos (default '30'). */
  catalog?: CoilCatalog;
}

/**
 * One item per object with its catalog views as photos: `attributes.images` and
 * `attributes.angles` hold JSON lists (paths, degrees); the title is the object's name where
 * the labels file has one. Query views stay out of the store: they are the test photos.
 */
export function importCoil(store: Store, dir: string, options: CoilImportOptions): ImportResult {
  const catalog = options.catalog ?? '30';
  const spec = SET_FOLDERS[options.set];
  const items: ItemRecord[] = coilObjects(dir, options.set).map((o) => {
    const views = o.views.filter((v) => isCatalogAngle(catalog, v.angle));
    for (const v of views) checkImageFile(v.path);
    return {
      id: o.id,
      title: o.label ?? `${spec.title} object ${o.object}`,
      brand: null,
      categories: [[spec.title]],
      price: null,
      attributes: { images: JSON.stringify(views.map((v) => v.path)), angles: JSON.stringify(views.map((v) => v.angle)), catalog },
    };
  });
  return writeImport(store, options.dataset ?? options.set, options.replace ?? false, {
    source: `coil-${options.set}:${resolve(dir)}`,
    items,
    users: [],
    events: [],
  });
}

/** Reads the first bytes of a photo: PNG or JPEG, or a BAD_INPUT error naming the file. */
export function checkImageFile(path: string): void {
  const format = sniffImageFormat(readFileSync(path).subarray(0, 16));
  if (format !== 'png' && format !== 'jpeg') throw new GensearchError('BAD_INPUT', `${path}: not a PNG or JPEG image`);
}
