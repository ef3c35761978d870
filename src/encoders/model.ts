import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { Tensor, Variable } from '@tensorflow/tfjs';
import { badInput, GensearchError } from '../errors.js';
import { initTensorRuntime, type Tf } from '../tensor/runtime.js';
import { readFloat32Blob, readJsonFile, writeFloat32Blob, writeJsonFile } from './embfile.js';
import { checkNgramConfig, type NgramConfig, ngramBuckets, textWords } from './text.js';

/**
 * The shared query/item text encoder. A word is its own trainable vector (initialised from
 * wink word vectors when it has one) plus the mean of its hashed character n-gram vectors,
 * so unseen words and misspellings still land somewhere sensible. A text is the mean (or an
 * attention-weighted mean) of its word vectors, mapped by a residual MLP to `dim` and
 * L2-normalised. Queries and items go through the same weights: that is what aligns them.
 */
export interface EncoderConfig {
  /** Output dimension. */
  dim: number;
  /** Width of word and n-gram vectors (100 to take wink vectors). */
  wordDim: number;
  /** Hidden width of the MLP. */
  hidden: number;
  pooling: Pooling;
  ngrams: NgramConfig;
  /** Words beyond this many in one text are ignored (titles are short; this bounds batches). */
  maxWords: number;
  /** Words with their own vector; other words are represented by their n-grams alone. */
  vocab: string[];
}

export type Pooling = 'mean' | 'attention';
export const POOLINGS: readonly Pooling[] = ['mean', 'attention'];

export const ENCODER_FORMAT = 'gensearch-text-encoder';
export const ENCODER_FORMAT_VERSION = 1;
const WEIGHTS_FILE = 'weights.f32';
const CONFIG_FILE = 'encoder.json';

/** Parameter names and shapes, in the order they are stored. */
function parameterShapes(c: EncoderConfig): [string, number[]][] {
  const shapes: [string, number[]][] = [
    ['table', [c.vocab.length + c.ngrams.buckets, c.wordDim]],
    ['w1', [c.wordDim, c.hidden]],
    ['b1', [c.hidden]],
    ['w2', [c.hidden, c.dim]],
    ['wp', [c.wordDim, c.dim]],
  ];
  if (c.pooling === 'attention') shapes.push(['attn', [c.wordDim, 1]]);
  return shapes;
}

export function checkEncoderConfig(c: EncoderConfig): void {
  for (const key of ['dim', 'wordDim', 'hidden', 'maxWords'] as const) {
    if (!Number.isInteger(c[key]) || c[key] < 1) throw badInput(`encoder ${key} must be a positive integer, got ${c[key]}`);
  }
  if (!POOLINGS.includes(c.pooling)) throw badInput(`pooling must be one of ${POOLINGS.join(', ')}, got "${c.pooling}"`);
  checkNgramConfig(c.ngrams);
}

/**
 * Texts laid out for one pass. Words are deduplicated across the batch, so each distinct
 * word's vector is built once from its parts (its own row and its n-gram rows, compressed:
 * parts of word i are `partStart[i] .. partStart[i+1]`). Token t adds `tokenWeight[t]` x the
 * vector of word `tokenWord[t]` into row `tokenRow[t]` of the pooling input: for mean pooling
 * one row per text (weight 1/words), for attention one row per (text, word slot), `w` slots
 * per text, with `mask` marking the real ones.
 */
export interface TextBatch {
  n: number;
  /** Distinct words. */
  u: number;
  /** Word slots per text (1 for mean pooling). */
  w: number;
  partStart: Int32Array;
  partRows: Int32Array;
  partWeights: Float32Array;
  tokenWord: Int32Array;
  tokenRow: Int32Array;
  tokenWeight: Float32Array;
  /** n x w, 1 for a real word (attention only). */
  mask: Float32Array;
}

interface WordParts {
  rows: Int32Array;
  weights: Float32Array;
}

/** Turns texts into `TextBatch`es; remembers each word's parts (an instance cache, per encoder). */
export class Featurizer {
  private readonly vocabIndex: Map<string, number>;
  private readonly parts = new Map<string, WordParts>();

  constructor(private readonly config: EncoderConfig) {
    this.vocabIndex = new Map(config.vocab.map((w, i) => [w, i]));
  }

  wordParts(word: string): WordParts {
    let p = this.parts.get(word);
    if (p) return p;
    const buckets = ngramBuckets(word, this.config.ngrams);
    const own = this.vocabIndex.get(word);
    const extra = own === undefined ? 0 : 1;
    const rows = new Int32Array(buckets.length + extra);
    const weights = new Float32Array(buckets.length + extra);
    if (own !== undefined) {
      rows[0] = own;
      weights[0] = 1;
    }
    const base = this.config.vocab.length;
    for (let i = 0; i < buckets.length; i++) {
      rows[extra + i] = base + buckets[i];
      weights[extra + i] = 1 / buckets.length;
    }
    p = { rows, weights };
    this.parts.set(word, p);
    return p;
  }

  batch(texts: readonly string[]): TextBatch {
    const words = texts.map((t) => textWords(t, this.config.maxWords));
    const attention = this.config.pooling === 'attention';
    const slot = new Map<string, number>();
    const distinct: WordParts[] = [];
    let w = 1;
    let nTokens = 0;
    let nParts = 0;
    for (const ws of words) {
      w = Math.max(w, ws.length);
      nTokens += ws.length;
      for (const word of ws) {
        if (slot.has(word)) continue;
        const p = this.wordParts(word);
        slot.set(word, distinct.length);
        distinct.push(p);
        nParts += p.rows.length;
      }
    }
    if (!attention) w = 1;
    const u = distinct.length;
    const partStart = new Int32Array(u + 1);
    const partRows = new Int32Array(nParts);
    const partWeights = new Float32Array(nParts);
    distinct.forEach((p, i) => {
      partRows.set(p.rows, partStart[i]);
      partWeights.set(p.weights, partStart[i]);
      partStart[i + 1] = partStart[i] + p.rows.length;
    });
    const n = texts.length;
    const tokenWord = new Int32Array(nTokens);
    const tokenRow = new Int32Array(nTokens);
    const tokenWeight = new Float32Array(nTokens);
    const mask = new Float32Array(attention ? n * w : 0);
    let t = 0;
    words.forEach((ws, i) => {
      ws.forEach((word, j) => {
        tokenWord[t] = slot.get(word)!;
        tokenRow[t] = attention ? i * w + j : i;
        tokenWeight[t] = attention ? 1 : 1 / ws.length;
        if (attention) mask[i * w + j] = 1;
        t++;
      });
    });
    return { n, u, w, partStart, partRows, partWeights, tokenWord, tokenRow, tokenWeight, mask };
  }
}

/**
 * The word/n-gram table and its bag-of-parts sums, in plain JS. A step touches a few thousand
 * of the ~43k rows: here the gradient stays sparse and the optimizer updates only those rows,
 * where a tensor table would get a dense 43k x 100 gradient and a dense Adam update every
 * step (and the stock wasm gather copied element by element, ~90 ns per float, when this was
 * written). The tensor side starts at the pooling input and hands back its gradient.
 */
export class EmbeddingBag {
  constructor(
    readonly table: Float32Array,
    readonly d: number,
  ) {}

  /** Word vectors of the batch (u x d): the weighted sums of their parts. */
  wordVectors(b: TextBatch): Float32Array {
    const { d, table } = this;
    const out = new Float32Array(b.u * d);
    for (let i = 0; i < b.u; i++) {
      const o = i * d;
      for (let p = b.partStart[i]; p < b.partStart[i + 1]; p++) {
        const r = b.partRows[p] * d;
        const wt = b.partWeights[p];
        for (let j = 0; j < d; j++) out[o + j] += wt * table[r + j];
      }
    }
    return out;
  }

  /** The pooling input: rows of weighted word vectors ((n or n*w) x d). */
  forward(b: TextBatch, wordVecs: Float32Array): Float32Array {
    const d = this.d;
    const out = new Float32Array(b.n * b.w * d);
    for (let t = 0; t < b.tokenWord.length; t++) {
      const o = b.tokenRow[t] * d;
      const s = b.tokenWord[t] * d;
      const wt = b.tokenWeight[t];
      for (let j = 0; j < d; j++) out[o + j] += wt * wordVecs[s + j];
    }
    return out;
  }

  /** Adds the table gradient for `gradOut` (the gradient of the pooling input) into `grad`; marks touched rows. */
  backward(b: TextBatch, gradOut: Float32Array, grad: Float32Array, touched: Uint8Array): void {
    const d = this.d;
    const gWord = new Float32Array(b.u * d);
    for (let t = 0; t < b.tokenWord.length; t++) {
      const o = b.tokenRow[t] * d;
      const s = b.tokenWord[t] * d;
      const wt = b.tokenWeight[t];
      for (let j = 0; j < d; j++) gWord[s + j] += wt * gradOut[o + j];
    }
    for (let i = 0; i < b.u; i++) {
      const s = i * d;
      for (let p = b.partStart[i]; p < b.partStart[i + 1]; p++) {
        const row = b.partRows[p];
        const r = row * d;
        const wt = b.partWeights[p];
        touched[row] = 1;
        for (let j = 0; j < d; j++) grad[r + j] += wt * gWord[s + j];
      }
    }
  }
}

export type Params = Record<string, Variable>;

/**
 * Tensor part of the forward pass, from the pooling input `x` ((n or n*w) x d, see
 * `TextBatch`) to [n, dim] L2-normalised rows. Call inside tf.tidy or a gradient function.
 */
export function encodePooled(tf: Tf, config: EncoderConfig, params: Params, b: TextBatch, x: Tensor): Tensor {
  const d = config.wordDim;
  let pooled = x;
  if (config.pooling === 'attention') {
    const logits = tf.reshape(tf.matMul(x, params.attn), [b.n, b.w]);
    // Padding gets -1e9 so it takes no weight (an empty text pools zero vectors: still zero).
    const weights = tf.softmax(tf.add(logits, tf.mul(tf.sub(tf.tensor2d(b.mask, [b.n, b.w]), 1), 1e9)));
    pooled = tf.sum(tf.mul(tf.reshape(x, [b.n, b.w, d]), tf.expandDims(weights, 2)), 1);
  }
  const hidden = tf.relu(tf.add(tf.matMul(pooled, params.w1), params.b1));
  const out = tf.add(tf.matMul(pooled, params.wp), tf.matMul(hidden, params.w2));
  return tf.mul(out, tf.rsqrt(tf.add(tf.sum(tf.square(out), 1, true), 1e-12)));
}

/**
 * A variable holding `value`, which is disposed: tf.variable keeps its own reference to the
 * data, so the initial tensor would otherwise leak (once per training step for the input).
 */
export function variableOf(tf: Tf, value: Tensor, trainable: boolean): Variable {
  const v = tf.variable(value, trainable);
  value.dispose();
  return v;
}

/** The table lives in JS (see `EmbeddingBag`), the dense layers on the tensor backend. */
export interface EncoderWeights {
  table: Float32Array;
  params: Params;
}

/** Fresh weights: word rows from `wordVectors` where given, seeded random elsewhere. */
export function initWeights(tf: Tf, config: EncoderConfig, seed: number, wordVectors?: ReadonlyMap<string, Float32Array>): EncoderWeights {
  const params: Params = {};
  let table: Float32Array = new Float32Array(0);
  parameterShapes(config).forEach(([name, shape], i) => {
    if (name === 'table') {
      table = initTable(tf, config, seed, wordVectors);
      return;
    }
    const init = name === 'b1' ? tf.zeros(shape) : tf.randomNormal(shape, 0, Math.sqrt(1 / shape[0]), 'float32', seed * 31 + i);
    params[name] = variableOf(tf, init, true);
  });
  return { table, params };
}

function initTable(tf: Tf, config: EncoderConfig, seed: number, wordVectors?: ReadonlyMap<string, Float32Array>): Float32Array {
  const { vocab, wordDim: d } = config;
  const noise = tf.randomNormal([vocab.length + config.ngrams.buckets, d], 0, 0.1, 'float32', seed);
  const data = noise.dataSync() as Float32Array;
  noise.dispose();
  if (wordVectors) {
    // Unit-length pretrained rows; words without one start at zero and live on their n-grams.
    vocab.forEach((word, i) => {
      const v = wordVectors.get(word);
      if (v === undefined) {
        data.fill(0, i * d, (i + 1) * d);
        return;
      }
      if (v.length !== d) throw badInput(`word vector for "${word}" has ${v.length} values; the encoder's wordDim is ${d}`);
      let norm = 0;
      for (const x of v) norm += x * x;
      const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
      for (let j = 0; j < d; j++) data[i * d + j] = v[j] * scale;
    });
  }
  return data;
}

/** What training recorded about itself, kept with the weights. */
export type TrainingInfo = Record<string, unknown>;

/** A trained encoder: queries and items in, aligned L2-normalised vectors out. */
export interface TextEncoder {
  readonly dim: number;
  readonly config: EncoderConfig;
  /** Content hash of config and weights: embeddings record it so stale files are caught. */
  readonly version: string;
  readonly training: TrainingInfo;
  /** texts.length x dim, row-major, every row of unit length. */
  encode(texts: readonly string[]): Float32Array;
  save(dir: string): void;
  dispose(): void;
}

/** Rows per forward pass when encoding: bounds memory, large enough to keep matmuls efficient. */
const ENCODE_CHUNK = 1024;

export class TfTextEncoder implements TextEncoder {
  readonly dim: number;
  readonly version: string;
  private readonly featurizer: Featurizer;

  private readonly bag: EmbeddingBag;

  constructor(
    private readonly tf: Tf,
    readonly config: EncoderConfig,
    private readonly weights: EncoderWeights,
    readonly training: TrainingInfo,
  ) {
    this.dim = config.dim;
    this.featurizer = new Featurizer(config);
    this.bag = new EmbeddingBag(weights.table, config.wordDim);
    const h = createHash('sha256').update(JSON.stringify(config));
    h.update(this.weightData());
    this.version = h.digest('hex').slice(0, 16);
  }

  encode(texts: readonly string[]): Float32Array {
    const out = new Float32Array(texts.length * this.dim);
    for (let from = 0; from < texts.length; from += ENCODE_CHUNK) {
      const batch = this.featurizer.batch(texts.slice(from, from + ENCODE_CHUNK));
      const x = this.bag.forward(batch, this.bag.wordVectors(batch));
      const rows = this.tf.tidy(() =>
        encodePooled(this.tf, this.config, this.weights.params, batch, this.tf.tensor2d(x, [batch.n * batch.w, this.config.wordDim])),
      );
      out.set(rows.dataSync() as Float32Array, from * this.dim);
      rows.dispose();
    }
    return out;
  }

  private weightData(): Float32Array {
    const shapes = parameterShapes(this.config);
    const total = shapes.reduce((s, [, shape]) => s + shape.reduce((a, b) => a * b, 1), 0);
    const data = new Float32Array(total);
    let offset = 0;
    for (const [name] of shapes) {
      const values = name === 'table' ? this.weights.table : (this.weights.params[name].dataSync() as Float32Array);
      data.set(values, offset);
      offset += values.length;
    }
    return data;
  }

  /** Writes `encoder.json` (config, training record, checksum) and `weights.f32` into `dir`. */
  save(dir: string): void {
    const blob = writeFloat32Blob(join(dir, WEIGHTS_FILE), this.weightData());
    writeJsonFile(join(dir, CONFIG_FILE), {
      format: ENCODER_FORMAT,
      formatVersion: ENCODER_FORMAT_VERSION,
      version: this.version,
      config: this.config,
      parameters: parameterShapes(this.config).map(([name, shape]) => ({ name, shape })),
      weights: WEIGHTS_FILE,
      ...blob,
      training: this.training,
    });
  }

  dispose(): void {
    for (const v of Object.values(this.weights.params)) v.dispose();
  }
}

/** Loads an encoder saved by `TextEncoder.save`, checking format, shapes and checksum. */
export async function loadTextEncoder(dir: string): Promise<TextEncoder> {
  const path = join(dir, CONFIG_FILE);
  const m = readJsonFile(path, 'text encoder') as {
    format?: string;
    formatVersion?: number;
    config?: EncoderConfig;
    parameters?: { name: string; shape: number[] }[];
    weights?: string;
    bytes?: number;
    checksum?: string;
    training?: TrainingInfo;
  };
  if (m?.format !== ENCODER_FORMAT) throw badInput(`${path} is not a text encoder: expected "format": "${ENCODER_FORMAT}"`);
  if (m.formatVersion !== ENCODER_FORMAT_VERSION) {
    throw badInput(`${path} has format version ${m.formatVersion}; this build reads ${ENCODER_FORMAT_VERSION}: retrain with \`gensearch embed\``);
  }
  if (!m.config || !m.weights || typeof m.bytes !== 'number' || typeof m.checksum !== 'string') {
    throw badInput(`${path} lacks config, weights, bytes or checksum; retrain with \`gensearch embed\``);
  }
  checkEncoderConfig(m.config);
  const shapes = parameterShapes(m.config);
  if (JSON.stringify(shapes.map(([name, shape]) => ({ name, shape }))) !== JSON.stringify(m.parameters)) {
    throw badInput(`${path}: stored parameter shapes do not match its config; the file was edited or is from another build`);
  }
  const data = readFloat32Blob(join(dir, m.weights), { bytes: m.bytes, checksum: m.checksum }, `encoder ${path}`);
  const tf = await initTensorRuntime();
  const weights: EncoderWeights = { table: new Float32Array(0), params: {} };
  let offset = 0;
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (offset + size > data.length) throw new GensearchError('INTERNAL', `${path}: weights end before parameter ${name}`);
    const values = data.subarray(offset, offset + size);
    if (name === 'table') weights.table = values;
    else weights.params[name] = variableOf(tf, tf.tensor(values, shape), false);
    offset += size;
  }
  return new TfTextEncoder(tf, m.config, weights, m.training ?? {});
}
