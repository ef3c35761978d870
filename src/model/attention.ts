import * as tf from '@tensorflow/tfjs';
import { matMulT } from '../tensor/runtime.js';
import type { Rng } from '../tensor/rng.js';
import { dropout, type ForwardContext, initLinear, type LinearParams, linear } from './layers.js';

/**
 * Multi-head attention, one function for self- and cross-attention: queries come from `x`,
 * keys and values from `memory` (which is `x` itself for self-attention).
 *
 * Masks are additive biases broadcastable to [B, heads, Lq, Lk]: 0 where a query may look, a
 * large negative number where it may not. Build them with `causalBias` and `paddingBias` and
 * add them together.
 */

/** Added to the scores of blocked positions: exp() of it underflows to exactly 0 in float32. */
export const MASKED = -1e9;

export interface AttentionParams {
  q: LinearParams;
  /** Keys and values in one [d, 2d] matrix: one GEMM over the memory instead of two. */
  kv: LinearParams;
  o: LinearParams;
}

export function initAttention(rng: Rng, d: number, std: number, outStd = std): AttentionParams {
  return { q: initLinear(rng, d, d, std), kv: initLinear(rng, d, 2 * d, std), o: initLinear(rng, d, d, outStd) };
}

/** [1, 1, L, L]: query t may look at keys 0..t only. */
export function causalBias(length: number): tf.Tensor {
  return tf.tidy(() => {
    const rows = tf.reshape(tf.range(0, length, 1, 'int32'), [length, 1]);
    const cols = tf.reshape(tf.range(0, length, 1, 'int32'), [1, length]);
    return tf.reshape(tf.mul(tf.cast(tf.greater(cols, rows), 'float32'), MASKED), [1, 1, length, length]);
  });
}

/** keyMask [B, Lk] with 1 for real tokens, 0 for padding -> [B, 1, 1, Lk]. */
export function paddingBias(keyMask: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const [b, lk] = keyMask.shape;
    return tf.reshape(tf.mul(tf.sub(1, tf.cast(keyMask, 'float32')), MASKED), [b, 1, 1, lk]);
  });
}

/** [B, L, d] -> [B, heads, L, d / heads] */
function splitHeads(x: tf.Tensor, heads: number): tf.Tensor {
  const [b, l, d] = x.shape;
  return tf.transpose(tf.reshape(x, [b, l, heads, d / heads]), [0, 2, 1, 3]);
}

/** Keys and values split into heads: [B, heads, Lk, d / heads] each. */
export interface KeyValues {
  k: tf.Tensor;
  v: tf.Tensor;
}

/** The keys and values of `memory` [B, Lk, d]: what incremental decoding caches. */
export function keyValues(p: AttentionParams, memory: tf.Tensor, heads: number): KeyValues {
  // Split the (small) weight, not the (large) product: SplitV of a [B, L, 2d] activation along
  // its last axis is a strided copy, slow on wasm; slicing [d, 2d] costs nothing.
  const d = p.kv.w.shape[0] as number;
  const half = (from: number) => ({ w: tf.slice(p.kv.w, [0, from], [d, d]), b: tf.slice(p.kv.b, [from], [d]) });
  return { k: splitHeads(linear(half(0), memory), heads), v: splitHeads(linear(half(d), memory), heads) };
}

/** Appends the keys and values of new positions to cached ones (along the key axis). */
export function concatKeyValues(a: KeyValues, b: KeyValues): KeyValues {
  return { k: tf.concat([a.k, b.k], 2), v: tf.concat([a.v, b.v], 2) };
}

/**
 * x [B, Lq, d] attending to precomputed keys and values -> [B, Lq, d]: softmax(q k^T /
 * sqrt(dh) + bias) v per head, then the output projection. `bias` may be undefined.
 */
export function attendTo(
  p: AttentionParams,
  x: tf.Tensor,
  kv: KeyValues,
  bias: tf.Tensor | undefined,
  heads: number,
  attnDropout: number,
  ctx: ForwardContext,
): tf.Tensor {
  const [b, lq, d] = x.shape;
  const dh = d / heads;
  const q = splitHeads(tf.mul(linear(p.q, x), 1 / Math.sqrt(dh)), heads);
  let scores = matMulT(q, kv.k); // [B, H, Lq, Lk]
  if (bias) scores = tf.add(scores, bias);
  const probs = dropout(tf.softmax(scores), attnDropout, ctx);
  const out = tf.reshape(tf.transpose(tf.matMul(probs, kv.v), [0, 2, 1, 3]), [b, lq, d]);
  return linear(p.o, out);
}

/**
 * x [B, Lq, d], memory [B, Lk, d] -> [B, Lq, d]. softmax(q k^T / sqrt(dh) + bias) v per head,
 * then the output projection. `bias` may be undefined (every query sees every key).
 */
export function attention(
  p: AttentionParams,
  x: tf.Tensor,
  memory: tf.Tensor,
  bias: tf.Tensor | undefined,
  heads: number,
  attnDropout: number,
  ctx: ForwardContext,
): tf.Tensor {
  return attendTo(p, x, keyValues(p, memory, heads), bias, heads, attnDropout, ctx);
}
