import * as tf from '@tensorflow/tfjs';
import { badInput, GensearchError } from '../errors.js';
import type { HostBatch, Objective, ObjectiveSpec } from '../tensor/objective.js';
import { toTensor } from '../tensor/objective.js';
import type { Rng } from '../tensor/rng.js';
import { matMulT } from '../tensor/runtime.js';
import { causalBias, type KeyValues, paddingBias } from './attention.js';
import { type ProfileName, type TransformerConfig, transformerConfig, validateTransformerConfig } from './config.js';
import { dropout, EVAL, type ForwardContext, gatherRows, initLinear, linear, type LinearParams } from './layers.js';
import { crossEntropySum, logSoftmax } from './loss.js';
import { normalInit } from './params.js';
import { type BlockCache, initStack, type StackParams, stack } from './transformer.js';

/**
 * The generative retriever: a BART-like encoder-decoder that reads a prompt (task, user,
 * query, the query's SID, recent items) and writes an item's semantic ID token by token.
 *
 * One embedding table holds every token: specials, task tokens, text pieces (a BPE tokenizer)
 * and one range per SID position. The output layer is that table (tied): a SID position's
 * softmax runs over its own range only (the other ranges are masked), and text targets
 * (stage-1/2 tasks that write a category or a query) over the text range plus end-of-text.
 *
 * A history item enters the encoder as ONE vector, the sum of its SID tokens' embeddings
 * (plus, optionally, an item-ID embedding), not as five tokens: the prompt stays short.
 */

/** Prompt tasks (the first encoder token). Stage 1: item2sid, sid2cat, query2qsid; stage 2: query2item, item2query, item2next; stage 3: personal. */
export const TASKS = ['item2sid', 'sid2cat', 'query2qsid', 'query2item', 'item2query', 'item2next', 'personal'] as const;
export type Task = (typeof TASKS)[number];

/** Slot types of the encoder input (added as a type embedding); `visual` exists only in photo models. */
export const SLOT = { task: 0, user: 1, text: 2, sid: 3, item: 4, visual: 5 } as const;
const SLOT_TYPES = 5;
/** Pooled user vectors after the task token: short-term (last 5 items) and long-term (all). */
export const USER_SLOTS = 2;
export const SHORT_TERM = 5;

export interface GenerativeConfig {
  encoder: TransformerConfig;
  decoder: TransformerConfig;
  /** Text pieces of the tokenizer. */
  textVocab: number;
  /** Codes at each SID position (RQ levels, then OPQ sub-codes). */
  sidSizes: number[];
  nItems: number;
  /** Add a learned per-item vector to each history item's SID-sum vector. */
  itemEmbedding: boolean;
  /**
   * Item head (needs `itemEmbedding`): the decoder's start-of-SID state also scores every item
   * against the per-item vectors, trained by a full-softmax cross-entropy over the items with
   * this weight, next to the SID tokens' (absent or 0: no head). It adds no parameters. At
   * decoding its log-probability joins each beam item's SID log-probability (`itemWeight` in
   * src/decode/generate.ts): the SID names a cell of similar items, the head picks within and
   * across cells with what the per-item vectors keep (co-purchase) and SIDs blur.
   */
  itemHead?: number;
  /**
   * The head scores each item against its whole history vector, the sum of its SID tokens' rows
   * plus its own row, rather than its own row alone (needs `itemHead`; adds no parameters). An
   * item seen rarely then inherits what its SID cell learned; the SID rows also learn from the
   * head's loss.
   */
  headSidRows?: boolean;
  /** Most recent items in the prompt. */
  maxHistory: number;
  /** Most text pieces in the prompt (query or item text). */
  maxPromptText: number;
  /** Most pieces of a text target (plus end-of-text). */
  maxTextTarget: number;
  /**
   * Photo input (OneVision): a photo's image-encoder embedding (`dim` numbers) is projected into
   * `tokens` visual tokens placed right after the user slots. Absent for text-only models.
   */
  visual?: VisualInput;
}

export interface VisualInput {
  dim: number;
  tokens: number;
}

/** Where each kind of token lives in the one table. */
export interface VocabLayout {
  pad: number;
  bosSid: number;
  bosText: number;
  taskBase: number;
  /** End of text; the text output range is [eos, textBase + textVocab). */
  eos: number;
  textBase: number;
  sidBase: number;
  /** Start of each SID position's range relative to sidBase. */
  sidOffsets: number[];
  sidVocab: number;
  size: number;
}

export function vocabLayout(cfg: Pick<GenerativeConfig, 'textVocab' | 'sidSizes'>): VocabLayout {
  const taskBase = 3;
  const eos = taskBase + TASKS.length;
  const textBase = eos + 1;
  const sidBase = textBase + cfg.textVocab;
  const sidOffsets: number[] = [];
  let at = 0;
  for (const k of cfg.sidSizes) {
    sidOffsets.push(at);
    at += k;
  }
  return { pad: 0, bosSid: 1, bosText: 2, taskBase, eos, textBase, sidBase, sidOffsets, sidVocab: at, size: sidBase + at };
}

export function taskToken(layout: VocabLayout, task: Task): number {
  return layout.taskBase + TASKS.indexOf(task);
}

/** Model sizes: tiny for tests, small for the demo, base for benchmarks (TIGER's 4+4 layers, d=128). */
export const GENERATIVE_PROFILES: Readonly<Record<ProfileName, { encoder: Partial<TransformerConfig>; decoder: Partial<TransformerConfig> }>> = {
  tiny: { encoder: { dModel: 32, nHeads: 2, nLayers: 1, dFF: 64, dropout: 0, attnDropout: 0 }, decoder: { dModel: 32, nHeads: 2, nLayers: 1, dFF: 64, dropout: 0, attnDropout: 0 } },
  small: { encoder: { dModel: 64, nHeads: 2, nLayers: 2, dFF: 256, dropout: 0.1, attnDropout: 0.1 }, decoder: { dModel: 64, nHeads: 2, nLayers: 2, dFF: 256, dropout: 0.1, attnDropout: 0.1 } },
  base: { encoder: { dModel: 128, nHeads: 4, nLayers: 4, dFF: 512, dropout: 0.1, attnDropout: 0.1 }, decoder: { dModel: 128, nHeads: 4, nLayers: 4, dFF: 512, dropout: 0.1, attnDropout: 0.1 } },
};

export interface GenerativeShape {
  profile: ProfileName;
  /** Overrides of both stacks (dModel, nLayers, dropout, ...). */
  overrides?: Partial<TransformerConfig>;
  /** Separate decoder depth (default: the encoder's). */
  decoderLayers?: number;
  textVocab: number;
  sidSizes: number[];
  nItems: number;
  itemEmbedding?: boolean;
  itemHead?: number;
  headSidRows?: boolean;
  maxHistory?: number;
  maxPromptText?: number;
  maxTextTarget?: number;
  visual?: VisualInput;
}

/** A full config from a profile and the data's sizes, checked. */
export function generativeConfig(shape: GenerativeShape): GenerativeConfig {
  const prof = GENERATIVE_PROFILES[shape.profile];
  if (!prof) throw badInput(`unknown model profile "${shape.profile}": expected one of ${Object.keys(GENERATIVE_PROFILES).join(', ')}`);
  const maxHistory = shape.maxHistory ?? 20;
  const maxPromptText = shape.maxPromptText ?? 24;
  const maxTextTarget = shape.maxTextTarget ?? 12;
  const width = shape.sidSizes.length;
  const encLen = Math.max(maxHistory, maxPromptText, width, USER_SLOTS, shape.visual?.tokens ?? 0);
  const encoder = transformerConfig(shape.profile, { ...prof.encoder, ...shape.overrides, maxLen: encLen });
  const decoder = transformerConfig(shape.profile, {
    ...prof.decoder,
    ...shape.overrides,
    nLayers: shape.decoderLayers ?? shape.overrides?.nLayers ?? prof.decoder.nLayers,
    maxLen: Math.max(width, maxTextTarget + 1),
  });
  const cfg: GenerativeConfig = {
    encoder,
    decoder,
    textVocab: shape.textVocab,
    sidSizes: [...shape.sidSizes],
    nItems: shape.nItems,
    itemEmbedding: shape.itemEmbedding ?? false,
    maxHistory,
    maxPromptText,
    maxTextTarget,
  };
  // Only when set: the config is part of a run's identity, and older runs must still resume.
  if (shape.itemHead) cfg.itemHead = shape.itemHead;
  if (shape.headSidRows) cfg.headSidRows = true;
  if (shape.visual) cfg.visual = { ...shape.visual };
  validateGenerativeConfig(cfg);
  return cfg;
}

export function validateGenerativeConfig(cfg: GenerativeConfig): void {
  validateTransformerConfig(cfg.encoder);
  validateTransformerConfig(cfg.decoder);
  if (cfg.encoder.dModel !== cfg.decoder.dModel) {
    throw badInput(`encoder and decoder widths differ (${cfg.encoder.dModel} vs ${cfg.decoder.dModel}); they share one embedding table`);
  }
  if (cfg.sidSizes.length === 0 || cfg.sidSizes.some((k) => !Number.isInteger(k) || k < 1)) {
    throw badInput(`SID sizes must be positive integers, one per position; got [${cfg.sidSizes.join(', ')}]`);
  }
  for (const key of ['textVocab', 'nItems', 'maxHistory', 'maxPromptText', 'maxTextTarget'] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] < 1) throw badInput(`generative config ${key} must be a positive integer; got ${cfg[key]}`);
  }
  if (cfg.itemHead !== undefined && !(cfg.itemHead >= 0 && Number.isFinite(cfg.itemHead))) throw badInput(`itemHead must be a weight >= 0; got ${cfg.itemHead}`);
  if (cfg.itemHead && !cfg.itemEmbedding) throw badInput('an item head scores items against the per-item vectors: it needs itemEmbedding=true');
  if (cfg.headSidRows && !cfg.itemHead) throw badInput('headSidRows changes the item head\'s item vectors: it needs itemHead > 0');
  if (cfg.visual && ![cfg.visual.dim, cfg.visual.tokens].every((n) => Number.isInteger(n) && n >= 1)) {
    throw badInput(`visual input needs positive integer dim and tokens; got ${JSON.stringify(cfg.visual)}`);
  }
}

export interface GenerativeParams {
  /** Every token: [layout.size, d]. */
  tok: tf.Tensor;
  /** Slot-type embeddings [SLOT_TYPES, d]. */
  type: tf.Tensor;
  /** Encoder positions (within a segment; items by recency) [encoder.maxLen, d]. */
  encPos: tf.Tensor;
  decPos: tf.Tensor;
  enc: StackParams;
  dec: StackParams;
  /** Per-item vectors [nItems, d], when `itemEmbedding`. */
  item?: tf.Tensor;
  /** Photo embedding -> visual tokens [dim, tokens * d], when `visual`. */
  visual?: LinearParams;
}

/**
 * Fresh parameters. `sidRows` ([sidVocab, d], row-major), when given, replaces the random rows
 * of the SID tokens: a warm start from the vectors the SIDs quantize (see `sidInitRows` in
 * src/tasks/train.ts), so an item's SID-sum vector starts near its aligned embedding.
 * `itemRows` ([nItems, d]) likewise starts the per-item vectors (see `itemInitRows`).
 */
export function initGenerative(cfg: GenerativeConfig, rng: Rng, sidRows?: Float32Array, itemRows?: Float32Array): GenerativeParams {
  const d = cfg.encoder.dModel;
  const std = cfg.encoder.initStd;
  const layout = vocabLayout(cfg);
  let tok = normalInit(rng, [layout.size, d], std);
  if (sidRows) {
    if (sidRows.length !== layout.sidVocab * d) {
      throw badInput(`SID warm-start rows hold ${sidRows.length} values; expected ${layout.sidVocab} x ${d}`);
    }
    // Spliced on the backend: reading the table back is not possible on every backend.
    const random = tok;
    const after = layout.sidBase + layout.sidVocab;
    tok = tf.tidy(() =>
      tf.concat([tf.slice(random, [0, 0], [layout.sidBase, d]), tf.tensor2d(sidRows, [layout.sidVocab, d]), tf.slice(random, [after, 0], [layout.size - after, d])]),
    );
    random.dispose();
  }
  const p: GenerativeParams = {
    tok,
    type: normalInit(rng, [SLOT_TYPES + (cfg.visual ? 1 : 0), d], std),
    encPos: normalInit(rng, [cfg.encoder.maxLen, d], std),
    decPos: normalInit(rng, [cfg.decoder.maxLen, d], std),
    enc: initStack(rng, cfg.encoder),
    dec: initStack(rng, cfg.decoder, { cross: true }),
  };
  if (itemRows && !cfg.itemEmbedding) throw badInput('item warm-start rows were given, but the model has no item embedding (itemEmbedding=true)');
  if (itemRows && itemRows.length !== cfg.nItems * d) throw badInput(`item warm-start rows hold ${itemRows.length} values; expected ${cfg.nItems} x ${d}`);
  if (cfg.itemEmbedding) p.item = itemRows ? tf.tensor2d(itemRows, [cfg.nItems, d]) : normalInit(rng, [cfg.nItems, d], std);
  if (cfg.visual) p.visual = initLinear(rng, cfg.visual.dim, cfg.visual.tokens * d, std);
  return p;
}

/**
 * The encoder input of a batch as host arrays (built by `packPrompts` in src/tasks/prompt.ts):
 * - `tok` [B, Lt]: token segment (task, user placeholders, text pieces, SID tokens), pad 0;
 * - `hist` [B, Lh, W]: SID tokens (table ids) of each history item slot; `histItem` [B, Lh]
 *   its item index (for the item embedding; any value in pads);
 * - `pos`, `type` [B, Lt + Lh]; `mask` [B, Lt + Lh] 1 for real slots;
 * - `userMix` [B, USER_SLOTS, Lh]: weights pooling item slots into the user slots;
 * - photo models only: `visual` [B, dim], the photo embedding of each prompt (zeros and masked
 *   slots when a prompt has none), added through the projection to the visual-token slots;
 * - models with `headSidRows` only: `catalog` [nItems, W], every item's SID tokens (table ids),
 *   the same for every batch, for the head's item vectors.
 */
export const ENCODER_KEYS = ['tok', 'hist', 'histItem', 'pos', 'type', 'mask', 'userMix', 'visual', 'catalog'] as const;

/**
 * Encoder output [B, L, d] and the padding bias for attending to it; with an item head, the
 * item vectors [nItems, d] it scores against (`headItems`).
 */
export interface Encoded {
  memory: tf.Tensor;
  bias: tf.Tensor;
  items?: tf.Tensor;
}

/** The vectors the item head scores against: the per-item rows, plus with `headSidRows` the SID rows. */
function headItems(p: GenerativeParams, cfg: GenerativeConfig, batch: HostBatch): tf.Tensor | undefined {
  if (!cfg.itemHead || !p.item) return undefined;
  if (!cfg.headSidRows) return p.item;
  if (!batch.catalog) throw new GensearchError('INTERNAL', 'a model whose head reads the SID rows was given prompts packed without the catalog');
  const [n, w] = batch.catalog.shape as [number, number];
  const sidSum = tf.sum(tf.reshape(tf.gather(p.tok, tf.reshape(toTensor(batch.catalog), [-1])), [n, w, cfg.decoder.dModel]), 1);
  return tf.add(sidSum, p.item);
}

export function encode(p: GenerativeParams, cfg: GenerativeConfig, batch: HostBatch, ctx: ForwardContext): Encoded {
  const d = cfg.encoder.dModel;
  const tok = toTensor(batch.tok);
  const hist = toTensor(batch.hist);
  const [b, lt] = tok.shape as [number, number];
  const [, lh, w] = hist.shape as [number, number, number];
  let x = tf.reshape(tf.gather(p.tok, tf.reshape(tok, [-1])), [b, lt, d]);
  if (p.visual && cfg.visual) {
    if (!batch.visual) throw new GensearchError('INTERNAL', 'a photo model was given prompts packed without the visual input');
    // Visual tokens sit right after the task token and the user slots.
    const t = cfg.visual.tokens;
    const from = 1 + USER_SLOTS;
    const v = tf.reshape(linear(p.visual, toTensor(batch.visual)), [b, t, d]);
    const parts = [tf.slice(x, [0, 0, 0], [b, from, d]), tf.add(tf.slice(x, [0, from, 0], [b, t, d]), v)];
    if (lt > from + t) parts.push(tf.slice(x, [0, from + t, 0], [b, lt - from - t, d]));
    x = tf.concat(parts, 1);
  }
  if (lh > 0) {
    // A history item is one vector: the sum of its SID tokens' rows (+ its own row).
    let xItem = tf.sum(tf.reshape(tf.gather(p.tok, tf.reshape(hist, [-1])), [b, lh, w, d]), 2);
    if (p.item) xItem = tf.add(xItem, tf.reshape(tf.gather(p.item, tf.reshape(toTensor(batch.histItem), [-1])), [b, lh, d]));
    // The user slots (right after the task token) add pooled item vectors.
    const user = tf.matMul(toTensor(batch.userMix), xItem); // [B, USER_SLOTS, d]
    const rest = lt - 1 - USER_SLOTS;
    const parts = [tf.slice(x, [0, 0, 0], [b, 1, d]), tf.add(tf.slice(x, [0, 1, 0], [b, USER_SLOTS, d]), user)];
    if (rest > 0) parts.push(tf.slice(x, [0, 1 + USER_SLOTS, 0], [b, rest, d]));
    x = tf.concat([...parts, xItem], 1);
  } else if (p.item) {
    // No history in this batch: keep the item table in the graph (a zero gradient), or
    // autodiff refuses a parameter the loss does not reach.
    x = tf.add(x, tf.mul(tf.slice(p.item, [0, 0], [1, d]), 0));
  }
  const l = lt + lh;
  x = tf.add(x, tf.reshape(tf.gather(p.encPos, tf.reshape(toTensor(batch.pos), [-1])), [b, l, d]));
  x = tf.add(x, tf.reshape(tf.gather(p.type, tf.reshape(toTensor(batch.type), [-1])), [b, l, d]));
  x = dropout(x, cfg.encoder.dropout, ctx);
  const bias = paddingBias(toTensor(batch.mask));
  return { memory: stack(p.enc, x, { self: bias }, cfg.encoder, ctx), bias, items: headItems(p, cfg, batch) };
}

/** Decoder token ids [B, L] at positions `start`.. -> embeddings [B, L, d]. */
function decoderInput(p: GenerativeParams, cfg: GenerativeConfig, tokens: tf.Tensor, start: number): tf.Tensor {
  const [b, l] = tokens.shape as [number, number];
  const d = cfg.decoder.dModel;
  const x = tf.reshape(tf.gather(p.tok, tf.reshape(tokens, [-1])), [b, l, d]);
  return tf.add(x, tf.slice(p.decPos, [start, 0], [l, d]));
}

/** Additive masks [W, sidVocab]: row p is 0 on position p's range, MASKED elsewhere. */
function sidRangeBias(cfg: GenerativeConfig, layout: VocabLayout): Float32Array {
  const v = layout.sidVocab;
  const out = new Float32Array(cfg.sidSizes.length * v).fill(-1e9);
  cfg.sidSizes.forEach((k, pIdx) => {
    out.fill(0, pIdx * v + layout.sidOffsets[pIdx], pIdx * v + layout.sidOffsets[pIdx] + k);
  });
  return out;
}

/** The SID rows of the tied table [sidVocab, d]. */
function sidTable(p: GenerativeParams, layout: VocabLayout, d: number): tf.Tensor {
  return tf.slice(p.tok, [layout.sidBase, 0], [layout.sidVocab, d]);
}

/** The text output rows: end-of-text then every piece [1 + textVocab, d]. */
function textTable(p: GenerativeParams, layout: VocabLayout, cfg: GenerativeConfig, d: number): tf.Tensor {
  return tf.slice(p.tok, [layout.eos, 0], [1 + cfg.textVocab, d]);
}

/**
 * Training batch = encoder keys plus:
 * - `dec` [B, Ld]: decoder inputs (BOS, then the target tokens shifted right);
 * - `sidAt`, `sidTarget`, `sidLevel` [N1]: flat decoder positions with a SID target, the
 *   target (0..sidVocab-1) and its SID position (selects the softmax range);
 * - `textAt`, `textTarget` [N2]: the same for text targets (0 = end of text, 1 + piece);
 * - models with an item head: `itemAt`, `itemTarget` [N3], the flat start-of-SID position of
 *   each row whose target is an item, and that item.
 */
export function generativeObjective(cfg: GenerativeConfig): Objective<GenerativeParams> {
  const layout = vocabLayout(cfg);
  const rangeBias = sidRangeBias(cfg, layout);
  const d = cfg.decoder.dModel;
  return {
    init: (rng) => initGenerative(cfg, rng),
    terms: (batch) => batch.sidTarget.data.length + batch.textTarget.data.length,
    loss: (p, batch, ctx) => {
      const enc = encode(p, cfg, batch, ctx);
      const dec = toTensor(batch.dec);
      const ld = dec.shape[1] as number;
      const x = dropout(decoderInput(p, cfg, dec, 0), cfg.decoder.dropout, ctx);
      const h = tf.reshape(stack(p.dec, x, { self: causalBias(ld), cross: { memory: enc.memory, bias: enc.bias } }, cfg.decoder, ctx), [-1, d]);
      let loss: tf.Scalar = tf.scalar(0);
      if (batch.sidTarget.data.length > 0) {
        const hs = tf.gather(h, toTensor(batch.sidAt));
        const bias = tf.gather(tf.tensor2d(rangeBias, [cfg.sidSizes.length, layout.sidVocab]), toTensor(batch.sidLevel));
        loss = tf.add(loss, crossEntropySum(tf.add(matMulT(hs, sidTable(p, layout, d)), bias), toTensor(batch.sidTarget)));
      }
      if (batch.textTarget.data.length > 0) {
        const ht = tf.gather(h, toTensor(batch.textAt));
        loss = tf.add(loss, crossEntropySum(matMulT(ht, textTable(p, layout, cfg, d)), toTensor(batch.textTarget)));
      }
      if (cfg.itemHead && enc.items && batch.itemTarget && batch.itemTarget.data.length > 0) {
        const hi = tf.gather(h, toTensor(batch.itemAt));
        loss = tf.add(loss, tf.mul(crossEntropySum(matMulT(hi, enc.items), toTensor(batch.itemTarget)), cfg.itemHead));
      }
      return loss;
    },
    forwardFlops: (batch) => generativeForwardFlops(cfg, batch),
  };
}

/** The objective as trainer workers load it. */
export function generativeSpec(cfg: GenerativeConfig): ObjectiveSpec {
  return { module: import.meta.url, factory: 'generativeObjective', config: cfg };
}

/** Matmul FLOPs (2 per multiply-add) of one training forward pass over `batch`. */
export function generativeForwardFlops(cfg: GenerativeConfig, batch: HostBatch): number {
  const [b, lt] = batch.tok.shape;
  const [rows, ld] = batch.dec.shape;
  return forwardFlops(cfg, {
    prompts: b,
    promptTokens: lt,
    historyItems: batch.hist.shape[1],
    decoderRows: rows,
    decoderTokens: ld,
    sidTerms: batch.sidTarget.data.length,
    textTerms: batch.textTarget.data.length,
    itemTerms: batch.itemTarget?.data.length ?? 0,
  });
}

/** The shapes a forward pass's cost depends on: prompts and decoder rows may differ (several targets per prompt). */
export interface ForwardShape {
  prompts: number;
  promptTokens: number;
  historyItems: number;
  decoderRows: number;
  decoderTokens: number;
  sidTerms: number;
  textTerms: number;
  /** Rows scored by the item head (0 without one). */
  itemTerms?: number;
}

export function forwardFlops(cfg: GenerativeConfig, s: ForwardShape): number {
  const layout = vocabLayout(cfg);
  const b = s.prompts;
  const lh = s.historyItems;
  const le = s.promptTokens + lh;
  const ld = s.decoderTokens;
  const r = s.decoderRows;
  const e = cfg.encoder;
  const dd = cfg.decoder;
  const proj = (tokens: number, dm: number, dff: number) => tokens * 2 * (4 * dm * dm + 2 * dm * dff);
  const attn = (rowsOf: number, lq: number, lk: number, dm: number) => rowsOf * 2 * 2 * lq * lk * dm;
  const encoder = e.nLayers * (proj(b * le, e.dModel, e.dFF) + attn(b, le, le, e.dModel));
  // Decoder: self block as above, plus cross q/o on decoder tokens, k/v on encoder tokens.
  const cross = r * ld * 2 * 2 * dd.dModel * dd.dModel + r * le * 2 * 2 * dd.dModel * dd.dModel + attn(r, ld, le, dd.dModel);
  const decoder = dd.nLayers * (proj(r * ld, dd.dModel, dd.dFF) + attn(r, ld, ld, dd.dModel) + cross);
  const heads = s.sidTerms * 2 * dd.dModel * layout.sidVocab + s.textTerms * 2 * dd.dModel * (1 + cfg.textVocab) + (s.itemTerms ?? 0) * 2 * dd.dModel * cfg.nItems;
  const visual = cfg.visual ? b * 2 * cfg.visual.dim * cfg.visual.tokens * e.dModel : 0;
  return encoder + decoder + heads + b * 2 * USER_SLOTS * lh * e.dModel + visual;
}

/**
 * Incremental decoding of SIDs for a batch of encoded prompts: `start` runs the encoder once;
 * each `step` feeds one token per live row and returns log-probabilities over the SID
 * vocabulary at that position (other positions' ranges at -Infinity). Self-attention caches
 * follow the rows' `parents` (beam search reorders rows); cross-attention keys/values are
 * computed once per request and gathered by each row's request.
 */
export class SidDecoder {
  private readonly layout: VocabLayout;
  private memory: tf.Tensor | null = null;
  private bias: tf.Tensor | null = null;
  /** The item head's item vectors (a copy: `dispose` frees it), when scoring items. */
  private items: tf.Tensor | null = null;
  /** Per decoder block: keys/values of the encoder output, one row per request. */
  private requestCross: KeyValues[] = [];
  /** Per decoder block: self-attention keys/values of the tokens so far, one row per live row. */
  private self: KeyValues[] = [];
  /** Request of each live row. */
  private owner = new Int32Array(0);
  private depth = 0;
  private itemScores: Float32Array | null = null;

  /** `scoreItems`: on the first step also score every item with the item head (a model with one). */
  constructor(
    private readonly params: GenerativeParams,
    private readonly cfg: GenerativeConfig,
    private readonly options: { scoreItems?: boolean } = {},
  ) {
    this.layout = vocabLayout(cfg);
  }

  get width(): number {
    return this.cfg.sidSizes.length;
  }

  /** Encodes the prompts (one request each); the next `step` starts their SIDs. */
  start(promptBatch: HostBatch): void {
    this.dispose();
    const enc = tf.tidy(() => {
      const e = encode(this.params, this.cfg, promptBatch, EVAL);
      return { memory: e.memory, bias: e.bias, items: this.options.scoreItems && e.items ? [tf.clone(e.items)] : [] };
    });
    this.memory = enc.memory;
    this.bias = enc.bias;
    this.items = enc.items[0] ?? null;
    this.depth = 0;
    this.itemScores = null;
  }

  /**
   * The item head's log-probabilities [requests, nItems] (row-major) of the prompts `start`
   * encoded, known after the first `step`; null unless the decoder was asked to score items.
   */
  get itemLogProbs(): Float32Array | null {
    return this.itemScores;
  }

  /**
   * Row i extends row parents[i] of the previous step with SID token tokens[i] (0..sidVocab-1);
   * on the first step parents[i] = i (one row per request) and tokens are ignored. Returns
   * rows x sidVocab log-probabilities (row-major), read back asynchronously (a GPU backend has
   * no synchronous read in Node).
   */
  async step(parents: Int32Array, tokens: Int32Array): Promise<Float32Array> {
    const memory = this.memory;
    const bias = this.bias;
    if (!memory || !bias) throw new GensearchError('INTERNAL', 'SidDecoder.step before start');
    if (this.depth >= this.width) throw new GensearchError('INTERNAL', `SidDecoder: a SID has ${this.width} tokens; step ${this.depth + 1} asked`);
    const first = this.depth === 0;
    const rows = parents.length;
    if (first && (rows !== memory.shape[0] || parents.some((p, i) => p !== i))) {
      throw new GensearchError('INTERNAL', 'SidDecoder: the first step takes one row per request, in order');
    }
    const owner = first ? Int32Array.from(parents) : Int32Array.from(parents, (p) => this.owner[p]);
    const ids = first ? new Int32Array(rows).fill(this.layout.bosSid) : Int32Array.from(tokens, (t) => this.layout.sidBase + t);
    const level = this.depth;
    const d = this.cfg.decoder.dModel;
    const off = this.layout.sidOffsets[level];
    const k = this.cfg.sidSizes[level];
    const out = tf.tidy(() => {
      const ownerT = tf.tensor1d(owner, 'int32');
      const parentT = tf.tensor1d(parents, 'int32');
      const caches: BlockCache[] = first
        ? this.params.dec.blocks.map(() => ({}))
        : this.self.map((kv, i) => ({
            self: { k: tf.gather(kv.k, parentT), v: tf.gather(kv.v, parentT) },
            cross: { k: tf.gather(this.requestCross[i].k, ownerT), v: tf.gather(this.requestCross[i].v, ownerT) },
          }));
      const x = decoderInput(this.params, this.cfg, tf.tensor2d(ids, [rows, 1], 'int32'), level);
      const rowBias = first ? bias : tf.gather(bias, ownerT);
      const h = stack(this.params.dec, x, { cross: { memory, bias: rowBias }, caches }, this.cfg.decoder, EVAL);
      const state = tf.reshape(h, [rows, d]);
      const logits = matMulT(state, tf.slice(this.params.tok, [this.layout.sidBase + off, 0], [k, d]));
      // tidy keeps tensors it returns: flat lists of [k, v, k, v, ...].
      return {
        lp: logSoftmax(logits),
        items: first && this.items ? [logSoftmax(matMulT(state, this.items))] : [],
        self: caches.flatMap((c) => [c.self!.k, c.self!.v]),
        cross: first ? caches.flatMap((c) => [c.cross!.k, c.cross!.v]) : [],
      };
    });
    const pairs = (flat: tf.Tensor[]): KeyValues[] => Array.from({ length: flat.length / 2 }, (_, i) => ({ k: flat[2 * i], v: flat[2 * i + 1] }));
    for (const kv of this.self) disposeKv(kv);
    this.self = pairs(out.self);
    if (first) this.requestCross = pairs(out.cross);
    this.owner = owner;
    this.depth++;
    const lp = await out.lp.data<'float32'>();
    out.lp.dispose();
    for (const items of out.items) {
      this.itemScores = await items.data<'float32'>();
      items.dispose();
    }
    const v = this.layout.sidVocab;
    const result = new Float32Array(rows * v).fill(Number.NEGATIVE_INFINITY);
    for (let r = 0; r < rows; r++) result.set(lp.subarray(r * k, (r + 1) * k), r * v + off);
    return result;
  }

  dispose(): void {
    this.memory?.dispose();
    this.bias?.dispose();
    this.items?.dispose();
    this.memory = null;
    this.bias = null;
    this.items = null;
    for (const kv of [...this.self, ...this.requestCross]) disposeKv(kv);
    this.self = [];
    this.requestCross = [];
  }
}

function disposeKv(kv: KeyValues): void {
  kv.k.dispose();
  kv.v.dispose();
}

/**
 * Teacher-forced log-probabilities of full SIDs [R, W] (SID tokens 0..sidVocab-1) for B encoded
 * prompts, R a multiple of B: rows r = i*C .. i*C+C-1 (C = R/B) belong to prompt i, which is
 * encoded once. The sum over positions of log p(token | prompt, earlier tokens): what
 * incremental decoding must reproduce, and a way to score given candidates. With `head`, each
 * row also gets its item's weighted item-head log-probability (`HeadScore`).
 */
export async function scoreSids(p: GenerativeParams, cfg: GenerativeConfig, promptBatch: HostBatch, sids: Int32Array, head?: Omit<HeadScore, 'group'>): Promise<Float32Array> {
  const b = promptBatch.tok.shape[0];
  const rows = sids.length / cfg.sidSizes.length;
  if (!Number.isInteger(rows / b)) throw new GensearchError('INTERNAL', `scoreSids: ${rows} SIDs for ${b} prompts; give the same number per prompt`);
  const scores = tf.tidy(() => sidLogProbs(p, cfg, repeatEncoded(encode(p, cfg, promptBatch, EVAL), rows / b), sids, EVAL, head && { ...head, group: rows / b }));
  const out = await scores.data<'float32'>();
  scores.dispose();
  return out;
}

/**
 * Each prompt's encoder rows `c` times in a row (row r reads prompt floor(r / c)): several SIDs
 * scored per prompt without encoding it again. Differentiable (`gatherRows`).
 */
export function repeatEncoded(enc: Encoded, c: number): Encoded {
  if (c === 1) return enc;
  const [b, l, d] = enc.memory.shape as [number, number, number];
  const owner = tf.tensor1d(Int32Array.from({ length: b * c }, (_, i) => Math.floor(i / c)), 'int32');
  const memory = tf.reshape(gatherRows(tf.reshape(enc.memory, [b, l * d]), owner), [b * c, l, d]);
  return { memory, bias: tf.gather(enc.bias, owner), items: enc.items };
}

/**
 * The item each SID row stands for, when the item head's log-probability of it joins the row's
 * score (times `weight`, as decoding fuses them). Rows come in groups of `group` consecutive
 * rows with one prompt (`repeatEncoded`): the head reads the start-of-SID state, which depends
 * on the prompt only, so it runs once per group.
 */
export interface HeadScore {
  items: Int32Array;
  weight: number;
  group: number;
}

/**
 * `scoreSids` as a differentiable tensor [R]: row r is SID `sids[r]` read against encoder row
 * r of `enc` (to score several SIDs per prompt, `repeatEncoded` first).
 */
export function sidLogProbs(p: GenerativeParams, cfg: GenerativeConfig, enc: Encoded, sids: Int32Array, ctx: ForwardContext, head?: HeadScore): tf.Tensor {
  const layout = vocabLayout(cfg);
  const w = cfg.sidSizes.length;
  const b = sids.length / w;
  const d = cfg.decoder.dModel;
  const inputs = new Int32Array(b * w);
  for (let i = 0; i < b; i++) {
    inputs[i * w] = layout.bosSid;
    for (let t = 1; t < w; t++) inputs[i * w + t] = layout.sidBase + sids[i * w + t - 1];
  }
  const x = dropout(decoderInput(p, cfg, tf.tensor2d(inputs, [b, w], 'int32'), 0), cfg.decoder.dropout, ctx);
  const h = stack(p.dec, x, { self: causalBias(w), cross: { memory: enc.memory, bias: enc.bias } }, cfg.decoder, ctx);
  let total = tf.zeros([b]);
  for (let t = 0; t < w; t++) {
    const ht = tf.reshape(tf.slice(h, [0, t, 0], [b, 1, d]), [b, d]);
    const table = tf.slice(p.tok, [layout.sidBase + layout.sidOffsets[t], 0], [cfg.sidSizes[t], d]);
    const lp = logSoftmax(matMulT(ht, table));
    const codes = Int32Array.from({ length: b }, (_, i) => sids[i * w + t] - layout.sidOffsets[t]);
    total = tf.add(total, tf.sum(tf.mul(lp, tf.oneHot(tf.tensor1d(codes, 'int32'), cfg.sidSizes[t])), 1));
  }
  if (!head || head.weight === 0) return total;
  const table = enc.items;
  if (!table) throw new GensearchError('INTERNAL', 'an item-head score needs a model with an item head');
  const g = head.group;
  if (head.items.length !== b || !Number.isInteger(b / g)) throw new GensearchError('INTERNAL', `sidLogProbs: ${head.items.length} items for ${b} SIDs in groups of ${g}`);
  // One start-of-SID state per group (with dropout the rows' copies differ), repeated by tiling:
  // tile's gradient works on every backend.
  const start = tf.reshape(tf.slice(tf.reshape(h, [b / g, g, w, d]), [0, 0, 0, 0], [b / g, 1, 1, d]), [b / g, d]);
  const logNorm = tf.reshape(tf.tile(tf.reshape(tf.logSumExp(matMulT(start, table), 1), [b / g, 1]), [1, g]), [b]);
  const rowsStart = tf.reshape(tf.tile(tf.reshape(start, [b / g, 1, d]), [1, g, 1]), [b, d]);
  const dot = tf.sum(tf.mul(rowsStart, gatherRows(table, tf.tensor1d(head.items, 'int32'))), 1);
  return tf.add(total, tf.mul(tf.sub(dot, logNorm), head.weight));
}
