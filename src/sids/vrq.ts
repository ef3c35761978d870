import { badInput } from '../errors.js';
import type { Tf } from '../tensor/runtime.js';
import type { SidLayout } from './layout.js';
import { type Matrix, matrix, normalizeRows } from './matrix.js';
import { encodeRq, trainRq } from './rq.js';

/**
 * VRQ, vision-aligned residual quantization (OneVision): an item has many photos but one SID.
 * The shallow levels are residual k-means codes of the item's mean photo embedding (the
 * normalised mean of its views), so every view of the item shares them; the last level
 * numbers the items that share a shallow cell (0, 1, ... in catalog order), so the full SID
 * keeps items apart (ICR 100% by construction). Because the encoder was trained to pull views
 * of an item together, a new photo's own embedding usually quantizes to its item's shallow
 * codes: `shallowAgreement` measures how often.
 */
export interface VrqConfig {
  /** Shallow codebook sizes (capped at the number of items), e.g. [4, 4]. */
  levels: number[];
  seed: number;
  iterations?: number;
}

export interface VrqModel {
  layout: SidLayout;
  /** Shallow-level codebooks (RQ over item means). */
  codebooks: Matrix[];
  /** nItems x width codes (shallow levels, then the separating level). */
  codes: Int32Array;
}

/** Unit mean embedding of each item's photos: [nItems, dim]. */
export function itemMeans(viewEmb: Matrix, viewItem: Int32Array, nItems: number): Matrix {
  const d = viewEmb.cols;
  const sum = new Float32Array(nItems * d);
  const count = new Int32Array(nItems);
  viewItem.forEach((it, v) => {
    if (!(it >= 0 && it < nItems)) throw badInput(`view ${v} belongs to item ${it}; items are 0..${nItems - 1}`);
    count[it]++;
    for (let j = 0; j < d; j++) sum[it * d + j] += viewEmb.data[v * d + j];
  });
  const empty = count.findIndex((c) => c === 0);
  if (empty >= 0) throw badInput(`item ${empty} has no photo: every catalog item needs at least one`);
  return normalizeRows(matrix(sum, nItems, d));
}

export function buildVrq(tf: Tf, viewEmb: Matrix, viewItem: Int32Array, nItems: number, config: VrqConfig): VrqModel {
  if (nItems < 2) throw badInput(`VRQ needs at least 2 items; got ${nItems}`);
  const levels = config.levels.map((k) => Math.min(k, nItems));
  const means = itemMeans(viewEmb, viewItem, nItems);
  const rq = trainRq(tf, means, { levels, seed: config.seed, iterations: config.iterations });
  const L = levels.length;
  const width = L + 1;
  const codes = new Int32Array(nItems * width);
  const taken = new Map<string, number>();
  let deepest = 1;
  for (let i = 0; i < nItems; i++) {
    const shallow = rq.codes.subarray(i * L, (i + 1) * L);
    const key = shallow.join(',');
    const n = taken.get(key) ?? 0;
    taken.set(key, n + 1);
    deepest = Math.max(deepest, n + 1);
    codes.set(shallow, i * width);
    codes[i * width + L] = n;
  }
  return { layout: { levels: [...levels, deepest], opq: null }, codebooks: rq.codebooks, codes };
}

/**
 * For photos with known items: the share whose own embedding quantizes to its item's level-1
 * code, and to its level-1 and level-2 codes (the property VRQ is built for).
 */
export function shallowAgreement(tf: Tf, model: VrqModel, emb: Matrix, item: Int32Array): { level1: number; level12: number } {
  const { codes } = encodeRq(tf, model.codebooks, emb);
  const L = model.codebooks.length;
  const width = L + 1;
  let l1 = 0;
  let l12 = 0;
  for (let q = 0; q < emb.rows; q++) {
    const own = item[q] * width;
    if (codes[q * L] !== model.codes[own]) continue;
    l1++;
    if (L < 2 || codes[q * L + 1] === model.codes[own + 1]) l12++;
  }
  return { level1: l1 / emb.rows, level12: l12 / emb.rows };
}
