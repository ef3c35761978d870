import * as tf from '@tensorflow/tfjs';
import { Rng } from '../tensor/rng.js';
import { normalInit } from './params.js';

/**
 * Small layers as functions over explicit parameter objects. Activations are [..., d] with the
 * feature axis last; matrices are stored [in, out] so a forward pass is a plain x @ W (no
 * transpose flags, which are slow on wasm).
 */

/** Whether dropout is on, and where its seeds come from: same seed, same masks. */
export interface ForwardContext {
  training: boolean;
  /** A fresh seed for the next random op (dropout mask). */
  nextSeed(): number;
}

/** A context for one forward pass: dropout on with seeds drawn from `seed`, or off. */
export function forwardContext(training: boolean, seed = 1): ForwardContext {
  const rng = new Rng(seed);
  return { training, nextSeed: () => rng.seed() };
}

export const EVAL: ForwardContext = { training: false, nextSeed: () => 1 };

export interface LinearParams {
  /** [in, out] */
  w: tf.Tensor;
  /** [out] */
  b: tf.Tensor;
}

export function initLinear(rng: Rng, dIn: number, dOut: number, std: number): LinearParams {
  return { w: normalInit(rng, [dIn, dOut], std), b: tf.zeros([dOut]) };
}

/** x [..., in] -> [..., out]. Flattens to 2-D so the matmul is one plain GEMM. */
export function linear(p: LinearParams, x: tf.Tensor): tf.Tensor {
  const dIn = x.shape[x.rank - 1] as number;
  const dOut = p.w.shape[1] as number;
  const y = tf.add(tf.matMul(tf.reshape(x, [-1, dIn]), p.w), p.b);
  return tf.reshape(y, [...x.shape.slice(0, -1), dOut]);
}

export interface LayerNormParams {
  g: tf.Tensor;
  b: tf.Tensor;
}

export function initLayerNorm(d: number): LayerNormParams {
  return { g: tf.ones([d]), b: tf.zeros([d]) };
}

/** Normalises the last axis: (x - mean) / sqrt(var + eps) * g + b. */
export function layerNorm(p: LayerNormParams, x: tf.Tensor, eps: number): tf.Tensor {
  const axis = x.rank - 1;
  const { mean, variance } = tf.moments(x, axis, true);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), p.g), p.b);
}

/**
 * GELU, sigmoid approximation x * sigmoid(1.702 x) (Hendrycks & Gimpel; CLIP's "quick GELU").
 * On wasm, Sigmoid is a fast XNNPACK kernel while Tanh, Pow, Exp and Erf run about 6x slower
 * than a multiply, so the tanh or erf forms would cost more than the FFN matmuls around them.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
}

/** Inverted dropout: zeroes a `rate` share and scales the rest, only while training. */
export function dropout(x: tf.Tensor, rate: number, ctx: ForwardContext): tf.Tensor {
  if (!ctx.training || rate <= 0) return x;
  return tf.mul(x, dropoutMask(x.shape as number[], rate, ctx.nextSeed()));
}

/**
 * A mask of 0 and 1 / (1 - rate), drawn in JS with xorshift32: tf.dropout draws through
 * seedrandom's alea, about 10x slower, and on wasm that was a large share of a training step.
 */
function dropoutMask(shape: number[], rate: number, seed: number): tf.Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const mask = new Float32Array(size);
  const keep = 1 - rate;
  const threshold = keep * 4294967296;
  const scale = 1 / keep;
  let s = seed | 0 || 1;
  for (let i = 0; i < size; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    if (s >>> 0 < threshold) mask[i] = scale;
  }
  return tf.tensor(mask, shape, 'float32');
}

export interface FfnParams {
  up: LinearParams;
  down: LinearParams;
}

export function initFfn(rng: Rng, d: number, dFF: number, std: number, outStd = std): FfnParams {
  return { up: initLinear(rng, d, dFF, std), down: initLinear(rng, dFF, d, outStd) };
}

/** Position-wise feed-forward: down(dropout(gelu(up(x)))). */
export function ffn(p: FfnParams, x: tf.Tensor, rate: number, ctx: ForwardContext): tf.Tensor {
  return linear(p.down, dropout(gelu(linear(p.up, x)), rate, ctx));
}

export interface EmbeddingParams {
  /** Token table [vocab, d]. */
  tok: tf.Tensor;
  /** Learned positions [maxLen, d]. */
  pos: tf.Tensor;
}

export function initEmbedding(rng: Rng, vocab: number, maxLen: number, d: number, std: number): EmbeddingParams {
  return { tok: normalInit(rng, [vocab, d], std), pos: normalInit(rng, [maxLen, d], std) };
}

/**
 * Rows of `table` [V, d] at `indices` (int32, any shape) -> [...indices.shape, d]: embedding
 * lookup. Through GatherNd, which is about 10x faster on wasm than the GatherV2 behind
 * tf.gather; the gradient scatters (and sums, for repeated rows) back into a V x d zero table.
 */
export function gatherRows(table: tf.Tensor, indices: tf.Tensor): tf.Tensor {
  const d = table.shape[1] as number;
  const outShape = [...indices.shape, d];
  const op = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const t = inputs[0] as tf.Tensor;
    const rows = tf.reshape(tf.cast(indices, 'int32'), [-1, 1]);
    (inputs[1] as tf.GradSaveFunc)([rows]);
    return {
      value: tf.reshape(tf.gatherND(t, rows), outShape),
      gradFunc: (dy: tf.Tensor, [r]: tf.Tensor[]) => [tf.scatterND(r, tf.reshape(dy, [-1, d]), t.shape)],
    };
  });
  return op(table);
}

/**
 * Token ids [B, L] (int32) -> [B, L, d]: token rows times `scale` plus positions 0..L-1.
 * `scale` = sqrt(d) as in Vaswani et al. / SASRec when the table is tied to the output layer.
 */
export function embed(p: EmbeddingParams, tokens: tf.Tensor, scale = 1): tf.Tensor {
  const l = tokens.shape[1] as number;
  const d = p.tok.shape[1] as number;
  let x = gatherRows(p.tok, tokens);
  if (scale !== 1) x = tf.mul(x, scale);
  return tf.add(x, tf.slice(p.pos, [0, 0], [l, d]));
}
