import * as tf from '@tensorflow/tfjs';
import { GensearchError } from '../errors.js';
import type { Rng } from '../tensor/rng.js';

/**
 * Parameters are plain nested objects (and arrays, for the blocks of a stack) whose leaves are
 * tensors, e.g. `{ tok: T, blocks: [{ attn: { q: { w: T, b: T } } }] }`. The model functions
 * read them directly; the optimizer, checkpoints and worker threads see the same tree through
 * `flattenParams` as dotted names (`blocks.0.attn.q.w`) in one fixed order.
 */
export type Params = object;

/** A named tensor description: what a checkpoint or a worker needs to rebuild a tree. */
export interface ParamSpec {
  name: string;
  shape: number[];
}

/** The leaves of a parameter tree as [dotted name, tensor], depth first, keys in insertion order. */
export function flattenParams(tree: Params): [string, tf.Tensor][] {
  const out: [string, tf.Tensor][] = [];
  const walk = (node: unknown, prefix: string): void => {
    if (node instanceof tf.Tensor) {
      out.push([prefix, node]);
      return;
    }
    if (node === null || typeof node !== 'object') {
      throw new GensearchError('INTERNAL', `parameter tree has a ${typeof node} at "${prefix}"; expected tensors only`);
    }
    for (const [key, child] of Object.entries(node)) walk(child, prefix ? `${prefix}.${key}` : key);
  };
  walk(tree, '');
  return out;
}

/** The same tree with every leaf replaced by `fn(name, leaf)`; arrays stay arrays. */
export function mapParams<P extends Params>(tree: P, fn: (name: string, t: tf.Tensor) => tf.Tensor): P {
  const walk = (node: unknown, prefix: string): unknown => {
    if (node instanceof tf.Tensor) return fn(prefix, node);
    if (Array.isArray(node)) return node.map((child, i) => walk(child, prefix ? `${prefix}.${i}` : String(i)));
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(node as object)) out[key] = walk(child, prefix ? `${prefix}.${key}` : key);
    return out;
  };
  return walk(tree, '') as P;
}

/** Rebuilds a tree shaped like `template` from tensors in `flattenParams` order. */
export function rebuildParams<P extends Params>(template: P, leaves: readonly tf.Tensor[]): P {
  let i = 0;
  const tree = mapParams(template, (name, t) => {
    const leaf = leaves[i++];
    if (!leaf || leaf.size !== t.size) {
      throw new GensearchError('INTERNAL', `parameter ${name}: expected shape [${t.shape}], got ${leaf ? `[${leaf.shape}]` : 'nothing'}`);
    }
    return leaf;
  });
  if (i !== leaves.length) throw new GensearchError('INTERNAL', `rebuildParams: ${leaves.length} tensors for ${i} parameters`);
  return tree;
}

/**
 * A tree from dotted names in flatten order (numeric segments become array indices): how a
 * worker thread rebuilds the main thread's tree from `paramSpecs` without re-running init.
 */
export function treeFromEntries(entries: readonly [string, tf.Tensor][]): Params {
  const root: Record<string, unknown> = {};
  for (const [name, t] of entries) {
    const parts = name.split('.');
    let node: Record<string, unknown> = root;
    for (let i = 0; i < parts.length - 1; i++) {
      if (node[parts[i]] === undefined) node[parts[i]] = /^\d+$/.test(parts[i + 1]) ? [] : {};
      node = node[parts[i]] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = t;
  }
  return root;
}

/** A tree rebuilt on another thread from `paramSpecs` and `packParams` output (new tensors). */
export function paramsFromPacked(specs: readonly ParamSpec[], data: Float32Array): { params: Params; leaves: tf.Tensor[] } {
  let offset = 0;
  const entries: [string, tf.Tensor][] = specs.map((p) => {
    const size = p.shape.reduce((a, b) => a * b, 1);
    // A copy: `data` may be shared memory that another thread rewrites.
    const t = tf.tensor(data.slice(offset, offset + size), p.shape, 'float32');
    offset += size;
    return [p.name, t];
  });
  if (offset !== data.length) throw new GensearchError('INTERNAL', `paramsFromPacked: ${data.length} floats for ${offset} parameter values`);
  return { params: treeFromEntries(entries), leaves: entries.map(([, t]) => t) };
}

export function paramSpecs(tree: Params): ParamSpec[] {
  return flattenParams(tree).map(([name, t]) => ({ name, shape: t.shape }));
}

export function countParams(tree: Params): number {
  return flattenParams(tree).reduce((n, [, t]) => n + t.size, 0);
}

export function disposeParams(tree: Params): void {
  for (const [, t] of flattenParams(tree)) t.dispose();
}

/**
 * Host copies of every leaf in one Float32Array (flatten order): what checkpoints write and
 * what data-parallel workers share.
 */
export function packParams(tree: Params): Float32Array {
  const leaves = flattenParams(tree);
  const out = new Float32Array(leaves.reduce((n, [, t]) => n + t.size, 0));
  let offset = 0;
  for (const [, t] of leaves) {
    out.set(t.dataSync() as Float32Array, offset);
    offset += t.size;
  }
  return out;
}

/** The inverse of `packParams`: new tensors shaped like `template`'s leaves. */
export function unpackParams<P extends Params>(template: P, data: Float32Array): P {
  let offset = 0;
  const tree = mapParams(template, (_name, t) => {
    const leaf = tf.tensor(data.subarray(offset, offset + t.size), t.shape, 'float32');
    offset += t.size;
    return leaf;
  });
  if (offset !== data.length) {
    throw new GensearchError('INTERNAL', `unpackParams: ${data.length} floats for ${offset} parameter values`);
  }
  return tree;
}

/** N(0, std^2) initialisation, seeded from `rng` (GPT-2 / BERT use std 0.02). */
export function normalInit(rng: Rng, shape: number[], std: number): tf.Tensor {
  return tf.randomNormal(shape, 0, std, 'float32', rng.seed());
}
