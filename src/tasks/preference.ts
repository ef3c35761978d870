import { existsSync, readFileSync } from 'node:fs';
import type { GenerativeModel } from '../decode/ranker.js';
import { DecodeWorkers } from '../decode/decode-workers.js';
import { generateItems, itemWeightOf } from '../decode/generate.js';
import { scoreSids } from '../model/generative.js';
import { progress } from '../progress.js';
import type { TensorBackend } from '../tensor/runtime.js';
import type { ExampleSource } from '../tensor/batching.js';
import { writeFileAtomic } from '../tensor/checkpoint.js';
import { buildSamples, categoryText, type SampleInputs, type SampleKind, type SampleSet } from './examples.js';
import { packPrompts, type Prompt } from './prompt.js';

/**
 * Preference pairs for list-wise DPO (OneSearch PARS) from the training view: for a share of
 * the stage-3 samples (search and rec), the preferred SID is the item the user took next and the
 * rejected ones are the reference model's own best other SIDs (beam search over the trie: the
 * mistakes it actually makes). A model with an item head ranks items, those of a shared SID
 * apart, so its rejected candidates are its best other items (each with its SID). Each rejected
 * one gets PARS's reward tier, here from what Beauty records (purchases only): 1.5 when the user
 * bought one of its items before ("same category, purchased elsewhere"), 0.2 when it shares the
 * target's finest category, else 0; the preferred item is 2.0, and the gap 2.0 - tier scales the
 * lead it must keep.
 */
export interface PreferenceOptions {
  /** Share of the stage-3 search and rec samples that become preference prompts. */
  search: number;
  rec: number;
  /** Rejected SIDs per prompt. */
  negatives: number;
  /**
   * Share of the rec samples added as likelihood-only prompts (the taken item, no rejected
   * SIDs: only the SFT term acts on them). Aligning search moves the parameters rec shares;
   * these anchor rec where SFT left it. They need no mining and are not in the cache.
   */
  recSft: number;
  seed: number;
  /** Decoding threads for mining (`DecodeWorkers`); 0 or absent: the main thread. */
  workers?: number;
  backend?: TensorBackend;
  /**
   * A file that keeps the mined pairs (the phase folder's `pairs.bin`), read back instead of
   * mining again when `key` (the reference and these options) matches: a resumed or
   * re-evaluated run gets the same pairs in seconds.
   */
  cache?: { path: string; key: string };
}

export interface PreferenceSet extends ExampleSource {
  /** Prompts per sample kind they came from (search, rec). */
  counts: Record<SampleKind, number>;
  /** Prompts with fewer rejected SIDs than asked (the beam found fewer). */
  short: number;
  /** Likelihood-only rec prompts (after the mined ones). */
  anchors: number;
}

const PREFERRED = 2.0;
const TIER_BOUGHT = 1.5;
const TIER_SAME_CATEGORY = 0.2;
/** Prompts per decoding batch while mining. */
const CHUNK = 256;

/** Mines the preference prompts with `model` as the reference (its log-probabilities are stored). */
export async function preferenceSamples(model: GenerativeModel, inputs: SampleInputs, options: PreferenceOptions): Promise<PreferenceSet> {
  const w = model.cfg.sidSizes.length;
  const c = 1 + options.negatives;
  const base = buildSamples(inputs, { search: options.search, rec: options.rec }, options.seed);
  const prompts = Array.from({ length: base.size }, (_, i) => base.sample(i).prompt);
  const cached = options.cache ? readMined(options.cache.path, options.cache.key, base.size * c, w) : null;
  const mined = cached ?? (await mine(model, inputs, base, prompts, c, options));
  if (options.cache && !cached) writeMined(options.cache.path, options.cache.key, mined);
  // Another seed: anchors are other rec windows than the mined rec prompts.
  const anchorSet = options.recSft > 0 ? buildSamples(inputs, { rec: options.recSft }, options.seed + 1) : null;
  const anchors = anchorSet?.size ?? 0;
  const { cand, ref, gap, valid, item } = anchorSet ? withAnchors(mined, anchorSet, inputs.itemSids, c, w) : mined;
  if (anchorSet) for (let i = 0; i < anchors; i++) prompts.push(anchorSet.sample(i).prompt);
  return {
    size: prompts.length,
    counts: base.counts,
    short: mined.short,
    anchors,
    length: (i) => (i < base.size ? base.length(i) : anchorSet!.length(i - base.size)),
    collate: (indices) => {
      const b = indices.length;
      const pick = <T extends Float32Array | Int32Array>(src: T, width: number, out: T): T => {
        indices.forEach((i, r) => out.set(src.subarray(i * width, (i + 1) * width), r * width));
        return out;
      };
      return {
        ...packPrompts(Array.from(indices, (i) => prompts[i]), model.pack),
        cand: { data: pick(cand, c * w, new Int32Array(b * c * w)), shape: [b, c, w] },
        ref: { data: pick(ref, c, new Float32Array(b * c)), shape: [b, c] },
        gap: { data: pick(gap, c, new Float32Array(b * c)), shape: [b, c] },
        valid: { data: pick(valid, c, new Float32Array(b * c)), shape: [b, c] },
        item: { data: pick(item, c, new Int32Array(b * c)), shape: [b, c] },
      };
    },
  };
}

/**
 * The mined rows followed by one row per anchor: every candidate is the taken item's SID and
 * only the first is valid, so the DPO term is log(1) = 0 and the reference log-probability
 * (left 0) is never read.
 */
function withAnchors(mined: MinedPairs, anchors: SampleSet, itemSids: Int32Array, c: number, w: number): MinedPairs {
  const rows = mined.ref.length;
  const grow = <T extends Float32Array | Int32Array>(src: T, out: T): T => {
    out.set(src);
    return out;
  };
  const cand = grow(mined.cand, new Int32Array((rows + anchors.size * c) * w));
  const valid = grow(mined.valid, new Float32Array(rows + anchors.size * c));
  const item = grow(mined.item, new Int32Array(valid.length));
  for (let i = 0; i < anchors.size; i++) {
    const taken = anchors.targetItem(i);
    const row = rows + i * c;
    for (let j = 0; j < c; j++) cand.set(itemSids.subarray(taken * w, (taken + 1) * w), (row + j) * w);
    item.fill(taken, row, row + c);
    valid[row] = 1;
  }
  return { cand, ref: grow(mined.ref, new Float32Array(valid.length)), gap: grow(mined.gap, new Float32Array(valid.length)), valid, item, short: mined.short };
}

/** Candidates of every prompt (preferred first), their reference log-probabilities, reward gaps, validity and items. */
interface MinedPairs {
  cand: Int32Array;
  ref: Float32Array;
  gap: Float32Array;
  valid: Float32Array;
  item: Int32Array;
  short: number;
}

async function mine(model: GenerativeModel, inputs: SampleInputs, base: SampleSet, allPrompts: readonly Prompt[], c: number, options: PreferenceOptions): Promise<MinedPairs> {
  const { train, itemSids } = inputs;
  const w = model.cfg.sidSizes.length;
  const n = base.size;
  const cand = new Int32Array(n * c * w);
  const ref = new Float32Array(n * c);
  const gap = new Float32Array(n * c);
  const valid = new Float32Array(n * c);
  const item = new Int32Array(n * c);
  const category = (it: number) => categoryText(train, it);
  // The reference scores each candidate as the objective does: SID log-probability plus, with a
  // head, the head's at the weight preference training aligns (not the per-kind serving knobs).
  const itemWeight = itemWeightOf(model.cfg);
  let short = 0;
  const pool = options.workers ? await DecodeWorkers.start(model, options.workers, options.backend) : null;
  const chunk = CHUNK * (pool?.size ?? 1);
  const decode = (from: number) => {
    const prompts = allPrompts.slice(from, Math.min(n, from + chunk));
    const beam = Math.max(c + 1, 10);
    const generate = { beam, k: itemWeight > 0 ? beam : 1, itemWeight, headCandidates: 0 };
    return pool ? pool.generate(prompts, generate) : generateItems(model, model.pack, model.trie, prompts, generate);
  };
  const bar = progress('mine preference pairs', n, 'prompts');
  let next = decode(0);
  try {
    for (let from = 0; from < n; from += chunk) {
      const { decoded, lists } = await next;
      // The workers decode the next chunk while this thread reads and scores this one.
      if (from + chunk < n) next = decode(from + chunk);
      const chunkPrompts = allPrompts.slice(from, from + decoded.length);
      chunkPrompts.forEach((prompt, j) => {
        const row = (from + j) * c;
        // Every mined sample is a search or rec window: its target is an item.
        const targetItem = base.targetItem(from + j);
        const target = itemSids.subarray(targetItem * w, (targetItem + 1) * w);
        const targetCategory = category(targetItem);
        cand.set(target, row * w);
        item.fill(targetItem, row, row + c);
        valid[row] = 1;
        const bought = new Set(Array.from(prompt.history));
        // Each rejected candidate as the items it stands for, its own first.
        const rejected =
          itemWeight > 0
            ? Array.from(lists[j].items, (it) => [it]).filter(([it]) => it !== targetItem)
            : decoded[j].map((sid) => Array.from(model.trie.items(sid.leaf))).filter(([it]) => itemSids.subarray(it * w, (it + 1) * w).some((t, q) => t !== target[q]));
        let m = 1;
        for (const items of rejected.slice(0, c - 1)) {
          cand.set(itemSids.subarray(items[0] * w, (items[0] + 1) * w), (row + m) * w);
          item[row + m] = items[0];
          const tier = items.some((it) => bought.has(it)) ? TIER_BOUGHT : items.some((it) => category(it) === targetCategory) ? TIER_SAME_CATEGORY : 0;
          gap[row + m] = PREFERRED - tier;
          valid[row + m] = 1;
          m++;
        }
        if (m < c) short++;
        // Padding rows repeat the preferred candidate (any valid one scores; `valid` masks them out).
        for (; m < c; m++) cand.set(target, (row + m) * w);
      });
      // Reference log-probabilities of every candidate, CHUNK prompts at a time (the memory of
      // one scoring pass grows with prompts x candidates).
      for (let at = from; at < from + chunkPrompts.length; at += CHUNK) {
        const end = Math.min(from + chunkPrompts.length, at + CHUNK);
        const head = itemWeight > 0 ? { items: item.subarray(at * c, end * c), weight: itemWeight } : undefined;
        ref.set(await scoreSids(model.params, model.cfg, packPrompts(allPrompts.slice(at, end), model.pack), cand.subarray(at * c * w, end * c * w), head), at * c);
      }
      bar.tick(chunkPrompts.length);
    }
  } finally {
    bar.stop();
    // After a failure the chunk in flight fails too when its worker stops: nobody awaits it.
    next.catch(() => {});
    await pool?.close();
  }
  return { cand, ref, gap, valid, item, short };
}

/** `pairs.bin`: u32 header length, a JSON header (format, key, sizes), then the five arrays. */
const PAIRS_FORMAT = 2;

function writeMined(path: string, key: string, m: MinedPairs): void {
  const header = Buffer.from(JSON.stringify({ format: PAIRS_FORMAT, key, rows: m.ref.length, sids: m.cand.length, short: m.short }));
  const length = Buffer.alloc(4);
  length.writeUInt32LE(header.length);
  const bytes = (a: Int32Array | Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  writeFileAtomic(path, Buffer.concat([length, header, bytes(m.cand), bytes(m.ref), bytes(m.gap), bytes(m.valid), bytes(m.item)]));
}

/** The cached pairs when the file exists in this format and was mined for `key` with these sizes; else null (mine again). */
function readMined(path: string, key: string, rows: number, w: number): MinedPairs | null {
  if (!existsSync(path)) return null;
  const file = readFileSync(path);
  const headerLength = file.readUInt32LE(0);
  const header = JSON.parse(file.subarray(4, 4 + headerLength).toString('utf8')) as { format?: number; key: string; rows: number; sids: number; short: number };
  if (header.format !== PAIRS_FORMAT || header.key !== key || header.rows !== rows || header.sids !== rows * w) return null;
  let at = 4 + headerLength;
  // slice() copies into a fresh, aligned buffer.
  const take = (count: number) => {
    const out = file.buffer.slice(file.byteOffset + at, file.byteOffset + at + 4 * count);
    at += 4 * count;
    return out;
  };
  return { cand: new Int32Array(take(rows * w)), ref: new Float32Array(take(rows)), gap: new Float32Array(take(rows)), valid: new Float32Array(take(rows)), item: new Int32Array(take(rows)), short: header.short };
}
