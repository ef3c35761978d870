import * as tf from '@tensorflow/tfjs';
import type { HostBatch, Objective } from '../tensor/objective.js';
import { toTensor } from '../tensor/objective.js';
import { encode, forwardFlops, type GenerativeConfig, type GenerativeParams, generativeObjective, repeatEncoded, sidLogProbs } from './generative.js';

/**
 * List-wise DPO (OneSearch PARS, the last training stage): one preferred SID against several
 * rejected ones for the same prompt, each rejected one with its reward gap to the preferred.
 * With d_j = log pi(y_j) - log pi_ref(y_j) (pi_ref: the model before this stage), the loss of
 * a prompt is
 *   log(1 + sum_j exp(beta * (d_j - d_0) + margin * gap_j))  +  sft * -log pi(y_0)
 * (S-DPO's softmax over negatives; a larger reward gap asks for a larger lead; the SFT term
 * keeps the preferred SID's likelihood from drifting down while the lead grows).
 *
 * For a model with an item head, log pi(y) is what decoding ranks by: the SID's log-probability
 * plus `itemWeight` times the head's log-probability of the candidate's item. The preference
 * then reaches the head and the SFT term keeps training it; without it the shared parameters
 * would move under a head that no longer learns.
 */
export interface PreferenceConfig {
  model: GenerativeConfig;
  beta: number;
  margin: number;
  sft: number;
  /** The item head's weight in a candidate's score (absent or 0: SIDs only). */
  itemWeight?: number;
}

/**
 * Batch = the encoder keys of B prompts plus:
 * - `cand` [B, C, W]: SID tokens (0..sidVocab-1) of each prompt's candidates, preferred first;
 * - `ref` [B, C]: their log-probabilities under the reference model;
 * - `gap` [B, C]: reward gap of each rejected candidate to the preferred one (column 0 unused);
 * - `valid` [B, C]: 1 for a real candidate, 0 for padding (column 0 is always 1);
 * - `item` [B, C]: the item each candidate stands for (read with `itemWeight` > 0).
 */
export function preferenceObjective(config: PreferenceConfig): Objective<GenerativeParams> {
  const { model: cfg, beta, margin, sft, itemWeight = 0 } = config;
  const base = generativeObjective(cfg);
  return {
    init: base.init,
    terms: (batch) => batch.ref.shape[0],
    loss: (p, batch, ctx) => {
      const [b, c] = batch.ref.shape as [number, number];
      // Every candidate reads its prompt's encoder output, computed once.
      const enc = repeatEncoded(encode(p, cfg, batch, ctx), c);
      const head = itemWeight > 0 ? { items: batch.item.data as Int32Array, weight: itemWeight, group: c } : undefined;
      const logp = tf.reshape(sidLogProbs(p, cfg, enc, batch.cand.data as Int32Array, ctx, head), [b, c]);
      const delta = tf.sub(logp, toTensor(batch.ref));
      const chosen = tf.slice(delta, [0, 0], [b, 1]);
      const rejected = tf.slice(delta, [0, 1], [b, c - 1]);
      const valid = tf.slice(toTensor(batch.valid), [0, 1], [b, c - 1]);
      // Padding candidates get -1e9: exp() of them is 0.
      const x = tf.add(tf.add(tf.mul(tf.sub(rejected, chosen), beta), tf.mul(tf.slice(toTensor(batch.gap), [0, 1], [b, c - 1]), margin)), tf.mul(tf.sub(valid, 1), 1e9));
      const dpo = tf.sum(tf.logSumExp(tf.concat([tf.zeros([b, 1]), x], 1), 1));
      const nll = tf.neg(tf.sum(tf.slice(logp, [0, 0], [b, 1])));
      return tf.add(dpo, tf.mul(nll, sft)) as tf.Scalar;
    },
    forwardFlops: (batch) => preferenceFlops(cfg, batch, itemWeight > 0),
  };
}

/** Forward FLOPs of a preference batch: the prompts once, the decoder once per candidate. */
function preferenceFlops(cfg: GenerativeConfig, batch: HostBatch, head: boolean): number {
  const [b, c] = batch.ref.shape;
  const w = cfg.sidSizes.length;
  // The head runs once per prompt.
  return forwardFlops(cfg, { prompts: b, promptTokens: batch.tok.shape[1], historyItems: batch.hist.shape[1], decoderRows: b * c, decoderTokens: w, sidTerms: b * c * w, textTerms: 0, itemTerms: head ? b : 0 });
}
