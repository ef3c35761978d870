import * as tf from '@tensorflow/tfjs';
import { MASKED } from '../model/attention.js';
import { dropout, EVAL, type ForwardContext, gelu, initLinear, type LinearParams, linear } from '../model/layers.js';
import { normalInit } from '../model/params.js';
import { type HostBatch, type Objective, type ObjectiveSpec, toTensor } from '../tensor/objective.js';
import type { Rng } from '../tensor/rng.js';
import { transposeLast2 } from '../tensor/runtime.js';

/**
 * The cascade's ranking stage: a DIN-style model (Zhou et al., KDD 2018). For each candidate
 * c, target attention over the user's recent items h_1..h_L (most recent first) pools the
 * history with weights softmax_t((h_t Wk) . (c Wq) / sqrt(a) + position_t); the pooled
 * interest, the query and the candidate meet by elementwise products; with the dense
 * features (query-item match, recall channels, popularity, pre-rank) an MLP gives one logit.
 * Trained with logistic loss, so sigmoid(logit) is a click-through-style probability.
 * Item and query vectors are the aligned encoder's, frozen: the batch carries them.
 */
export interface RankerConfig {
  /** Aligned embedding dimension. */
  dim: number;
  features: number;
  historyLen: number;
  attnDim: number;
  hidden: number;
  dropout: number;
}

export interface RankerParams {
  key: LinearParams;
  target: LinearParams;
  position: tf.Tensor;
  hidden: LinearParams;
  out: LinearParams;
  /** A linear path from the dense features straight to the logit. */
  skip: LinearParams;
}

export function initRanker(cfg: RankerConfig, rng: Rng): RankerParams {
  const interactions = cfg.features + 3 * cfg.dim;
  return {
    key: initLinear(rng, cfg.dim, cfg.attnDim, 1 / Math.sqrt(cfg.dim)),
    target: initLinear(rng, cfg.dim, cfg.attnDim, 1 / Math.sqrt(cfg.dim)),
    position: normalInit(rng, [cfg.historyLen], 0.01),
    hidden: initLinear(rng, interactions, cfg.hidden, 1 / Math.sqrt(interactions)),
    out: initLinear(rng, cfg.hidden, 1, 1 / Math.sqrt(cfg.hidden)),
    skip: initLinear(rng, cfg.features, 1, 0.01),
  };
}

/**
 * Batch of B cases with C candidate slots each: `cand` [B, C, dim], `query` [B, dim], `hist`
 * [B, L, dim] (most recent first, zero rows for padding), `histBias` [B, L] (0 or MASKED),
 * `feats` [B, C, features], `labels` and `weights` [B, C] (weight 0 = padding slot).
 * Returns logits [B, C].
 */
export function rankerLogits(p: RankerParams, cfg: RankerConfig, batch: HostBatch, ctx: ForwardContext): tf.Tensor {
  const cand = toTensor(batch.cand);
  const hist = toTensor(batch.hist);
  const [b, c] = batch.cand.shape;
  const keys = linear(p.key, hist); // [B, L, a]
  const targets = linear(p.target, cand); // [B, C, a]
  const bias = tf.add(tf.reshape(toTensor(batch.histBias), [b, 1, cfg.historyLen]), tf.reshape(p.position, [1, 1, cfg.historyLen]));
  const logits = tf.add(tf.mul(tf.matMul(targets, transposeLast2(keys)), 1 / Math.sqrt(cfg.attnDim)), bias);
  const interest = tf.matMul(tf.softmax(logits), hist); // [B, C, dim]
  const query = tf.reshape(toTensor(batch.query), [b, 1, cfg.dim]);
  const feats = toTensor(batch.feats);
  const x = tf.concat([feats, tf.mul(interest, cand), tf.mul(query, cand), cand], 2);
  const h = dropout(gelu(linear(p.hidden, x)), cfg.dropout, ctx);
  return tf.reshape(tf.add(linear(p.out, h), linear(p.skip, feats)), [b, c]);
}

/** Summed weighted logistic loss: softplus(z) - y z, written stably. */
export function logisticLoss(logits: tf.Tensor, labels: tf.Tensor, weights: tf.Tensor): tf.Scalar {
  const perPair = tf.add(tf.sub(tf.relu(logits), tf.mul(logits, labels)), tf.log1p(tf.exp(tf.neg(tf.abs(logits)))));
  return tf.sum(tf.mul(perPair, weights));
}

export function rankerObjective(cfg: RankerConfig): Objective<RankerParams> {
  return {
    init: (rng) => initRanker(cfg, rng),
    terms: (batch) => {
      let n = 0;
      for (const w of batch.weights.data) n += w;
      return n;
    },
    loss: (p, batch, ctx) => logisticLoss(rankerLogits(p, cfg, batch, ctx), toTensor(batch.labels), toTensor(batch.weights)),
    forwardFlops: (batch) => {
      const [b, c] = batch.cand.shape;
      const { dim, attnDim, historyLen, hidden, features } = cfg;
      const pairs = b * c;
      return 2 * (b * historyLen * dim * attnDim + pairs * dim * attnDim + 2 * pairs * historyLen * Math.max(dim, attnDim) + pairs * (features + 3 * dim) * hidden + pairs * hidden);
    },
  };
}

/** The objective as the trainer (and its workers) load it. */
export function rankerSpec(cfg: RankerConfig): ObjectiveSpec {
  return { module: import.meta.url, factory: 'rankerObjective', config: cfg };
}

/** Probabilities [B x C] (row-major) of a batch, dropout off. */
export function rankerProbabilities(p: RankerParams, cfg: RankerConfig, batch: HostBatch): Float32Array {
  const probs = tf.tidy(() => tf.sigmoid(rankerLogits(p, cfg, batch, EVAL)));
  const out = probs.dataSync() as Float32Array;
  probs.dispose();
  return out;
}

/** What the ranker reads about one case: history, query vector and candidates with features. */
export interface RankInput {
  /** History items, oldest first (the last `historyLen` are read). */
  history: Int32Array;
  query: Float32Array;
  items: Int32Array;
  /** items.length x features. */
  features: Float32Array;
  /** 1 for a positive, 0 for a negative (training and held-out pairs). */
  labels?: Float32Array;
}

/** Host arrays of a batch of cases, item vectors gathered from `itemRows` (nItems x dim). */
export function collateRankInputs(inputs: readonly RankInput[], cfg: RankerConfig, itemRows: Float32Array): HostBatch {
  const { dim, historyLen: l, features: nf } = cfg;
  const b = inputs.length;
  const c = Math.max(1, ...inputs.map((x) => x.items.length));
  const cand = new Float32Array(b * c * dim);
  const query = new Float32Array(b * dim);
  const hist = new Float32Array(b * l * dim);
  const histBias = new Float32Array(b * l).fill(MASKED);
  const feats = new Float32Array(b * c * nf);
  const labels = new Float32Array(b * c);
  const weights = new Float32Array(b * c);
  inputs.forEach((x, i) => {
    query.set(x.query, i * dim);
    const h = x.history;
    for (let t = 0; t < Math.min(l, h.length); t++) {
      const item = h[h.length - 1 - t];
      hist.set(itemRows.subarray(item * dim, (item + 1) * dim), (i * l + t) * dim);
      histBias[i * l + t] = 0;
    }
    x.items.forEach((item, j) => {
      cand.set(itemRows.subarray(item * dim, (item + 1) * dim), (i * c + j) * dim);
      weights[i * c + j] = 1;
      if (x.labels) labels[i * c + j] = x.labels[j];
    });
    feats.set(x.features.subarray(0, x.items.length * nf), i * c * nf);
  });
  return {
    cand: { data: cand, shape: [b, c, dim] },
    query: { data: query, shape: [b, dim] },
    hist: { data: hist, shape: [b, l, dim] },
    histBias: { data: histBias, shape: [b, l] },
    feats: { data: feats, shape: [b, c, nf] },
    labels: { data: labels, shape: [b, c] },
    weights: { data: weights, shape: [b, c] },
  };
}

/** Probabilities for each input's candidates, in chunks of `chunk` cases. */
export function scoreRankInputs(p: RankerParams, cfg: RankerConfig, inputs: readonly RankInput[], itemRows: Float32Array, chunk = 64): Float32Array[] {
  const out: Float32Array[] = [];
  for (let from = 0; from < inputs.length; from += chunk) {
    const part = inputs.slice(from, from + chunk);
    const batch = collateRankInputs(part, cfg, itemRows);
    const c = batch.cand.shape[1];
    const probs = rankerProbabilities(p, cfg, batch);
    part.forEach((x, i) => out.push(probs.slice(i * c, i * c + x.items.length)));
  }
  return out;
}

/** Mean log-loss and expected calibration error (10 equal-width bins) of probabilities. */
export function calibration(probs: ArrayLike<number>, labels: ArrayLike<number>, bins = 10): { logLoss: number; ece: number; positiveRate: number; meanProbability: number } {
  const n = probs.length;
  let loss = 0;
  let pos = 0;
  let mean = 0;
  const count = new Float64Array(bins);
  const sumP = new Float64Array(bins);
  const sumY = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const p = Math.min(1 - 1e-7, Math.max(1e-7, probs[i]));
    const y = labels[i];
    loss -= y * Math.log(p) + (1 - y) * Math.log(1 - p);
    pos += y;
    mean += p;
    const bin = Math.min(bins - 1, Math.floor(p * bins));
    count[bin]++;
    sumP[bin] += p;
    sumY[bin] += y;
  }
  let ece = 0;
  for (let k = 0; k < bins; k++) if (count[k] > 0) ece += Math.abs(sumP[k] - sumY[k]) / n;
  return { logLoss: loss / Math.max(1, n), ece, positiveRate: pos / Math.max(1, n), meanProbability: mean / Math.max(1, n) };
}
