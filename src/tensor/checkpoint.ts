import { createHash } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { GensearchError, notFound } from '../errors.js';

/**
 * Checkpoints: one Float32 binary with every tensor back to back, plus a JSON manifest that
 * names the binary, its size and SHA-256, every tensor's place and shape, and free-form
 * metadata (step, optimizer and RNG state, config hash, ...).
 *
 * Atomicity: each file is written to a temporary name, flushed, then renamed over its final
 * name; the manifest goes last. A kill at any moment leaves either the old checkpoint or the new
 * one: a binary without a manifest is never read, and a manifest whose binary does not match its
 * checksum is rejected. "best" is a second manifest pointing at the binary of the best step.
 */
export const CHECKPOINT_FORMAT = 'gensearch-checkpoint/1';

export interface NamedArray {
  name: string;
  shape: number[];
  data: Float32Array;
}

export interface CheckpointManifest<M = Record<string, unknown>> {
  format: typeof CHECKPOINT_FORMAT;
  /** File name of the binary, in the same folder. */
  weights: string;
  bytes: number;
  sha256: string;
  tensors: { name: string; shape: number[]; offset: number }[];
  meta: M;
  writtenAt: string;
}

export interface Checkpoint<M = Record<string, unknown>> {
  manifest: CheckpointManifest<M>;
  /** By name, in the order they were saved. */
  tensors: Map<string, NamedArray>;
}

/** Writes `data` to `path` so that readers only ever see the old or the complete new file. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

const STEP_NAME = /^ckpt-(\d+)\.json$/;

export function stepCheckpointName(step: number): string {
  return `ckpt-${String(step).padStart(9, '0')}`;
}

/**
 * Saves tensors + metadata as `<name>.bin` + `<name>.json` in `dir`. With `alsoAs`, further
 * manifests (e.g. "best") point at the same binary.
 */
export function saveCheckpoint<M>(dir: string, name: string, arrays: readonly NamedArray[], meta: M, alsoAs: string[] = []): CheckpointManifest<M> {
  mkdirSync(dir, { recursive: true });
  const total = arrays.reduce((n, a) => n + a.data.length, 0);
  const all = new Float32Array(total);
  const tensors: CheckpointManifest['tensors'] = [];
  let offset = 0;
  for (const a of arrays) {
    const size = a.shape.reduce((p, d) => p * d, 1);
    if (size !== a.data.length) {
      throw new GensearchError('INTERNAL', `checkpoint tensor ${a.name}: shape [${a.shape}] holds ${size} values, data has ${a.data.length}`);
    }
    all.set(a.data, offset);
    tensors.push({ name: a.name, shape: a.shape, offset });
    offset += a.data.length;
  }
  const bytes = new Uint8Array(all.buffer, all.byteOffset, all.byteLength);
  const weights = `${name}.bin`;
  writeFileAtomic(join(dir, weights), bytes);
  const manifest: CheckpointManifest<M> = {
    format: CHECKPOINT_FORMAT,
    weights,
    bytes: bytes.byteLength,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    tensors,
    meta,
    writtenAt: new Date().toISOString(),
  };
  const text = JSON.stringify(manifest);
  writeFileAtomic(join(dir, `${name}.json`), text);
  for (const other of alsoAs) writeFileAtomic(join(dir, `${other}.json`), text);
  return manifest;
}

/** Reads and verifies a checkpoint by manifest name ("best", "ckpt-000000120", ...). */
export function loadCheckpoint<M = Record<string, unknown>>(dir: string, name: string): Checkpoint<M> {
  const manifestPath = join(dir, `${name}.json`);
  if (!existsSync(manifestPath)) throw notFound(`checkpoint ${manifestPath}`, 'train first, or check --out / --home');
  let manifest: CheckpointManifest<M>;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as CheckpointManifest<M>;
  } catch (e) {
    throw new GensearchError('BAD_INPUT', `checkpoint manifest is not JSON (${(e as Error).message}); delete it to fall back to an older one`, manifestPath);
  }
  if (manifest.format !== CHECKPOINT_FORMAT) {
    throw new GensearchError('BAD_INPUT', `expected format "${CHECKPOINT_FORMAT}", found "${manifest.format}"`, manifestPath);
  }
  const binPath = join(dir, manifest.weights);
  if (!existsSync(binPath)) throw new GensearchError('BAD_INPUT', `its weights file ${manifest.weights} is missing`, manifestPath);
  const buf = readFileSync(binPath);
  const sha = createHash('sha256').update(buf).digest('hex');
  if (buf.byteLength !== manifest.bytes || sha !== manifest.sha256) {
    throw new GensearchError(
      'BAD_INPUT',
      `weights file ${manifest.weights} does not match the manifest (${buf.byteLength} bytes, sha256 ${sha.slice(0, 12)}; expected ${manifest.bytes} bytes, ${manifest.sha256.slice(0, 12)}); the checkpoint is damaged, delete it`,
      manifestPath,
    );
  }
  // Copy into an aligned buffer: a Buffer from readFileSync may start at any byte offset.
  const all = new Float32Array(new Uint8Array(buf).buffer);
  const tensors = new Map<string, NamedArray>();
  for (const t of manifest.tensors) {
    const size = t.shape.reduce((p, d) => p * d, 1);
    tensors.set(t.name, { name: t.name, shape: t.shape, data: all.subarray(t.offset, t.offset + size) });
  }
  return { manifest, tensors };
}

/** Step checkpoints in `dir` with a manifest, newest first (not verified). */
export function listStepCheckpoints(dir: string): { name: string; step: number }[] {
  if (!existsSync(dir)) return [];
  const out: { name: string; step: number }[] = [];
  for (const file of readdirSync(dir)) {
    const m = STEP_NAME.exec(file);
    if (m) out.push({ name: file.slice(0, -'.json'.length), step: Number(m[1]) });
  }
  return out.sort((a, b) => b.step - a.step);
}

/**
 * The newest step checkpoint that verifies, or undefined. A damaged one (which atomic writes
 * should never leave, but disks fail) is reported through `warn` and skipped.
 */
export function latestCheckpoint<M>(dir: string, warn: (msg: string) => void = () => {}): Checkpoint<M> | undefined {
  for (const { name } of listStepCheckpoints(dir)) {
    try {
      return loadCheckpoint<M>(dir, name);
    } catch (e) {
      warn(`skipping checkpoint ${name}: ${(e as Error).message}`);
    }
  }
  return undefined;
}

/**
 * Deletes step checkpoints beyond the newest `keep`, sparing any binary another manifest
 * (e.g. "best") points at, and leftovers of writes that were killed.
 */
export function pruneCheckpoints(dir: string, keep: number): void {
  const steps = listStepCheckpoints(dir);
  const referenced = new Set<string>();
  for (const file of readdirSync(dir)) {
    if (!file.endsWith('.json') || STEP_NAME.test(file)) continue;
    try {
      const m = JSON.parse(readFileSync(join(dir, file), 'utf8')) as Partial<CheckpointManifest>;
      if (m.format === CHECKPOINT_FORMAT && m.weights) referenced.add(m.weights);
    } catch {
      // Not ours, or unreadable: it references nothing we must keep.
    }
  }
  for (const { name } of steps.slice(keep)) {
    rmSync(join(dir, `${name}.json`), { force: true });
    if (!referenced.has(`${name}.bin`)) rmSync(join(dir, `${name}.bin`), { force: true });
  }
  const kept = new Set(steps.slice(0, keep).map((s) => `${s.name}.bin`));
  for (const file of readdirSync(dir)) {
    if (file.includes('.tmp-')) rmSync(join(dir, file), { force: true });
    else if (STEP_NAME.test(file.replace(/\.bin$/, '.json')) && file.endsWith('.bin') && !kept.has(file) && !referenced.has(file)) {
      rmSync(join(dir, file), { force: true });
    }
  }
}
