import * as tf from '@tensorflow/tfjs';
import { GensearchError } from '../errors.js';
import type { Rng } from '../tensor/rng.js';
import { type AttentionParams, attendTo, concatKeyValues, initAttention, type KeyValues, keyValues } from './attention.js';
import type { TransformerConfig } from './config.js';
import {
  dropout,
  type FfnParams,
  type ForwardContext,
  ffn,
  initFfn,
  initLayerNorm,
  type LayerNormParams,
  layerNorm,
} from './layers.js';

/**
 * Pre-LayerNorm transformer blocks (GPT-2 / modern BART style): each sublayer reads a normalised
 * copy of the residual stream and adds its (dropped-out) output back. A block with `cross` also
 * attends to an encoder's output between self-attention and the FFN: the decoder block.
 */
export interface BlockParams {
  ln1: LayerNormParams;
  self: AttentionParams;
  /** Present in decoder blocks only. */
  lnCross?: LayerNormParams;
  cross?: AttentionParams;
  ln2: LayerNormParams;
  ffn: FfnParams;
}

export interface StackParams {
  blocks: BlockParams[];
  /** Final LayerNorm (pre-LN stacks need one at the end). */
  lnF: LayerNormParams;
}

/**
 * Weight init: N(0, initStd) for matrices; the projections that write into the residual stream
 * are scaled by 1/sqrt(2 * layers) (GPT-2) so the stream's variance does not grow with depth.
 */
export function initStack(rng: Rng, cfg: TransformerConfig, options: { cross?: boolean } = {}): StackParams {
  const d = cfg.dModel;
  const outStd = cfg.initStd / Math.sqrt(2 * cfg.nLayers);
  const blocks: BlockParams[] = [];
  for (let i = 0; i < cfg.nLayers; i++) {
    const block: BlockParams = {
      ln1: initLayerNorm(d),
      self: initAttention(rng, d, cfg.initStd, outStd),
      ln2: initLayerNorm(d),
      ffn: initFfn(rng, d, cfg.dFF, cfg.initStd, outStd),
    };
    if (options.cross) {
      block.lnCross = initLayerNorm(d);
      block.cross = initAttention(rng, d, cfg.initStd, outStd);
    }
    blocks.push(block);
  }
  return { blocks, lnF: initLayerNorm(d) };
}

/** What a stack attends to besides itself: an encoder output and its padding bias. */
export interface CrossInput {
  memory: tf.Tensor;
  bias?: tf.Tensor;
}

/**
 * Incremental decoding state of one block: the self-attention keys/values of the positions
 * decoded so far, and the cross-attention keys/values of the encoder output (computed once).
 */
export interface BlockCache {
  self?: KeyValues;
  cross?: KeyValues;
}

/**
 * What the attention of a stack may see: `self`, the bias of self-attention (causal and/or
 * padding, see attention.ts); `cross`, the encoder output for decoder blocks. With `caches`
 * (one per block) the stack runs incrementally: x holds only the new positions, their keys and
 * values are appended to `caches[i].self`, and cross-attention reuses `caches[i].cross` (filled
 * from `cross.memory` on first use). The caches are updated in place.
 */
export interface StackInputs {
  self?: tf.Tensor;
  cross?: CrossInput;
  caches?: BlockCache[];
}

export function block(p: BlockParams, x: tf.Tensor, inputs: StackInputs, cfg: TransformerConfig, ctx: ForwardContext, cache?: BlockCache): tf.Tensor {
  const eps = cfg.layerNormEps;
  const h = layerNorm(p.ln1, x, eps);
  let selfKv = keyValues(p.self, h, cfg.nHeads);
  if (cache) {
    if (cache.self) selfKv = concatKeyValues(cache.self, selfKv);
    cache.self = selfKv;
  }
  x = tf.add(x, dropout(attendTo(p.self, h, selfKv, inputs.self, cfg.nHeads, cfg.attnDropout, ctx), cfg.dropout, ctx));
  const cross = inputs.cross;
  if (p.cross && p.lnCross) {
    if (!cross) throw new GensearchError('INTERNAL', 'a decoder block needs the encoder output (cross input); pass { memory, bias }');
    const hc = layerNorm(p.lnCross, x, eps);
    let crossKv = cache?.cross;
    if (!crossKv) {
      crossKv = keyValues(p.cross, cross.memory, cfg.nHeads);
      if (cache) cache.cross = crossKv;
    }
    x = tf.add(x, dropout(attendTo(p.cross, hc, crossKv, cross.bias, cfg.nHeads, cfg.attnDropout, ctx), cfg.dropout, ctx));
  }
  return tf.add(x, dropout(ffn(p.ffn, layerNorm(p.ln2, x, eps), cfg.dropout, ctx), cfg.dropout, ctx));
}

/** x [B, L, d] through every block and the final LayerNorm. */
export function stack(p: StackParams, x: tf.Tensor, inputs: StackInputs, cfg: TransformerConfig, ctx: ForwardContext): tf.Tensor {
  if (inputs.caches && inputs.caches.length !== p.blocks.length) {
    throw new GensearchError('INTERNAL', `stack: ${inputs.caches.length} caches for ${p.blocks.length} blocks`);
  }
  p.blocks.forEach((b, i) => {
    x = block(b, x, inputs, cfg, ctx, inputs.caches?.[i]);
  });
  return layerNorm(p.lnF, x, cfg.layerNormEps);
}
