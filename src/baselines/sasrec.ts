import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors.js';
import { causalBias } from '../model/attention.js';
import { configHash, type TransformerConfig, transformerConfig } from '../model/config.js';
import { dropout, EVAL, type EmbeddingParams, embed, type ForwardContext, gatherRows, initEmbedding } from '../model/layers.js';
import { softmaxCrossEntropy } from '../model/loss.js';
import { disposeParams } from '../model/params.js';
import { initStack, type StackParams, stack } from '../model/transformer.js';
import { evaluateSystem } from '../eval/evaluate.js';
import type { DenseScorer, EvalCase, TrainData } from '../eval/types.js';
import { ADAM_DEFAULTS } from '../tensor/adam.js';
import type { ExampleSource } from '../tensor/batching.js';
import { type HostBatch, type Objective, type ObjectiveSpec, toTensor } from '../tensor/objective.js';
import type { Rng } from '../tensor/rng.js';
import { initTensorRuntime } from '../tensor/runtime.js';
import { loadTrainedParams, type TrainConfig, type TrainResult, train as trainLoop } from '../tensor/trainer.js';

/**
 * SASRec (Kang & McAuley, ICDM 2018): a causal transformer over the user's item sequence that
 * predicts the next item at every position. Two changes from the paper make it much stronger:
 * the loss is a full softmax cross-entropy over all items (not BCE against one sampled
 * negative; see Klenitskiy & Vasilev, RecSys 2023), and the output layer is the input item
 * embedding table (tied), so a user's score for an item is h_t . e_item.
 *
 * Tokens: item index i is token i + 1; token 0 is padding. Sequences are right-padded, so
 * with the causal mask no real position ever sees a pad and no padding mask is needed.
 */
export interface SasrecModelConfig {
  nItems: number;
  model: TransformerConfig;
}

export interface SasrecParams {
  emb: EmbeddingParams;
  body: StackParams;
}

/** Knobs (numbers, so the eval registry and `--set` can carry them). */
export interface SasrecKnobs {
  dModel: number;
  nLayers: number;
  nHeads: number;
  maxLen: number;
  dropout: number;
  lr: number;
  weightDecay: number;
  /** 1: cosine decay of the learning rate to 0 over `epochs` (a fixed training length); 0: constant. */
  cosine: number;
  batchSize: number;
  /** Most epochs; with validation, early stopping usually ends sooner. */
  epochs: number;
  /** Epochs without a better validation NDCG@10 before stopping. */
  patience: number;
  seed: number;
  /** Data-parallel worker threads (0 = main thread). */
  workers: number;
}

export const SASREC_DEFAULTS: SasrecKnobs = {
  dModel: 64,
  nLayers: 2,
  nHeads: 2,
  maxLen: 50,
  dropout: 0.3,
  lr: 2e-3,
  weightDecay: 0,
  cosine: 0,
  batchSize: 128,
  epochs: 60,
  patience: 5,
  seed: 1,
  workers: 0,
};

/** Knobs from `--set sasrec.knob=value` settings over the defaults, checked. */
export function sasrecKnobs(settings: Record<string, number> = {}): SasrecKnobs {
  const knobs = { ...SASREC_DEFAULTS };
  for (const [key, value] of Object.entries(settings)) {
    if (!(key in knobs)) throw badInput(`sasrec has no knob "${key}"; its knobs: ${Object.keys(SASREC_DEFAULTS).join(', ')}`);
    (knobs as Record<string, number>)[key] = value;
  }
  for (const key of ['dModel', 'nLayers', 'nHeads', 'maxLen', 'batchSize', 'epochs', 'seed'] as const) {
    if (!Number.isInteger(knobs[key]) || knobs[key] < 1) throw badInput(`sasrec.${key} must be a positive integer; got ${knobs[key]}`);
  }
  if (!Number.isInteger(knobs.workers) || knobs.workers < 0) throw badInput(`sasrec.workers must be 0 (main thread) or more; got ${knobs.workers}`);
  if (!(knobs.lr > 0)) throw badInput(`sasrec.lr must be positive; got ${knobs.lr}`);
  if (knobs.cosine !== 0 && knobs.cosine !== 1) throw badInput(`sasrec.cosine must be 0 (constant learning rate) or 1 (cosine decay); got ${knobs.cosine}`);
  return knobs;
}

export function sasrecModelConfig(nItems: number, knobs: SasrecKnobs): SasrecModelConfig {
  return {
    nItems,
    model: transformerConfig('small', {
      dModel: knobs.dModel,
      nLayers: knobs.nLayers,
      nHeads: knobs.nHeads,
      dFF: 4 * knobs.dModel,
      maxLen: knobs.maxLen,
      dropout: knobs.dropout,
      attnDropout: knobs.dropout,
    }),
  };
}

export function initSasrec(cfg: SasrecModelConfig, rng: Rng): SasrecParams {
  const m = cfg.model;
  return { emb: initEmbedding(rng, cfg.nItems + 1, m.maxLen, m.dModel, m.initStd), body: initStack(rng, m) };
}

/** tokens [B, L] -> hidden states [B, L, d]. */
function encode(p: SasrecParams, cfg: SasrecModelConfig, tokens: tf.Tensor, ctx: ForwardContext): tf.Tensor {
  const m = cfg.model;
  const x = dropout(embed(p.emb, tokens, Math.sqrt(m.dModel)), m.dropout, ctx);
  return stack(p.body, x, { self: causalBias(tokens.shape[1] as number) }, m, ctx);
}

/** The item rows of the tied table (row 0 is padding, never a candidate). */
function itemTable(p: SasrecParams, cfg: SasrecModelConfig): tf.Tensor {
  return tf.slice(p.emb.tok, [1, 0], [cfg.nItems, cfg.model.dModel]);
}

/** The item table transposed, [d, nItems]: the right operand of scoring. */
export function itemTableT(p: SasrecParams, cfg: SasrecModelConfig): tf.Tensor {
  return tf.tidy(() => tf.transpose(itemTable(p, cfg)));
}

/** Hidden states at flat positions (b * L + t) of [B, L, d] -> [N, d]. */
function gatherPositions(h: tf.Tensor, positions: tf.Tensor): tf.Tensor {
  return gatherRows(tf.reshape(h, [-1, h.shape[2] as number]), positions);
}

/**
 * Training batch: `tokens` [B, L] right-padded inputs; `positions` [N] flat indices of the
 * positions that have a next item; `targets` [N] that next item (item index, not token).
 */
export function sasrecObjective(cfg: SasrecModelConfig): Objective<SasrecParams> {
  return {
    init: (rng) => initSasrec(cfg, rng),
    terms: (batch) => batch.targets.data.length,
    loss: (p, batch, ctx) => {
      const h = encode(p, cfg, toTensor(batch.tokens), ctx);
      return softmaxCrossEntropy(gatherPositions(h, toTensor(batch.positions)), itemTable(p, cfg), toTensor(batch.targets));
    },
    forwardFlops: (batch) => sasrecForwardFlops(cfg, batch),
  };
}

/** The objective as workers load it. */
export function sasrecSpec(cfg: SasrecModelConfig): ObjectiveSpec {
  return { module: import.meta.url, factory: 'sasrecObjective', config: cfg };
}

/** Matmul FLOPs of one forward pass: projections and FFN per token, attention, output layer. */
export function sasrecForwardFlops(cfg: SasrecModelConfig, batch: HostBatch): number {
  const { dModel: d, dFF, nLayers } = cfg.model;
  const [b, l] = batch.tokens.shape;
  const tokens = b * l;
  const perLayer = tokens * 2 * (4 * d * d + 2 * d * dFF) + b * 2 * 2 * l * l * d;
  return nLayers * perLayer + batch.targets.data.length * 2 * d * cfg.nItems;
}

/** The last `maxLen + 1` items of each sequence with at least 2 items: inputs and next-item targets. */
export function sasrecExamples(sequences: readonly Int32Array[], maxLen: number): ExampleSource {
  const windows = sequences.filter((s) => s.length >= 2).map((s) => s.subarray(Math.max(0, s.length - maxLen - 1)));
  return {
    size: windows.length,
    length: (i) => windows[i].length,
    collate: (indices) => {
      let l = 1;
      let n = 0;
      for (const i of indices) {
        l = Math.max(l, windows[i].length - 1);
        n += windows[i].length - 1;
      }
      const tokens = new Int32Array(indices.length * l);
      const positions = new Int32Array(n);
      const targets = new Int32Array(n);
      let k = 0;
      indices.forEach((i, b) => {
        const w = windows[i];
        for (let t = 0; t < w.length - 1; t++) {
          tokens[b * l + t] = w[t] + 1;
          positions[k] = b * l + t;
          targets[k++] = w[t + 1];
        }
      });
      return { tokens: { data: tokens, shape: [indices.length, l] }, positions: { data: positions, shape: [n] }, targets: { data: targets, shape: [n] } };
    },
  };
}

/**
 * Histories are sorted by length and scored in chunks of at most 256 rows and about 4096
 * (padded) tokens, so short histories are not padded to the longest one of the batch.
 */
const SCORE_ROWS = 256;
const SCORE_TOKENS = 4096;

/**
 * Scores of every item for each history (its last `maxLen` items), written row by row into
 * `out` (histories.length x nItems). An empty history reads one padding token. `itemsT` is the
 * transposed item table [d, nItems] (`itemTableT`): made once per model, so neither the
 * transpose nor the GEMM's packing of it is repeated per batch.
 */
export function sasrecScores(
  p: SasrecParams,
  cfg: SasrecModelConfig,
  histories: readonly Int32Array[],
  out: Float32Array,
  itemsT: tf.Tensor,
): void {
  const maxLen = cfg.model.maxLen;
  const nItems = cfg.nItems;
  const len = (h: Int32Array) => Math.min(maxLen, h.length);
  const order = histories.map((_, i) => i).sort((a, b) => len(histories[a]) - len(histories[b]));
  for (let from = 0; from < order.length; ) {
    let to = from + 1;
    while (to < order.length && to - from < SCORE_ROWS && (to - from + 1) * Math.max(1, len(histories[order[to]])) <= SCORE_TOKENS) to++;
    const rows = order.slice(from, to);
    from = to;
    const l = Math.max(1, len(histories[rows[rows.length - 1]]));
    const tokens = new Int32Array(rows.length * l);
    const last = new Int32Array(rows.length);
    rows.forEach((r, b) => {
      const h = histories[r];
      const w = h.subarray(h.length - len(h));
      for (let t = 0; t < w.length; t++) tokens[b * l + t] = w[t] + 1;
      last[b] = b * l + Math.max(0, w.length - 1);
    });
    const scores = tf.tidy(() => {
      const h = encode(p, cfg, tf.tensor2d(tokens, [rows.length, l], 'int32'), EVAL);
      return tf.matMul(gatherPositions(h, tf.tensor1d(last, 'int32')), itemsT);
    });
    const data = scores.dataSync() as Float32Array;
    rows.forEach((r, b) => {
      out.set(data.subarray(b * nItems, (b + 1) * nItems), r * nItems);
    });
    scores.dispose();
  }
}

/** Identity of a training view: items and every training sequence. Cached models must match it. */
export function trainingFingerprint(train: Pick<TrainData, 'nItems' | 'sequences'>): string {
  const h = createHash('sha256').update(`${train.nItems}:${train.sequences.length}`);
  for (const s of train.sequences) h.update(new Uint8Array(s.buffer, s.byteOffset, s.byteLength)).update('|');
  return h.digest('hex').slice(0, 16);
}

export interface SasrecTrainOptions {
  knobs: SasrecKnobs;
  /** Validation cases: early stopping on NDCG@10 and the best epoch kept. Without: fixed epochs. */
  valid?: readonly EvalCase[];
  outDir: string;
  resume?: boolean;
  /** Checkpoint inside epochs too (tests of interrupted runs). */
  checkpointEverySteps?: number;
  maxSteps?: number;
  log?: (message: string) => void;
}

export function sasrecTrainConfig(knobs: SasrecKnobs, validated: boolean): TrainConfig {
  return {
    epochs: knobs.epochs,
    batchSize: knobs.batchSize,
    lr: knobs.lr,
    warmupSteps: 100,
    schedule: knobs.cosine ? 'cosine' : 'constant',
    adam: { ...ADAM_DEFAULTS, weightDecay: knobs.weightDecay },
    seed: knobs.seed,
    patience: validated ? knobs.patience : 0,
    bucketByLength: true,
  };
}

/** The validation metrics logged each epoch; NDCG@10 with history kept is the one monitored. */
export const SASREC_MONITOR = 'ndcg@10';

/** Trains SASRec on `train.sequences` with the shared trainer; returns the trainer's result. */
export async function trainSasrec(train: TrainData, options: SasrecTrainOptions): Promise<TrainResult & { cfg: SasrecModelConfig }> {
  await initTensorRuntime();
  const cfg = sasrecModelConfig(train.nItems, options.knobs);
  const data = sasrecExamples(train.sequences, cfg.model.maxLen);
  if (data.size === 0) throw badInput(`dataset "${train.dataset}" has no user with 2+ training items; SASRec has nothing to learn from`);
  const valid = options.valid;
  const result = await trainLoop({
    spec: sasrecSpec(cfg),
    data,
    config: sasrecTrainConfig(options.knobs, valid !== undefined),
    outDir: options.outDir,
    resume: options.resume,
    workers: options.knobs.workers,
    identity: { dataset: train.dataset, fingerprint: trainingFingerprint(train) },
    checkpointEverySteps: options.checkpointEverySteps,
    maxSteps: options.maxSteps,
    log: options.log,
    monitor: valid ? SASREC_MONITOR : undefined,
    validate: valid
      ? async (params) => {
          const scorer = new Sasrec(options.knobs, '', { params: params as SasrecParams, cfg });
          try {
            return await validationMetrics(scorer, valid, cfg.nItems);
          } finally {
            scorer.dispose();
          }
        }
      : undefined,
  });
  return { ...result, cfg };
}

/** R@5/10 and N@5/10 with history kept, and the same with history excluded (suffix ":excl"). */
async function validationMetrics(system: DenseScorer, cases: readonly EvalCase[], nItems: number): Promise<Record<string, number>> {
  const r = await evaluateSystem(system, cases, { nItems, ks: [5, 10], excludeHistory: 'both', label: 'validate' });
  const out: Record<string, number> = {};
  for (const variant of r.variants) {
    for (const [k, value] of Object.entries(variant.means)) {
      if (!k.startsWith('mrr')) out[variant.excludeHistory ? `${k}:excl` : k] = value;
    }
  }
  return out;
}

/**
 * SASRec as a ranking system for `gensearch eval`. `fit` loads the model that
 * `gensearch train-baseline sasrec` trained on the same training view (its folder under
 * `<home>/models/sasrec/`), or, when there is none, trains one for the fixed `epochs` knob and
 * keeps it there, so the test split reuses what the valid split trained.
 */
export class Sasrec implements DenseScorer {
  readonly name = 'sasrec';
  readonly protocols = ['rec' as const];
  readonly batchSize = 256;
  private ownsParams = false;
  /**
   * `home`: where trained models are kept and looked up. `model`: parameters to rank with
   * directly (fit then does nothing).
   */
  constructor(
    private readonly knobs: SasrecKnobs,
    private readonly home: string,
    private model?: { params: SasrecParams; cfg: SasrecModelConfig; itemsT?: tf.Tensor },
    private readonly log?: (message: string) => void,
  ) {}

  params(): Record<string, unknown> {
    return { ...this.knobs };
  }

  async fit(train: TrainData): Promise<void> {
    if (this.model) return;
    await initTensorRuntime();
    const dir = sasrecModelDir(this.home, train, this.knobs);
    const cfg = sasrecModelConfig(train.nItems, this.knobs);
    if (existsSync(join(dir, 'best.json'))) {
      const { params } = loadTrainedParams(sasrecObjective(cfg), dir);
      this.model = { params: params as SasrecParams, cfg };
      this.ownsParams = true;
      return;
    }
    const result = await trainSasrec(train, { knobs: this.knobs, outDir: dir, resume: true, log: this.log });
    this.model = { params: result.params as SasrecParams, cfg };
    this.ownsParams = true;
  }

  scoreBatch(cases: readonly EvalCase[], out: Float32Array): void {
    if (!this.model) throw badInput('sasrec: fit() must run before scoreBatch()');
    this.model.itemsT ??= itemTableT(this.model.params, this.model.cfg);
    sasrecScores(this.model.params, this.model.cfg, cases.map((c) => c.history), out, this.model.itemsT);
  }

  /** Frees what this system made: the scoring table, and the parameters if `fit` loaded them. */
  dispose(): void {
    if (this.model && this.ownsParams) disposeParams(this.model.params);
    this.model?.itemsT?.dispose();
    if (this.model) this.model.itemsT = undefined;
  }
}

/**
 * Where the SASRec trained on this training view with these knobs lives: one folder per
 * dataset, view and recipe (the worker count does not change the recipe, so it is left out).
 */
export function sasrecModelDir(home: string, train: Pick<TrainData, 'dataset' | 'nItems' | 'sequences'>, knobs: SasrecKnobs): string {
  const { workers: _workers, ...recipe } = knobs;
  return join(home, 'models', 'sasrec', `${train.dataset}-${trainingFingerprint(train)}-${configHash(recipe).slice(0, 8)}`);
}
