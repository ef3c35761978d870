import type { GradSaveFunc, Tensor } from '@tensorflow/tfjs';
import { badInput } from '../errors.js';
import { type Rng, rng } from '../eval/random.js';
import { progress } from '../progress.js';
import { initTensorRuntime, matMulT, type Tf } from '../tensor/runtime.js';
import {
  checkEncoderConfig,
  EmbeddingBag,
  type EncoderConfig,
  type EncoderWeights,
  encodePooled,
  Featurizer,
  initWeights,
  type Pooling,
  type TextEncoder,
  TfTextEncoder,
  variableOf,
} from './model.js';
import {
  buildPairSource,
  type EncoderTrainData,
  LOSS_TYPES,
  type LossType,
  type PairSource,
  I2I_SOURCE_NAMES,
  I2I_SOURCES,
  type I2ISource,
} from './pairs.js';
import { symmetricInfoNce } from './loss.js';
import { itemText, textWords } from './text.js';

/** Pretrained word vectors for the words asked for (those it lacks are simply absent). */
export type WordVectorSource = (words: readonly string[]) => Promise<ReadonlyMap<string, Float32Array>>;

export interface TrainEncoderOptions {
  dim: number;
  /** Word and n-gram vector width; must match the word vectors (wink: 100). */
  wordDim: number;
  hidden: number;
  pooling: Pooling;
  losses: LossType[];
  /** Weight of each loss in the sum (default 1 each). */
  lossWeights: Partial<Record<LossType, number>>;
  /** One epoch = as many pairs of each type as there are training interactions; 0 = untrained. */
  epochs: number;
  /** Pairs per loss per step; the other pairs of the batch are each pair's negatives. */
  batchSize: number;
  lr: number;
  /** Softmax temperature of the InfoNCE losses (embeddings are unit length). */
  temperature: number;
  /**
   * Subtract log(frequency) of each candidate from its logit (the sampled-softmax "logQ"
   * correction): in-batch negatives are drawn in proportion to popularity, and without it the
   * model learns to push popular items down.
   */
  logQ: boolean;
  seed: number;
  ngramSizes: number[];
  buckets: number;
  maxNgramsPerWord: number;
  maxWords: number;
  /** Words that occur fewer times than this get no vector of their own (n-grams only). */
  minWordCount: number;
  /** Item-to-item similarity the i2i and q2q pairs come from. */
  i2i: I2ISource;
  /** Initial word vectors (e.g. wink); none: random initialisation. */
  wordVectors?: WordVectorSource;
  /** Called after every step (tests, custom logging). */
  onStep?: (step: number, losses: Partial<Record<LossType, number>>) => void;
}

export const ENCODER_DEFAULTS: Omit<TrainEncoderOptions, 'wordVectors' | 'onStep'> = {
  dim: 64,
  wordDim: 100,
  hidden: 256,
  pooling: 'mean',
  losses: [...LOSS_TYPES],
  lossWeights: {},
  i2i: 'itemcf',
  epochs: 3,
  batchSize: 512,
  lr: 3e-3,
  temperature: 0.05,
  logQ: true,
  seed: 1,
  ngramSizes: [3, 4],
  buckets: 1 << 15,
  maxNgramsPerWord: 24,
  maxWords: 48,
  minWordCount: 1,
};

export interface TrainEncoderResult {
  encoder: TextEncoder;
  /** Texts the pairs refer to: items first (catalog order), then distinct queries. */
  texts: string[];
  nItems: number;
  report: TrainReport;
}

export interface TrainReport {
  steps: number;
  seconds: number;
  /** Mean loss per type over the last epoch. */
  finalLoss: Partial<Record<LossType, number>>;
  vocab: number;
  /** Vocabulary words that had a pretrained vector. */
  pretrainedWords: number;
  losses: LossType[];
}

/**
 * Trains the shared query/item encoder with InfoNCE over in-batch negatives for each pair type
 * (q2i, i2i, q2q; each symmetric: a->b and b->a), summed. Seeded: the same data and options
 * give the same weights. Uses only `data` (the training view), never held-out items.
 */
export async function trainTextEncoder(
  data: EncoderTrainData,
  options: Partial<TrainEncoderOptions> = {},
): Promise<TrainEncoderResult> {
  const o: TrainEncoderOptions = { ...ENCODER_DEFAULTS, ...options };
  checkTrainOptions(o);
  const tf = await initTensorRuntime();
  const source = buildPairSource(data, data.items.map(itemText), I2I_SOURCES[o.i2i]);
  const losses = o.losses.filter((t) => source.has(t));
  if (losses.length === 0) {
    throw badInput(
      `none of the losses ${o.losses.join(', ')} has training pairs: the training view needs interactions (and co-occurring items for i2i/q2q)`,
    );
  }
  const vocab = buildVocab(source.texts, o.maxWords, o.minWordCount);
  const wordVectors = o.wordVectors ? await o.wordVectors(vocab) : undefined;
  const config: EncoderConfig = {
    dim: o.dim,
    wordDim: o.wordDim,
    hidden: o.hidden,
    pooling: o.pooling,
    ngrams: { sizes: o.ngramSizes, buckets: o.buckets, maxPerWord: o.maxNgramsPerWord },
    maxWords: o.maxWords,
    vocab,
  };
  checkEncoderConfig(config);
  const weights = initWeights(tf, config, o.seed, wordVectors);
  const model: TrainableModel = {
    config,
    weights,
    featurizer: new Featurizer(config),
    bag: new EmbeddingBag(weights.table, config.wordDim),
    optimizer: tf.train.adam(o.lr),
    tableOptimizer: new LazyAdam(weights.table, config.wordDim, o.lr),
  };
  const random = rng(o.seed);
  const interactions = data.sequences.reduce((s, seq) => s + seq.length, 0);
  const stepsPerEpoch = Math.max(1, Math.ceil(interactions / o.batchSize));
  const steps = o.epochs * stepsPerEpoch;
  const sums: Partial<Record<LossType, number>> = {};
  const bar = progress('embed', steps, 'steps');
  const start = performance.now();
  for (let step = 0; step < steps; step++) {
    if (step % stepsPerEpoch === 0) for (const t of losses) sums[t] = 0;
    const values = trainStep(tf, o, model, source, losses, random);
    for (const t of losses) sums[t]! += values[t]!;
    o.onStep?.(step, values);
    bar.tick(1, losses.map((t) => `${t} ${values[t]!.toFixed(3)}`).join(' '));
  }
  bar.stop();
  model.optimizer.dispose();
  const lastEpochSteps = steps - Math.floor((steps - 1) / stepsPerEpoch) * stepsPerEpoch;
  const finalLoss = steps ? Object.fromEntries(losses.map((t) => [t, sums[t]! / lastEpochSteps])) : {};
  const seconds = (performance.now() - start) / 1000;
  for (const v of Object.values(weights.params)) v.trainable = false;
  const report: TrainReport = {
    steps,
    seconds,
    finalLoss,
    vocab: vocab.length,
    pretrainedWords: wordVectors ? vocab.filter((w) => wordVectors.has(w)).length : 0,
    losses,
  };
  const { wordVectors: _w, onStep: _s, ...recorded } = o;
  const encoder = new TfTextEncoder(tf, config, weights, { ...report, options: { ...recorded, losses } });
  return { encoder, texts: source.texts, nItems: source.nItems, report };
}

function checkTrainOptions(o: TrainEncoderOptions): void {
  for (const key of ['batchSize', 'minWordCount'] as const) {
    if (!Number.isInteger(o[key]) || o[key] < 1) throw badInput(`${key} must be a positive integer, got ${o[key]}`);
  }
  // 0 epochs is allowed: the untrained encoder (word vectors + random layers) as a reference.
  if (!Number.isInteger(o.epochs) || o.epochs < 0) throw badInput(`epochs must be an integer >= 0, got ${o.epochs}`);
  if (!(o.lr > 0)) throw badInput(`lr must be positive, got ${o.lr}`);
  if (!I2I_SOURCE_NAMES.includes(o.i2i)) throw badInput(`i2i must be one of ${I2I_SOURCE_NAMES.join(', ')}, got "${o.i2i}"`);
  if (!(o.temperature > 0)) throw badInput(`temperature must be positive, got ${o.temperature}`);
  const bad = o.losses.find((t) => !LOSS_TYPES.includes(t));
  if (bad !== undefined || o.losses.length === 0) {
    throw badInput(`losses must be one or more of ${LOSS_TYPES.join(', ')}; got "${o.losses.join(',')}"`);
  }
}

/** Words with their own vector: frequent first, ties alphabetical, so the order is stable. */
function buildVocab(texts: readonly string[], maxWords: number, minCount: number): string[] {
  const counts = new Map<string, number>();
  for (const text of texts) for (const w of textWords(text, maxWords)) counts.set(w, (counts.get(w) ?? 0) + 1);
  return [...counts]
    .filter(([, c]) => c >= minCount)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([w]) => w);
}

/** Pair batches of one step, with the distinct texts they need numbered locally. */
interface StepBatch {
  texts: string[];
  /** a/b: global text numbers (for masking and logQ); la/lb: rows of the step's text batch. */
  pairs: { type: LossType; a: Int32Array; b: Int32Array; la: Int32Array; lb: Int32Array }[];
}

function stepBatch(o: TrainEncoderOptions, source: PairSource, losses: readonly LossType[], random: Rng): StepBatch {
  const local = new Map<number, number>();
  const texts: string[] = [];
  const localOf = (t: number): number => {
    let i = local.get(t);
    if (i === undefined) {
      i = texts.length;
      local.set(t, i);
      texts.push(source.texts[t]);
    }
    return i;
  };
  const pairs: StepBatch['pairs'] = [];
  for (const type of losses) {
    const drawn = source.sample(type, o.batchSize, random);
    const n = drawn.length / 2;
    if (n < 2) continue; // one pair has no negatives
    const a = Int32Array.from({ length: n }, (_, p) => drawn[2 * p]);
    const b = Int32Array.from({ length: n }, (_, p) => drawn[2 * p + 1]);
    pairs.push({ type, a, b, la: a.map(localOf), lb: b.map(localOf) });
  }
  return { texts, pairs };
}

/** InfoNCE of the logits as a tensor op whose value and gradient come from `symmetricInfoNce`. */
function infoNceOp(tf: Tf, logits: Tensor, a: Int32Array, b: Int32Array, logFrequency: Float32Array | undefined): Tensor {
  const n = a.length;
  const op = tf.customGrad((...inputs: (Tensor | GradSaveFunc)[]) => {
    const { loss, grad } = symmetricInfoNce((inputs[0] as Tensor).dataSync() as Float32Array, a, b, logFrequency);
    return { value: tf.scalar(loss), gradFunc: (dy: Tensor) => tf.mul(dy, tf.tensor2d(grad, [n, n])) };
  });
  return op(logits);
}

interface TrainableModel {
  config: EncoderConfig;
  weights: EncoderWeights;
  featurizer: Featurizer;
  bag: EmbeddingBag;
  optimizer: ReturnType<Tf['train']['adam']>;
  tableOptimizer: LazyAdam;
}

/**
 * Adam for the word/n-gram table, updating only the rows a step touched ("lazy" Adam, as for
 * sparse embeddings elsewhere): a batch uses a few thousand of its ~40k rows.
 */
class LazyAdam {
  readonly grad: Float32Array;
  readonly touched: Uint8Array;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private t = 0;

  constructor(
    private readonly table: Float32Array,
    private readonly d: number,
    private readonly lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.grad = new Float32Array(table.length);
    this.m = new Float32Array(table.length);
    this.v = new Float32Array(table.length);
    this.touched = new Uint8Array(table.length / d);
  }

  /** Applies and clears the accumulated gradient of the touched rows. */
  step(): void {
    this.t++;
    const { beta1: b1, beta2: b2, d, grad, m, v, table } = this;
    const c1 = 1 / (1 - b1 ** this.t);
    const c2 = 1 / (1 - b2 ** this.t);
    for (let row = 0; row < this.touched.length; row++) {
      if (!this.touched[row]) continue;
      this.touched[row] = 0;
      for (let i = row * d; i < (row + 1) * d; i++) {
        const g = grad[i];
        grad[i] = 0;
        m[i] = b1 * m[i] + (1 - b1) * g;
        v[i] = b2 * v[i] + (1 - b2) * g * g;
        table[i] -= (this.lr * m[i] * c1) / (Math.sqrt(v[i] * c2) + this.eps);
      }
    }
  }
}

/**
 * One optimisation step: the JS bag builds the pooling input, the tensor side computes the
 * losses and the gradients of the dense layers and of that input, which flows back into the
 * table's rows.
 */
function trainStep(
  tf: Tf,
  o: TrainEncoderOptions,
  model: TrainableModel,
  source: PairSource,
  losses: readonly LossType[],
  random: Rng,
): Partial<Record<LossType, number>> {
  const { config, weights, bag } = model;
  const batch = stepBatch(o, source, losses, random);
  const tb = model.featurizer.batch(batch.texts);
  const x = variableOf(tf, tf.tensor2d(bag.forward(tb, bag.wordVectors(tb)), [tb.n * tb.w, config.wordDim]), true);
  const parts: Tensor[] = [];
  const dense = Object.values(weights.params);
  const { value, grads } = tf.variableGrads(() => {
    const e = encodePooled(tf, config, weights.params, tb, x);
    let total: Tensor = tf.scalar(0);
    for (const p of batch.pairs) {
      const ea = tf.gather(e, tf.tensor1d(p.la, 'int32'));
      const eb = tf.gather(e, tf.tensor1d(p.lb, 'int32'));
      const logits = tf.div(matMulT(ea, eb), o.temperature);
      const loss = infoNceOp(tf, logits, p.a, p.b, o.logQ ? source.logFrequency : undefined);
      parts.push(tf.keep(loss));
      total = tf.add(total, tf.mul(loss, o.lossWeights[p.type] ?? 1));
    }
    return total as ReturnType<Tf['scalar']>;
  }, [...dense, x]);
  model.optimizer.applyGradients(dense.map((v) => ({ name: v.name, tensor: grads[v.name] })));
  bag.backward(tb, grads[x.name].dataSync() as Float32Array, model.tableOptimizer.grad, model.tableOptimizer.touched);
  model.tableOptimizer.step();
  tf.dispose([value, x, ...Object.values(grads)]);
  const values: Partial<Record<LossType, number>> = {};
  batch.pairs.forEach((p, i) => {
    values[p.type] = parts[i].dataSync()[0];
    parts[i].dispose();
  });
  // A type that drew too few pairs this step reports no loss; keep the key for the sums.
  for (const t of losses) values[t] ??= 0;
  return values;
}
