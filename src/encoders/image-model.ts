import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors.js';
import { initLinear, linear, type LinearParams } from '../model/layers.js';
import { normalInit } from '../model/params.js';
import type { HostBatch, Objective, ObjectiveSpec } from '../tensor/objective.js';
import { toTensor } from '../tensor/objective.js';
import type { Rng } from '../tensor/rng.js';
import { matMulT } from '../tensor/runtime.js';

/**
 * The image encoder of photo search (OneVision's vision side): a small CNN trained from scratch
 * on catalog photos. Each stage is a 3x3 convolution + ReLU + 2x2 average pool; the last map is
 * flattened (objects sit centred, so where a feature is matters) into a hidden layer and an
 * L2-normalised embedding. Trained so all views of an item land together: supervised InfoNCE
 * over the views in a batch plus circle loss (Sun et al. 2020) on the same similarities.
 */
/** The multi-view loss's settings (the CNN and the backbone's head share them). */
export interface ContrastiveConfig {
  /** InfoNCE temperature. */
  temperature: number;
  /** Circle loss relaxation margin m and scale gamma; weight 0 turns it off. */
  circleMargin: number;
  circleGamma: number;
  circleWeight: number;
}

export interface ImageEncoderConfig extends ContrastiveConfig {
  /** Input side in pixels (RGB, [0, 1]); a multiple of 2^stages. */
  size: number;
  /** Convolution widths, one per stage. */
  channels: number[];
  hidden: number;
  dim: number;
}

export const IMAGE_ENCODER_DEFAULTS: ImageEncoderConfig = {
  size: 32,
  channels: [16, 32, 64],
  hidden: 128,
  dim: 64,
  temperature: 0.1,
  circleMargin: 0.25,
  circleGamma: 32,
  circleWeight: 1,
};

export function checkImageEncoderConfig(cfg: ImageEncoderConfig): void {
  const cells = cfg.size / 2 ** cfg.channels.length;
  if (!Number.isInteger(cells) || cells < 1) {
    throw badInput(`image size ${cfg.size} must be a multiple of 2^${cfg.channels.length} (one 2x2 pool per stage)`);
  }
  for (const key of ['hidden', 'dim'] as const) if (!Number.isInteger(cfg[key]) || cfg[key] < 1) throw badInput(`image encoder ${key} must be a positive integer`);
  if (!(cfg.temperature > 0)) throw badInput(`temperature must be > 0; got ${cfg.temperature}`);
}

export interface ImageEncoderParams {
  /** Per stage: filter [3, 3, Cin, Cout] and bias [Cout]. */
  convs: { w: tf.Tensor; b: tf.Tensor }[];
  fc: LinearParams;
  out: LinearParams;
}

function flatWidth(cfg: ImageEncoderConfig): number {
  const cells = cfg.size / 2 ** cfg.channels.length;
  return cells * cells * cfg.channels[cfg.channels.length - 1];
}

export function initImageEncoder(cfg: ImageEncoderConfig, rng: Rng): ImageEncoderParams {
  checkImageEncoderConfig(cfg);
  let cin = 3;
  const convs = cfg.channels.map((cout) => {
    const layer = { w: normalInit(rng, [3, 3, cin, cout], Math.sqrt(2 / (9 * cin))), b: tf.zeros([cout]) };
    cin = cout;
    return layer;
  });
  const flat = flatWidth(cfg);
  return { convs, fc: initLinear(rng, flat, cfg.hidden, Math.sqrt(2 / flat)), out: initLinear(rng, cfg.hidden, cfg.dim, Math.sqrt(1 / cfg.hidden)) };
}

/** Images [B, size, size, 3] in [0, 1] -> unit embeddings [B, dim]. */
export function embedImages(p: ImageEncoderParams, cfg: ImageEncoderConfig, x: tf.Tensor): tf.Tensor {
  let h: tf.Tensor4D = tf.sub(x, 0.5) as tf.Tensor4D;
  for (const c of p.convs) h = tf.avgPool(tf.relu(tf.add(tf.conv2d(h, c.w as tf.Tensor4D, 1, 'same'), c.b)) as tf.Tensor4D, 2, 2, 'valid');
  const b = h.shape[0];
  return unitRows(linear(p.out, tf.relu(linear(p.fc, tf.reshape(h, [b, flatWidth(cfg)])))));
}

/** Rows scaled to unit length. */
export function unitRows(z: tf.Tensor): tf.Tensor {
  return tf.div(z, tf.add(tf.norm(z, 2, 1, true), 1e-6));
}

/** softplus(x) = log(1 + e^x) without overflow. */
function softplus(x: tf.Tensor): tf.Tensor {
  return tf.add(tf.relu(x), tf.log1p(tf.exp(tf.neg(tf.abs(x)))));
}

const MASKED = -1e9;

/**
 * Summed multi-view loss of one batch: every image is an anchor; the other images of the same
 * item are its positives, all others negatives. InfoNCE: mean over positives of
 * -log softmax over all others; circle loss: softplus(lse_n(g an (sn - m)) + lse_p(-g ap (sp - 1 + m)))
 * with ap = [1 + m - sp]+, an = [sn + m]+ held constant (as in the paper).
 */
export function multiViewLoss(z: tf.Tensor, labels: tf.Tensor, cfg: ContrastiveConfig): tf.Scalar {
  const n = z.shape[0] as number;
  const sim = matMulT(z, z);
  const same = tf.cast(tf.equal(tf.expandDims(labels, 1), tf.expandDims(labels, 0)), 'float32');
  const eye = tf.eye(n);
  const pos = tf.sub(same, eye);
  const neg = tf.sub(1, same);
  const logits = tf.add(tf.div(sim, cfg.temperature), tf.mul(eye, MASKED));
  const logProb = tf.sub(logits, tf.logSumExp(logits, 1, true));
  const nPos = tf.sum(pos, 1);
  let loss = tf.sum(tf.div(tf.neg(tf.sum(tf.mul(pos, logProb), 1)), tf.maximum(nPos, 1)));
  if (cfg.circleWeight > 0) {
    const m = cfg.circleMargin;
    const s = tf.tensor(sim.dataSync(), sim.shape); // the weights ap, an carry no gradient
    const ap = tf.relu(tf.sub(1 + m, s));
    const an = tf.relu(tf.add(s, m));
    const masked = (x: tf.Tensor, keep: tf.Tensor) => tf.add(tf.mul(x, keep), tf.mul(tf.sub(1, keep), MASKED));
    const lp = masked(tf.mul(tf.mul(ap, -cfg.circleGamma), tf.sub(sim, 1 - m)), pos);
    const ln = masked(tf.mul(tf.mul(an, cfg.circleGamma), tf.sub(sim, m)), neg);
    const circle = tf.mul(softplus(tf.add(tf.logSumExp(ln, 1), tf.logSumExp(lp, 1))), tf.cast(tf.greater(nPos, 0), 'float32'));
    loss = tf.add(loss, tf.mul(tf.sum(circle), cfg.circleWeight));
  }
  return loss as tf.Scalar;
}

/** Batch: `x` [B, size, size, 3] float, `label` [B] int32 (item of each image). */
export function imageEncoderObjective(cfg: ImageEncoderConfig): Objective<ImageEncoderParams> {
  checkImageEncoderConfig(cfg);
  return {
    init: (rng) => initImageEncoder(cfg, rng),
    terms: (batch) => batch.label.data.length,
    loss: (p, batch) => multiViewLoss(embedImages(p, cfg, toTensor(batch.x)), toTensor(batch.label), cfg),
    forwardFlops: (batch) => imageEncoderFlops(cfg, batch),
  };
}

export function imageEncoderSpec(cfg: ImageEncoderConfig): ObjectiveSpec {
  return { module: import.meta.url, factory: 'imageEncoderObjective', config: cfg };
}

/** Multiply-add FLOPs (x2) of one forward pass over `batch`. */
export function imageEncoderFlops(cfg: ImageEncoderConfig, batch: HostBatch): number {
  const b = batch.label.data.length;
  let side = cfg.size;
  let cin = 3;
  let flops = 0;
  for (const cout of cfg.channels) {
    flops += 2 * side * side * 9 * cin * cout;
    side /= 2;
    cin = cout;
  }
  flops += 2 * flatWidth(cfg) * cfg.hidden + 2 * cfg.hidden * cfg.dim;
  return b * (flops + 2 * b * cfg.dim);
}
