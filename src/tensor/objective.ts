import * as tf from '@tensorflow/tfjs';
import { GensearchError } from '../errors.js';
import { type ForwardContext, forwardContext } from '../model/layers.js';
import { flattenParams, type Params, rebuildParams } from '../model/params.js';
import type { Rng } from './rng.js';

/**
 * The contract between a model and the trainer. A model module exports a factory
 * `(config) => Objective`; the trainer loads it by module URL and export name (an
 * `ObjectiveSpec`) so data-parallel worker threads can load the very same code with the same
 * config. Batches cross threads as plain typed arrays (`HostBatch`).
 */

export interface HostTensor {
  data: Int32Array | Float32Array;
  shape: number[];
}

export type HostBatch = Record<string, HostTensor>;

export interface Objective<P extends Params = Params> {
  /** Fresh parameters, seeded. */
  init(rng: Rng): P;
  /**
   * How many loss terms the batch holds (e.g. target positions), read from the host arrays.
   * The trainer divides the summed loss by the total over all shards of a batch.
   */
  terms(batch: HostBatch): number;
  /** The loss summed over the batch's terms (a scalar tensor); called inside a tidy. */
  loss(params: P, batch: HostBatch, ctx: ForwardContext): tf.Scalar;
  /** Multiply-add FLOPs (x2) of the matmuls of one forward pass, for throughput reports. */
  forwardFlops?(batch: HostBatch): number;
}

/** Where an objective factory lives: `(await import(module))[factory](config)`. */
export interface ObjectiveSpec {
  /** A file: URL (use `import.meta.url` of the module that exports the factory). */
  module: string;
  factory: string;
  config: unknown;
}

export async function loadObjective(spec: ObjectiveSpec): Promise<Objective> {
  const mod = (await import(spec.module)) as Record<string, unknown>;
  const factory = mod[spec.factory];
  if (typeof factory !== 'function') {
    throw new GensearchError('INTERNAL', `module ${spec.module} exports no objective factory "${spec.factory}"`);
  }
  return (factory as (config: unknown) => Objective)(spec.config);
}

export function toTensor(h: HostTensor): tf.Tensor {
  return tf.tensor(h.data, h.shape, h.data instanceof Int32Array ? 'int32' : 'float32');
}

/**
 * Gradients of (summed loss / `denominator`) with respect to every parameter, in flatten
 * order, plus the summed loss itself. Main thread and workers both call this, so one shard's
 * gradients and the whole batch's agree up to float rounding. The loss is read back
 * asynchronously: a GPU backend (webgpu) has no synchronous read in Node.
 */
export async function lossAndGrads<P extends Params>(
  objective: Objective<P>,
  params: P,
  batch: HostBatch,
  denominator: number,
  seed: number,
): Promise<{ lossSum: number; grads: tf.Tensor[] }> {
  const leaves = flattenParams(params).map(([, t]) => t);
  const ctx = forwardContext(true, seed);
  const { value, grads } = tf.tidy(() =>
    tf.valueAndGrads((...xs: tf.Tensor[]) => tf.div(objective.loss(rebuildParams(params, xs), batch, ctx), denominator) as tf.Scalar)(leaves),
  );
  const lossSum = (await value.data())[0] * denominator;
  value.dispose();
  return { lossSum, grads };
}
