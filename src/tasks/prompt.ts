import { badInput } from '../errors.js';
import { type GenerativeConfig, SHORT_TERM, SLOT, type Task, taskToken, USER_SLOTS, type VocabLayout, vocabLayout } from '../model/generative.js';
import type { HostBatch } from '../tensor/objective.js';

/**
 * Prompts and targets of the generative retriever as plain data, and their packing into the
 * host arrays the model reads. The encoder input follows OneSearch's prompt order:
 * `[task] [user short, user long] [query or item text] [query or item SID] [recent items]`;
 * the user slots are position-weighted pools of the recent items' vectors (the paper's
 * behaviour-built user ID, in embedding space), and each recent item is a single slot.
 */
export interface Prompt {
  task: Task;
  /** Text pieces (tokenizer ids): the query, or an item's text. */
  text: Int32Array;
  /** SID tokens (0..sidVocab-1): the query's SID, or an item's. Empty when none. */
  sid: Int32Array;
  /** Item indices the user interacted with, oldest first (the last `maxHistory` are used). */
  history: Int32Array;
  /** A photo's image-encoder embedding (photo models only; see `GenerativeConfig.visual`). */
  visual?: Float32Array;
}

/**
 * What a target is: a SID (SID tokens 0..sidVocab-1; `item` when it is that item's, for the
 * item head) or text pieces.
 */
export type Target = { kind: 'sid'; tokens: Int32Array; item?: number } | { kind: 'text'; pieces: Int32Array };

/** What packing needs besides the prompts: the model's sizes and every item's SID tokens. */
export interface PackContext {
  cfg: GenerativeConfig;
  layout: VocabLayout;
  /** nItems x W SID tokens (0..sidVocab-1), row = item. */
  itemSids: Int32Array;
  /** The same as table ids, when the model's item head reads the SID rows (`headSidRows`). */
  catalog?: Int32Array;
}

export function packContext(cfg: GenerativeConfig, itemSids: Int32Array): PackContext {
  const w = cfg.sidSizes.length;
  if (itemSids.length !== cfg.nItems * w) {
    throw badInput(`item SID table holds ${itemSids.length / w} rows of width ${w}; the model expects ${cfg.nItems} items`);
  }
  const layout = vocabLayout(cfg);
  return { cfg, layout, itemSids, ...(cfg.headSidRows ? { catalog: itemSids.map((t) => layout.sidBase + t) } : {}) };
}

/**
 * Softmax of sqrt(i) over positions i = 1..n, oldest first (OneSearch's position weights for
 * the behaviour-built user ID): the newest item weighs most, older ones decay slowly.
 */
export function recencyWeights(n: number): Float64Array {
  const w = Float64Array.from({ length: n }, (_, i) => Math.exp(Math.sqrt(i + 1)));
  const sum = w.reduce((a, b) => a + b, 0);
  return w.map((x) => x / sum);
}

/** Encoder host arrays for a batch of prompts (see `ENCODER_KEYS` in src/model/generative.ts). */
export function packPrompts(prompts: readonly Prompt[], ctx: PackContext): HostBatch {
  const { cfg, layout, itemSids } = ctx;
  const w = cfg.sidSizes.length;
  const b = prompts.length;
  const texts = prompts.map((p) => p.text.subarray(0, cfg.maxPromptText));
  const hists = prompts.map((p) => p.history.subarray(Math.max(0, p.history.length - cfg.maxHistory)));
  const vis = cfg.visual;
  const visualSlots = vis?.tokens ?? 0;
  let lt = 0;
  let lh = 0;
  prompts.forEach((p, i) => {
    if (p.sid.length > w) throw badInput(`a prompt SID has ${p.sid.length} tokens; SIDs here have ${w}`);
    if (p.visual && !vis) throw badInput('a prompt carries a photo, but this model has no visual input (train a photo model)');
    if (p.visual && vis && p.visual.length !== vis.dim) throw badInput(`a photo embedding has ${p.visual.length} numbers; the model takes ${vis.dim}`);
    lt = Math.max(lt, 1 + USER_SLOTS + visualSlots + texts[i].length + p.sid.length);
    lh = Math.max(lh, hists[i].length);
  });
  const l = lt + lh;
  const tok = new Int32Array(b * lt);
  const hist = new Int32Array(b * lh * w);
  const histItem = new Int32Array(b * lh);
  const pos = new Int32Array(b * l);
  const type = new Int32Array(b * l);
  const mask = new Float32Array(b * l);
  const userMix = new Float32Array(b * USER_SLOTS * lh);
  const visual = vis ? new Float32Array(b * vis.dim) : null;
  prompts.forEach((p, i) => {
    let at = 0;
    const put = (token: number, t: number, position: number) => {
      tok[i * lt + at] = token;
      type[i * l + at] = t;
      pos[i * l + at] = position;
      mask[i * l + at] = 1;
      at++;
    };
    put(taskToken(layout, p.task), SLOT.task, 0);
    for (let u = 0; u < USER_SLOTS; u++) put(layout.pad, SLOT.user, u);
    for (let j = 0; j < visualSlots; j++) {
      put(layout.pad, SLOT.visual, j);
      if (!p.visual) mask[i * l + at - 1] = 0; // no photo: the slots stay, masked out
    }
    if (p.visual && visual) visual.set(p.visual, i * vis!.dim);
    for (let j = 0; j < texts[i].length; j++) put(layout.textBase + texts[i][j], SLOT.text, j);
    for (let j = 0; j < p.sid.length; j++) put(layout.sidBase + p.sid[j], SLOT.sid, j);
    const h = hists[i];
    for (let j = 0; j < h.length; j++) {
      const item = h[j];
      if (!(item >= 0 && item < cfg.nItems)) throw badInput(`history item ${item} is outside 0..${cfg.nItems - 1}`);
      const slot = i * l + lt + j;
      for (let q = 0; q < w; q++) hist[(i * lh + j) * w + q] = layout.sidBase + itemSids[item * w + q];
      histItem[i * lh + j] = item;
      type[slot] = SLOT.item;
      pos[slot] = h.length - 1 - j; // recency: 0 = the latest item
      mask[slot] = 1;
    }
    // User slots: short-term pool (last SHORT_TERM items) and long-term pool (all in the prompt).
    const pools = [Math.min(SHORT_TERM, h.length), h.length];
    pools.forEach((n, u) => {
      const weights = recencyWeights(n);
      for (let j = 0; j < n; j++) userMix[(i * USER_SLOTS + u) * lh + (h.length - n + j)] = weights[j];
    });
  });
  const out: HostBatch = {
    tok: { data: tok, shape: [b, lt] },
    hist: { data: hist, shape: [b, lh, w] },
    histItem: { data: histItem, shape: [b, lh] },
    pos: { data: pos, shape: [b, l] },
    type: { data: type, shape: [b, l] },
    mask: { data: mask, shape: [b, l] },
    userMix: { data: userMix, shape: [b, USER_SLOTS, lh] },
  };
  if (visual) out.visual = { data: visual, shape: [b, vis!.dim] };
  if (ctx.catalog) out.catalog = { data: ctx.catalog, shape: [cfg.nItems, w] };
  return out;
}

/** Decoder inputs and targets of a batch (teacher forcing); see `generativeObjective`. */
export function packTargets(targets: readonly Target[], ctx: PackContext): HostBatch {
  const { cfg, layout } = ctx;
  const w = cfg.sidSizes.length;
  const b = targets.length;
  const lengths = targets.map((t) => (t.kind === 'sid' ? w : Math.min(t.pieces.length, cfg.maxTextTarget) + 1));
  const ld = Math.max(1, ...lengths);
  const dec = new Int32Array(b * ld);
  const sidAt: number[] = [];
  const sidTarget: number[] = [];
  const sidLevel: number[] = [];
  const textAt: number[] = [];
  const textTarget: number[] = [];
  const itemAt: number[] = [];
  const itemTarget: number[] = [];
  targets.forEach((t, i) => {
    if (t.kind === 'sid') {
      if (t.tokens.length !== w) throw badInput(`a SID target has ${t.tokens.length} tokens; SIDs here have ${w}`);
      dec[i * ld] = layout.bosSid;
      if (t.item !== undefined) {
        itemAt.push(i * ld);
        itemTarget.push(t.item);
      }
      for (let j = 0; j < w; j++) {
        if (j > 0) dec[i * ld + j] = layout.sidBase + t.tokens[j - 1];
        sidAt.push(i * ld + j);
        sidTarget.push(t.tokens[j]);
        sidLevel.push(j);
      }
    } else {
      const pieces = t.pieces.subarray(0, cfg.maxTextTarget);
      dec[i * ld] = layout.bosText;
      for (let j = 0; j <= pieces.length; j++) {
        if (j > 0) dec[i * ld + j] = layout.textBase + pieces[j - 1];
        textAt.push(i * ld + j);
        textTarget.push(j < pieces.length ? 1 + pieces[j] : 0); // 0 = end of text
      }
    }
  });
  const int = (a: number[]) => ({ data: Int32Array.from(a), shape: [a.length] });
  const out: HostBatch = {
    dec: { data: dec, shape: [b, ld] },
    sidAt: int(sidAt),
    sidTarget: int(sidTarget),
    sidLevel: int(sidLevel),
    textAt: int(textAt),
    textTarget: int(textTarget),
  };
  if (cfg.itemHead) {
    out.itemAt = int(itemAt);
    out.itemTarget = int(itemTarget);
  }
  return out;
}
