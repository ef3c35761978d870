import { join } from 'node:path';
import { readFloat32Blob, readJsonFile, writeFloat32Blob, writeJsonFile } from '../encoders/embfile.js';
import { badInput } from '../errors.js';
import type { FusionWeights } from './keywords/fusion.js';
import type { Keyword } from './keywords/pool.js';
import type { SidLayout } from './layout.js';
import type { Matrix } from './matrix.js';
import type { SidModel } from './model.js';

const MODEL_FORMAT = 'gensearch-sid-model';
const MODEL_FORMAT_VERSION = 1;
const MODEL_FILE = 'model.json';
const FLOATS_FILE = 'model.f32';

interface MatrixRef {
  offset: number;
  rows: number;
  cols: number;
}

/**
 * Saves the codebooks as one Float32 blob (`model.f32`: RQ codebooks, OPQ rotation and
 * sub-codebooks, keyword vectors) and a JSON manifest (`model.json`: layout, offsets, pool,
 * checksum). `extra` is stored under `info` (config, report) for `sids report`.
 */
export function saveSidModel(dir: string, model: SidModel, extra: Record<string, unknown> = {}): string {
  const parts: Matrix[] = [];
  const ref = (m: Matrix): MatrixRef => {
    const offset = parts.reduce((s, p) => s + p.data.length, 0);
    parts.push(m);
    return { offset, rows: m.rows, cols: m.cols };
  };
  const rq = model.rq.map(ref);
  const opq = model.opq && {
    rotation: ref(model.opq.rotation),
    bounds: model.opq.bounds,
    codebooks: model.opq.codebooks.map(ref),
  };
  const keywords = model.keywords && {
    pool: model.keywords.pool,
    weights: model.keywords.weights,
    vectors: ref(model.keywords.vectors),
  };
  const floats = new Float32Array(parts.reduce((s, p) => s + p.data.length, 0));
  let at = 0;
  for (const p of parts) {
    floats.set(p.data, at);
    at += p.data.length;
  }
  const blob = writeFloat32Blob(join(dir, FLOATS_FILE), floats);
  const path = join(dir, MODEL_FILE);
  writeJsonFile(path, {
    format: MODEL_FORMAT,
    formatVersion: MODEL_FORMAT_VERSION,
    layout: model.layout,
    dim: model.dim,
    encoderVersion: model.encoderVersion,
    data: FLOATS_FILE,
    ...blob,
    rq,
    opq,
    keywords,
    info: extra,
  });
  return path;
}

/** Loads what `saveSidModel` wrote; `extra` is what was saved under `info` (config, report). */
export function loadSidModel(dir: string): { model: SidModel; extra: Record<string, unknown> } {
  const path = join(dir, MODEL_FILE);
  const m = readJsonFile(path, 'SID model') as {
    format?: string;
    formatVersion?: number;
    layout: SidLayout;
    dim: number;
    encoderVersion?: string;
    data: string;
    bytes: number;
    checksum: string;
    rq: MatrixRef[];
    opq: { rotation: MatrixRef; bounds: number[]; codebooks: MatrixRef[] } | null;
    keywords: { pool: Keyword[]; weights: FusionWeights; vectors: MatrixRef } | null;
    info?: Record<string, unknown>;
  };
  if (m?.format !== MODEL_FORMAT) throw badInput(`${path} is not a SID model: expected "format": "${MODEL_FORMAT}"`);
  if (m.formatVersion !== MODEL_FORMAT_VERSION) {
    throw badInput(`${path} has format version ${m.formatVersion}; this build reads ${MODEL_FORMAT_VERSION}: run \`gensearch sids build\` again`);
  }
  const floats = readFloat32Blob(join(dir, m.data), { bytes: m.bytes, checksum: m.checksum }, `SID model ${path}`);
  const get = (r: MatrixRef): Matrix => ({
    data: floats.subarray(r.offset, r.offset + r.rows * r.cols),
    rows: r.rows,
    cols: r.cols,
  });
  const { layout, dim, encoderVersion, rq, opq, keywords } = m;
  const model: SidModel = {
    layout,
    dim,
    encoderVersion: encoderVersion ?? '',
    rq: rq.map(get),
    opq: opq && { rotation: get(opq.rotation), bounds: opq.bounds, codebooks: opq.codebooks.map(get) },
    keywords: keywords && { pool: keywords.pool, weights: keywords.weights, vectors: get(keywords.vectors) },
  };
  return { model, extra: m.info ?? {} };
}
