import { I2I_SOURCES, neighbourDraw } from '../encoders/pairs.js';
import { itemText } from '../encoders/text.js';
import { badInput } from '../errors.js';
import type { TrainData } from '../eval/types.js';
import type { Task } from '../model/generative.js';
import type { BpeTokenizer } from '../model/tokenizer.js';
import type { ExampleSource } from '../tensor/batching.js';
import { type PackContext, packPrompts, packTargets, type Prompt, type Target } from './prompt.js';

/**
 * Training samples of the three SFT stages (OneSearch PARS), built only from the training view:
 * - stage 1, semantic alignment: item text -> SID (`item2sid`), SID -> category (`sid2cat`),
 *   query -> the query's SID (`query2qsid`);
 * - stage 2, co-occurrence: query -> item (`query2item`), item -> query (`item2query`), item ->
 *   next item (`item2next`), item -> an ItemCF neighbour (`item2cf`: an anchor per training
 *   interaction, its neighbour drawn in proportion to ItemCF similarity among its 20 strongest);
 * - stage 3, personalisation: query + history -> item (`search`) and, with an empty query,
 *   history -> item (`rec`); every position of every training sequence is a sample, its history
 *   the items before it (sliding-window augmentation).
 * Samples are compact records (kind + two integers) turned into prompts only when batched.
 */
export const SAMPLE_KINDS = ['item2sid', 'sid2cat', 'query2qsid', 'query2item', 'item2query', 'item2next', 'search', 'rec', 'item2cf'] as const;
export type SampleKind = (typeof SAMPLE_KINDS)[number];

export const STAGES: Readonly<Record<1 | 2 | 3, readonly SampleKind[]>> = {
  1: ['item2sid', 'sid2cat', 'query2qsid'],
  2: ['query2item', 'item2query', 'item2next', 'item2cf'],
  3: ['search', 'rec'],
};

/** Share of each kind's samples to use (0 = none, 1 = all); kinds left out count as 0. */
export type SampleMix = Partial<Record<SampleKind, number>>;

/** Everything the samples are built from. */
export interface SampleInputs {
  train: TrainData;
  /** nItems x W SID tokens (0..sidVocab-1). */
  itemSids: Int32Array;
  /** SID tokens of each known query text (the HEM queries); queries without one get none. */
  querySids: ReadonlyMap<string, Int32Array>;
  tokenizer: BpeTokenizer;
  pack: PackContext;
  /** Put the query's SID in search prompts (OneSearch's SID_query). */
  useQuerySid: boolean;
  /** Give personalised samples the user's history (off = the "without history" ablation). */
  useHistory: boolean;
}

/** The task token each sample kind's prompt starts with. */
const TASK_OF: Record<SampleKind, Task> = {
  item2sid: 'item2sid',
  sid2cat: 'sid2cat',
  query2qsid: 'query2qsid',
  query2item: 'query2item',
  item2query: 'item2query',
  item2next: 'item2next',
  // The same prompt as item2next (one history item): a co-occurring item, smoothed by ItemCF.
  item2cf: 'item2next',
  search: 'personal',
  rec: 'personal',
};

/** Deterministic uniform number in [0, 1) per (seed, kind, sample index): the same every run. */
function coin(seed: number, kind: number, index: number): number {
  let h = Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(kind + 1, 0xc2b2ae35) ^ Math.imul(index + 1, 0x27d4eb2f);
  h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
  h = Math.imul(h ^ (h >>> 12), 0x297a2d39);
  return ((h ^ (h >>> 15)) >>> 0) / 2 ** 32;
}

/** Keeps a `share` of a kind's samples, the same ones every run. */
function keep(seed: number, kind: number, index: number, share: number): boolean {
  if (share >= 1) return true;
  if (share <= 0) return false;
  return coin(seed, kind, index) < share;
}

/** The distinct non-empty queries of the training items, sorted (a stable numbering). */
export function queryList(train: TrainData): string[] {
  return [...new Set(train.itemQueries)].filter((q) => q.length > 0).sort();
}

export interface SampleSet extends ExampleSource {
  /** Samples per kind, for logs and reports. */
  counts: Record<SampleKind, number>;
  length(index: number): number;
  /** The prompt and target of sample i (tests and debugging). */
  sample(i: number): { kind: SampleKind; prompt: Prompt; target: Target };
  /** The item whose SID sample i targets; -1 for text targets and query SIDs. */
  targetItem(i: number): number;
}

/** Samples of the kinds in `mix` as an `ExampleSource` for the trainer. */
export function buildSamples(inputs: SampleInputs, mix: SampleMix, seed: number): SampleSet {
  const { train, itemSids, querySids, tokenizer, pack } = inputs;
  const w = pack.cfg.sidSizes.length;
  const nItems = train.nItems;
  const queries = queryList(train);
  const kinds: number[] = [];
  const as: number[] = [];
  const bs: number[] = [];
  const counts = Object.fromEntries(SAMPLE_KINDS.map((k) => [k, 0])) as Record<SampleKind, number>;
  const add = (kind: SampleKind, a: number, b: number, index: number) => {
    const k = SAMPLE_KINDS.indexOf(kind);
    if (!keep(seed, k, index, mix[kind] ?? 0)) return;
    kinds.push(k);
    as.push(a);
    bs.push(b);
    counts[kind]++;
  };
  for (let item = 0; item < nItems; item++) {
    add('item2sid', item, 0, item);
    if (train.itemQueries[item]) {
      add('sid2cat', item, 0, item);
      add('query2item', item, 0, item);
      add('item2query', item, 0, item);
    }
  }
  queries.forEach((q, i) => {
    if (querySids.has(q)) add('query2qsid', i, 0, i);
  });
  let position = 0;
  train.sequences.forEach((seq, user) => {
    for (let t = 1; t < seq.length; t++, position++) {
      add('item2next', user, t, position);
      if (train.itemQueries[seq[t]]) add('search', user, t, position);
      add('rec', user, t, position);
    }
  });
  if ((mix.item2cf ?? 0) > 0) {
    const k = SAMPLE_KINDS.indexOf('item2cf');
    const draw = neighbourDraw(I2I_SOURCES.itemcf(train));
    let interaction = 0;
    for (const seq of train.sequences) {
      for (const anchor of seq) {
        // Another stream of the same hash than the one `keep` draws from.
        const neighbour = draw(anchor, coin(seed + 1, k, interaction));
        if (neighbour >= 0 && neighbour !== anchor) add('item2cf', anchor, neighbour, interaction);
        interaction++;
      }
    }
  }
  if (kinds.length === 0) throw badInput('the sample mix selects no training samples; give some kind a share > 0 (and check the training data is not empty)');

  const itemSid = (item: number) => itemSids.subarray(item * w, (item + 1) * w);
  const textPieces = new Map<string, Int32Array>();
  const pieces = (text: string, max: number) => {
    const key = `${max}\u0000${text}`;
    let p = textPieces.get(key);
    if (!p) {
      p = tokenizer.encode(text, max);
      textPieces.set(key, p);
    }
    return p;
  };
  const none = new Int32Array(0);
  const cfg = pack.cfg;
  const sample = (i: number): { kind: SampleKind; prompt: Prompt; target: Target } => {
    const kind = SAMPLE_KINDS[kinds[i]];
    const a = as[i];
    const b = bs[i];
    const task = TASK_OF[kind];
    const sidTarget = (item: number): Target => ({ kind: 'sid', tokens: itemSid(item), item });
    switch (kind) {
      case 'item2sid':
        return { kind, prompt: { task, text: pieces(itemText(train.items[a]), cfg.maxPromptText), sid: none, history: none }, target: sidTarget(a) };
      case 'sid2cat':
        return { kind, prompt: { task, text: none, sid: itemSid(a), history: none }, target: { kind: 'text', pieces: pieces(categoryText(train, a), cfg.maxTextTarget) } };
      case 'item2query':
        return { kind, prompt: { task, text: none, sid: itemSid(a), history: none }, target: { kind: 'text', pieces: pieces(train.itemQueries[a], cfg.maxTextTarget) } };
      case 'query2qsid': {
        const q = queries[a];
        return { kind, prompt: { task, text: pieces(q, cfg.maxPromptText), sid: none, history: none }, target: { kind: 'sid', tokens: querySids.get(q)! } };
      }
      case 'query2item': {
        const q = train.itemQueries[a];
        return { kind, prompt: { task, text: pieces(q, cfg.maxPromptText), sid: querySid(q), history: none }, target: sidTarget(a) };
      }
      case 'item2next': {
        const seq = train.sequences[a];
        return { kind, prompt: { task, text: none, sid: none, history: seq.subarray(b - 1, b) }, target: sidTarget(seq[b]) };
      }
      case 'item2cf':
        return { kind, prompt: { task, text: none, sid: none, history: Int32Array.of(a) }, target: sidTarget(b) };
      case 'search':
      case 'rec': {
        const seq = train.sequences[a];
        const history = inputs.useHistory ? seq.subarray(Math.max(0, b - cfg.maxHistory), b) : none;
        const q = kind === 'search' ? train.itemQueries[seq[b]] : '';
        return { kind, prompt: { task, text: q ? pieces(q, cfg.maxPromptText) : none, sid: q ? querySid(q) : none, history }, target: sidTarget(seq[b]) };
      }
    }
  };
  const querySid = (q: string) => (inputs.useQuerySid ? (querySids.get(q) ?? none) : none);
  // Bucketing key: kind first, then the padded sizes of that kind (token segment, history), so
  // a batch holds one kind of prompt of similar shape and pads little.
  const length = (i: number) => {
    const s = sample(i);
    const tokens = s.prompt.text.length + s.prompt.sid.length + (s.target.kind === 'text' ? s.target.pieces.length : 0);
    return kinds[i] * 1_000_000 + Math.min(cfg.maxHistory, s.prompt.history.length) * 1000 + tokens;
  };
  const targetItem = (i: number): number => {
    switch (SAMPLE_KINDS[kinds[i]]) {
      case 'item2sid':
      case 'query2item':
        return as[i];
      case 'item2next':
      case 'search':
      case 'rec':
        return train.sequences[as[i]][bs[i]];
      case 'item2cf':
        return bs[i];
      default:
        return -1;
    }
  };
  return {
    size: kinds.length,
    counts,
    sample,
    targetItem,
    length,
    collate: (indices) => {
      const samples = Array.from(indices, (i) => sample(i));
      return { ...packPrompts(samples.map((s) => s.prompt), pack), ...packTargets(samples.map((s) => s.target), pack) };
    },
  };
}

/** An item's finest category path as text ("makeup nails nail polish"); the HEM query when it has none. */
export function categoryText(train: TrainData, item: number): string {
  const paths = train.items[item].categories;
  const longest = paths.reduce<string[]>((best, p) => (p.length > best.length ? p : best), []);
  return longest.length > 0 ? longest.join(' ') : train.itemQueries[item];
}
