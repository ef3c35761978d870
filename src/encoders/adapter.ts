import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors.js';
import { initLinear, linear, type LinearParams } from '../model/layers.js';
import type { ExampleSource } from '../tensor/batching.js';
import type { HostBatch, Objective, ObjectiveSpec } from '../tensor/objective.js';
import { toTensor } from '../tensor/objective.js';
import { Rng } from '../tensor/rng.js';
import { type ContrastiveConfig, multiViewLoss, unitRows } from './image-model.js';

/**
 * The trainable head on a frozen backbone (OneVision's fine-tuning, at the top only): backbone
 * features -> (hidden ReLU layer) -> unit embedding, trained with the CNN's multi-view loss on
 * features of augmented catalog photos computed once and cached, so a training step costs a
 * small matmul instead of a backbone pass.
 */
export interface AdapterConfig extends ContrastiveConfig {
  /** Backbone feature width. */
  input: number;
  /** Hidden width; 0 = one linear layer. */
  hidden: number;
  dim: number;
}

export const ADAPTER_DEFAULTS: Omit<AdapterConfig, 'input'> = { hidden: 0, dim: 64, temperature: 0.1, circleMargin: 0.25, circleGamma: 32, circleWeight: 1 };

export interface AdapterParams {
  layers: LinearParams[];
}

function checkAdapterConfig(cfg: AdapterConfig): void {
  for (const key of ['input', 'dim'] as const) if (!Number.isInteger(cfg[key]) || cfg[key] < 1) throw badInput(`adapter ${key} must be a positive integer; got ${cfg[key]}`);
  if (!Number.isInteger(cfg.hidden) || cfg.hidden < 0) throw badInput(`adapter hidden width must be an integer >= 0; got ${cfg.hidden}`);
}

export function initAdapter(cfg: AdapterConfig, rng: Rng): AdapterParams {
  checkAdapterConfig(cfg);
  const widths = cfg.hidden > 0 ? [cfg.input, cfg.hidden, cfg.dim] : [cfg.input, cfg.dim];
  return { layers: widths.slice(1).map((out, i) => initLinear(rng, widths[i], out, Math.sqrt((i < widths.length - 2 ? 2 : 1) / widths[i]))) };
}

/**
 * Features [B, input] -> unit embeddings [B, dim]. Features enter unit-normalised and scaled
 * to unit variance per coordinate, so the head's init and learning rate do not depend on the
 * backbone layer's activation scale.
 */
export function adapt(p: AdapterParams, cfg: AdapterConfig, features: tf.Tensor): tf.Tensor {
  let h = tf.mul(unitRows(features), Math.sqrt(cfg.input));
  p.layers.forEach((layer, i) => {
    h = linear(layer, h);
    if (i < p.layers.length - 1) h = tf.relu(h);
  });
  return unitRows(h);
}

/** Batch: `x` [B, input] features, `label` [B] int32 items. */
export function adapterObjective(cfg: AdapterConfig): Objective<AdapterParams> {
  checkAdapterConfig(cfg);
  return {
    init: (rng) => initAdapter(cfg, rng),
    terms: (batch) => batch.label.data.length,
    loss: (p, batch) => multiViewLoss(adapt(p, cfg, toTensor(batch.x)), toTensor(batch.label), cfg),
    forwardFlops: (batch) => {
      const b = batch.label.data.length;
      const widths = cfg.hidden > 0 ? [cfg.input, cfg.hidden, cfg.dim] : [cfg.input, cfg.dim];
      return b * (widths.slice(1).reduce((s, w, i) => s + 2 * widths[i] * w, 0) + 2 * b * cfg.dim);
    },
  };
}

export function adapterSpec(cfg: AdapterConfig): ObjectiveSpec {
  return { module: import.meta.url, factory: 'adapterObjective', config: cfg };
}

/**
 * Cached backbone features of `copies` views per catalog photo (`features` is
 * photos x copies x width, copy 0 the photo as shot). Each drawn photo enters a batch twice,
 * as two different copies, like the CNN's two augmented views.
 */
export class FeatureViewSource implements ExampleSource {
  readonly size: number;

  constructor(
    private readonly features: Float32Array,
    private readonly item: Int32Array,
    private readonly copies: number,
    private readonly width: number,
    private readonly seed: number,
  ) {
    if (copies < 2) throw badInput(`the head needs at least 2 cached views per photo; got ${copies}`);
    if (features.length !== item.length * copies * width) throw badInput(`${features.length} cached feature values for ${item.length} photos x ${copies} views x ${width}`);
    this.size = item.length;
  }

  collate(ids: Int32Array): HostBatch {
    let h = this.seed >>> 0;
    for (const i of ids) h = Math.imul(h ^ i, 0x01000193) >>> 0;
    const rng = new Rng(h);
    const x = new Float32Array(2 * ids.length * this.width);
    const label = new Int32Array(2 * ids.length);
    ids.forEach((id, j) => {
      const a = rng.int(this.copies);
      const b = (a + 1 + rng.int(this.copies - 1)) % this.copies;
      [a, b].forEach((copy, c) => {
        const from = (id * this.copies + copy) * this.width;
        x.set(this.features.subarray(from, from + this.width), (2 * j + c) * this.width);
        label[2 * j + c] = this.item[id];
      });
    });
    return { x: { data: x, shape: [label.length, this.width] }, label: { data: label, shape: [label.length] } };
  }
}
