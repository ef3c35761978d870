import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { badInput, GensearchError, notFound } from '../errors.js';

/**
 * Compact float files: raw Float32 little-endian rows in `<name>.f32` beside a JSON manifest
 * `<name>.json` that says what the rows are, how many, and the SHA-256 of the bytes, so a
 * truncated copy or a file from another model is caught on read, not after a silent misrank.
 */

export const EMBEDDINGS_FORMAT = 'gensearch-embeddings';
export const EMBEDDINGS_FORMAT_VERSION = 1;

/** Rows of vectors keyed by id: items, queries, words. */
export interface Embeddings {
  ids: string[];
  dim: number;
  /** ids.length x dim, row-major. */
  data: Float32Array;
}

export interface EmbeddingsManifest {
  format: typeof EMBEDDINGS_FORMAT;
  formatVersion: number;
  dtype: 'float32';
  byteOrder: 'little';
  dim: number;
  count: number;
  /** Version of the model that produced the rows (empty when none did, e.g. word vectors). */
  modelVersion: string;
  /** File name of the binary, relative to the manifest's folder. */
  data: string;
  bytes: number;
  /** `sha256:<hex>` of the binary. */
  checksum: string;
  ids: string[];
}

export interface WriteEmbeddingsOptions {
  modelVersion?: string;
}

/** Manifest path for a path given as the manifest, the binary or the bare name. */
export function manifestPath(path: string): string {
  if (path.endsWith('.json')) return path;
  if (path.endsWith('.f32')) return path.slice(0, -4) + '.json';
  return path + '.json';
}

function sha256(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

/** The bytes of a Float32Array in little-endian order (every platform Node runs on is LE). */
function float32Bytes(data: Float32Array): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Writes through a temporary name and renames, so readers never see half a file. */
function writeAtomic(path: string, bytes: Uint8Array | string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/** Writes a Float32 blob and returns what a manifest records about it. */
export function writeFloat32Blob(path: string, data: Float32Array): { bytes: number; checksum: string } {
  const bytes = float32Bytes(data);
  writeAtomic(path, bytes);
  return { bytes: bytes.byteLength, checksum: sha256(bytes) };
}

/**
 * Reads a Float32 blob and checks it against its manifest's size and checksum. `what` names
 * the manifest in errors so the user knows which artifact to rebuild.
 */
export function readFloat32Blob(path: string, expected: { bytes: number; checksum: string }, what: string): Float32Array {
  if (!existsSync(path)) throw notFound(`data file ${path}`, `${what} names it; rebuild the artifact`);
  const buf = readFileSync(path);
  if (buf.byteLength !== expected.bytes) {
    throw badInput(
      `${path} has ${buf.byteLength} bytes but ${what} expects ${expected.bytes}; the file is truncated or from another run: rebuild it`,
    );
  }
  const checksum = sha256(buf);
  if (checksum !== expected.checksum) {
    throw badInput(`${path} checksum ${checksum} does not match ${expected.checksum} in ${what}; the file is corrupt: rebuild it`);
  }
  // Copy into an aligned buffer: Buffer slices may start at any byte offset.
  const out = new Float32Array(buf.byteLength / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

/** Reads and parses a JSON manifest, with the file named in every error. */
export function readJsonFile(path: string, what: string): unknown {
  if (!existsSync(path)) throw notFound(`${what} ${path}`);
  const text = readFileSync(path, 'utf8');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw badInput(`${path} is not valid JSON (${(error as Error).message}); expected a ${what}: rebuild it`);
  }
}

export function writeJsonFile(path: string, value: unknown): void {
  writeAtomic(path, JSON.stringify(value, null, 1) + '\n');
}

/** Writes `<name>.f32` and `<name>.json`; returns the manifest path. */
export function writeEmbeddings(path: string, emb: Embeddings, options: WriteEmbeddingsOptions = {}): string {
  checkShape(emb, 'writeEmbeddings');
  const manifest = manifestPath(path);
  const dataName = basename(manifest).replace(/\.json$/, '.f32');
  const blob = writeFloat32Blob(join(dirname(manifest), dataName), emb.data);
  const m: EmbeddingsManifest = {
    format: EMBEDDINGS_FORMAT,
    formatVersion: EMBEDDINGS_FORMAT_VERSION,
    dtype: 'float32',
    byteOrder: 'little',
    dim: emb.dim,
    count: emb.ids.length,
    modelVersion: options.modelVersion ?? '',
    data: dataName,
    bytes: blob.bytes,
    checksum: blob.checksum,
    ids: emb.ids,
  };
  writeJsonFile(manifest, m);
  return manifest;
}

export interface ReadEmbeddings extends Embeddings {
  modelVersion: string;
}

/** Reads embeddings written by `writeEmbeddings`, validating manifest, size and checksum. */
export function readEmbeddings(path: string): ReadEmbeddings {
  const mPath = manifestPath(path);
  const m = readJsonFile(mPath, 'embeddings manifest') as Partial<EmbeddingsManifest>;
  const what = `manifest ${mPath}`;
  if (m === null || typeof m !== 'object' || m.format !== EMBEDDINGS_FORMAT) {
    throw badInput(`${mPath} is not an embeddings manifest: expected "format": "${EMBEDDINGS_FORMAT}"`);
  }
  if (m.formatVersion !== EMBEDDINGS_FORMAT_VERSION) {
    throw badInput(
      `${mPath} has format version ${m.formatVersion}; this build reads version ${EMBEDDINGS_FORMAT_VERSION}: rebuild the embeddings`,
    );
  }
  if (m.dtype !== 'float32' || m.byteOrder !== 'little') {
    throw badInput(`${mPath} declares ${m.dtype}/${m.byteOrder}; only float32/little is supported`);
  }
  if (!Number.isInteger(m.dim) || (m.dim as number) < 1 || !Number.isInteger(m.count) || !Array.isArray(m.ids)) {
    throw badInput(`${mPath} lacks a valid dim, count or ids list; rebuild the embeddings`);
  }
  if (m.ids.length !== m.count) throw badInput(`${mPath} lists ${m.ids.length} ids but count is ${m.count}`);
  if (typeof m.data !== 'string' || typeof m.checksum !== 'string' || typeof m.bytes !== 'number') {
    throw badInput(`${mPath} lacks data, bytes or checksum; rebuild the embeddings`);
  }
  const expectedBytes = m.count * (m.dim as number) * 4;
  if (m.bytes !== expectedBytes) {
    throw badInput(`${mPath} says ${m.bytes} bytes, but ${m.count} rows x ${m.dim} floats need ${expectedBytes}`);
  }
  const data = readFloat32Blob(join(dirname(mPath), m.data), { bytes: m.bytes, checksum: m.checksum }, what);
  return { ids: m.ids, dim: m.dim as number, data, modelVersion: m.modelVersion ?? '' };
}

function checkShape(emb: Embeddings, where: string): void {
  if (!Number.isInteger(emb.dim) || emb.dim < 1) throw badInput(`${where}: dim must be a positive integer, got ${emb.dim}`);
  if (emb.data.length !== emb.ids.length * emb.dim) {
    throw new GensearchError(
      'INTERNAL',
      `${where}: ${emb.ids.length} ids x dim ${emb.dim} = ${emb.ids.length * emb.dim} floats, but data has ${emb.data.length}`,
    );
  }
}
