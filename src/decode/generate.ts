import { badInput } from '../errors.js';
import type { RankedList } from '../eval/types.js';
import { TopKSelector } from '../eval/topk.js';
import { type GenerativeConfig, type GenerativeParams, SidDecoder, scoreSids } from '../model/generative.js';
import type { SidTrie } from '../sids/trie.js';
import { type PackContext, packPrompts, type Prompt } from '../tasks/prompt.js';
import { COSINE_TEMPERATURE, type PromptPriors, type SparseScores } from './priors.js';
import { type BeamSearchStats, constrainedBeamSearch, type DecodedSid, type DecodeSession, sidsToItems } from './beam-search.js';

/** The generative model's incremental decoder as the beam search sees it. */
export class GenerativeSession implements DecodeSession {
  constructor(private readonly decoder: SidDecoder) {}

  next(parents: Int32Array, tokens: Int32Array): Promise<Float32Array> {
    return this.decoder.step(parents, tokens);
  }

  dispose(): void {
    this.decoder.dispose();
  }
}

export interface GenerateOptions {
  /** Beams per request (the paper serves with 512). */
  beam: number;
  /** Items to return per request (SIDs shared by several items give several items). */
  k: number;
  /** Dynamic pruning margin in nats (Infinity = off); see `BeamSearchOptions`. */
  pruneMargin?: number;
  /** Most beam rows decoded at once: requests are batched so requests x beam stays below it. */
  maxRows?: number;
  /** Items each prompt's list must not hold (by prompt index), left out during the search. */
  exclude?: readonly (ArrayLike<number> | undefined)[];
  /**
   * Weight of the item head's log-probability added to each beam item's SID log-probability
   * (`GenerativeConfig.itemHead`). Default: by request kind (`HEAD_DEFAULTS`) for a model with an
   * item head, else 0 (the list in SID order); a weight > 0 needs the head.
   */
  itemWeight?: number;
  /**
   * With an item head: the SIDs of this many of the head's best items per prompt that the beam
   * did not finish are scored by teacher forcing (the log-probability the beam would have given
   * them) and join the beam's SIDs, so the head can also bring in items the beam missed.
   * Default: by request kind (`HEAD_DEFAULTS`) when the head is in the ranking, else 0.
   */
  headCandidates?: number;
  /**
   * Popularity correction of the item head (logit adjustment): this times `itemLogCounts[item]`
   * is taken from the head's log-probability of each item before it ranks and proposes, so
   * the head stops favouring items for being bought often. Default: `POPULARITY_PENALTY` when
   * the model has a head and the counts are given, else 0.
   */
  popularityPenalty?: number;
  /** Per item: log(1 + its purchases in the training data); needed when `popularityPenalty` > 0. */
  itemLogCounts?: Float32Array;
  /**
   * Priors of the item head, by prompt index (`HeadPriors` in ./priors.ts): the items bought
   * together with the prompt's history (ItemCF) and those matching its query's words (BM25),
   * and the query's and the history's vectors in the aligned embedding space. With a sparse
   * prior's scores normalised to a distribution q, item j's head log-probability gains its
   * weight x log(1 + nItems x q_j) before the head ranks and proposes: the head's softmax times
   * the prior raised to that weight, floored at uniform; a vector adds its weighted cosines
   * (`queryCosineWeight`). They bring in the rarely bought items that the head's per-item
   * vectors have seen too seldom.
   */
  priors?: readonly (PromptPriors | undefined)[];
  /** Weight of the co-purchase prior where it is given. Default: by request kind (`HEAD_DEFAULTS`) when the head is in the ranking, else 0. */
  coPurchaseWeight?: number;
  /** Weight of the text-match prior where it is given; default as `coPurchaseWeight`. */
  textMatchWeight?: number;
  /**
   * Weight of the query's cosine with each item in the aligned embedding space (its priors'
   * `queryVector`): the head gains weight x cosine / COSINE_TEMPERATURE, its softmax times the
   * aligned encoder's raised to that weight. Default as `coPurchaseWeight`.
   */
  queryCosineWeight?: number;
  /** The same for the history's user tower (`userVector`). */
  userCosineWeight?: number;
  /**
   * Weight of each item's cosine with its nearest item among the history's last items
   * (`historyVectors`): the recent item the candidate resembles most, where the user tower
   * averages them all away. Default as `coPurchaseWeight`.
   */
  historyCosineWeight?: number;
  /** The aligned item vectors (nItems x dim unit rows) that the priors' query, user and history vectors are scored against. */
  itemVectors?: Float32Array;
  /** Also return every list's candidates with the parts of their scores (`GenerateResult.parts`; tuning the head's knobs). */
  scoreParts?: boolean;
}

/**
 * One prompt's candidates (every item of every decoded SID, excluded items left out, in decoded
 * order) with their SID log-probability and their head's log-probability after the popularity
 * correction, before the priors: a list's score is sid + itemWeight x (head + the weighted
 * priors).
 */
export interface ScoreParts {
  items: Int32Array;
  sid: Float32Array;
  head: Float32Array;
}

/** How the item head takes part in one prompt's ranking. */
export interface HeadKnobs {
  itemWeight: number;
  headCandidates: number;
  coPurchaseWeight: number;
  textMatchWeight: number;
  queryCosineWeight: number;
  userCosineWeight: number;
  historyCosineWeight: number;
}

/** Each prior of `PromptPriors` and the knob that weighs it. */
const SPARSE_PRIORS = { coPurchase: 'coPurchaseWeight', textMatch: 'textMatchWeight' } as const;
/** Each prior of aligned vectors: an item's lift is its largest cosine with the prior's rows (one row each; the history's one per recent item). */
const VECTOR_PRIORS = { queryVector: 'queryCosineWeight', userVector: 'userCosineWeight', historyVectors: 'historyCosineWeight' } as const;
type VectorPrior = keyof typeof VECTOR_PRIORS;
export type PriorWeight = (typeof SPARSE_PRIORS)[keyof typeof SPARSE_PRIORS] | (typeof VECTOR_PRIORS)[VectorPrior];
/** The weights of the priors that need the aligned embeddings. */
export const COSINE_WEIGHTS = Object.values(VECTOR_PRIORS);
export const PRIOR_WEIGHTS = [...Object.values(SPARSE_PRIORS), ...COSINE_WEIGHTS];

/** Prompts decoded together so that prompts x beam stays below `maxRows` (`GenerateOptions.maxRows`, default 4096), at least one. */
export function promptsPerBatch(beam: number, maxRows = 4096): number {
  return Math.max(1, Math.floor(maxRows / beam));
}

/** Search: a prompt with a query; rec: one without (recommendation). */
export type RequestKind = 'search' | 'rec';

/**
 * Defaults of a model with an item head, by request kind, chosen on Beauty's validation split
 * (docs/RESULTS.md, the item head's "Defaults by request kind", "A co-purchase prior of the
 * head", "A text-match prior", "The query's and the user's cosines" and "The nearest history
 * item"): the head's score with its priors carries the ranking, the SID path's log-probability
 * only breaks near-ties (item weight 16). Search also weighs the query's words (text match) and
 * a little of its aligned vector, with more proposals; recommendation leans on what was bought
 * together with the history. Both weigh the history's user tower and each item's nearest
 * recent item: the aligned embeddings know the rarely bought items that the head's own vectors
 * have seen too seldom.
 */
export const HEAD_DEFAULTS: Readonly<Record<RequestKind, HeadKnobs>> = {
  search: { itemWeight: 16, headCandidates: 50, coPurchaseWeight: 0.5, textMatchWeight: 16, queryCosineWeight: 0.4, userCosineWeight: 0.8, historyCosineWeight: 0.8 },
  rec: { itemWeight: 16, headCandidates: 20, coPurchaseWeight: 4, textMatchWeight: 0, queryCosineWeight: 0, userCosineWeight: 1.2, historyCosineWeight: 1.2 },
};

/** The popularity correction chosen on Beauty's validation split (docs/RESULTS.md, "A popularity correction of the head"). */
export const POPULARITY_PENALTY = 1;

export function requestKind(prompt: Prompt): RequestKind {
  return (prompt.task === 'personal' || prompt.task === 'query2item') && prompt.text.length > 0 ? 'search' : 'rec';
}

export interface GenerateResult {
  lists: RankedList[];
  /** The SIDs each beam search finished, best first (what the lists were read from). */
  decoded: DecodedSid[][];
  stats: BeamSearchStats;
  /** With `scoreParts`, per prompt. */
  parts?: ScoreParts[];
}

/**
 * The item head's weight in the ranking: `weight` checked, or 1 for a model with a head (the
 * weight of the joint log-probability, SID and item, that preference training aligns), else 0.
 */
export function itemWeightOf(cfg: GenerativeConfig, weight?: number): number {
  const w = weight ?? (cfg.itemHead ? 1 : 0);
  if (!(w >= 0 && Number.isFinite(w))) throw badInput(`itemWeight must be a number >= 0; got ${w}`);
  if (w > 0 && !cfg.itemHead) throw badInput('itemWeight > 0 needs a model trained with an item head (itemHead > 0)');
  return w;
}

/** The head's knobs for a request of this kind: those given, checked, else `HEAD_DEFAULTS`. */
export function headKnobsOf(cfg: GenerativeConfig, kind: RequestKind, given: Pick<GenerateOptions, keyof HeadKnobs>): HeadKnobs {
  const itemWeight = itemWeightOf(cfg, given.itemWeight ?? (cfg.itemHead ? HEAD_DEFAULTS[kind].itemWeight : 0));
  const byHead = (key: 'headCandidates' | PriorWeight) => given[key] ?? (itemWeight > 0 ? HEAD_DEFAULTS[kind][key] : 0);
  const knobs = { itemWeight, headCandidates: byHead('headCandidates'), ...Object.fromEntries(PRIOR_WEIGHTS.map((key) => [key, byHead(key)])) } as HeadKnobs;
  if (!(Number.isInteger(knobs.headCandidates) && knobs.headCandidates >= 0)) throw badInput(`headCandidates must be an integer >= 0; got ${knobs.headCandidates}`);
  for (const key of ['headCandidates', ...PRIOR_WEIGHTS] as const) {
    if (!(knobs[key] >= 0 && Number.isFinite(knobs[key]))) throw badInput(`${key} must be a number >= 0; got ${knobs[key]}`);
    if (knobs[key] > 0 && itemWeight === 0) throw badInput(`${key} needs the item head in the ranking (a model with one, itemWeight > 0)`);
  }
  return knobs;
}

/**
 * Top-k items for each prompt: the prompts are encoded once per batch, then SIDs are generated
 * by trie-constrained beam search and mapped to items: in SID-score order (shared SIDs in
 * collision-rank order), or, with an item head, by SID score plus the weighted head score.
 */
export async function generateItems(
  model: { params: GenerativeParams; cfg: GenerativeConfig },
  pack: PackContext,
  trie: SidTrie,
  prompts: readonly Prompt[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  const { beam, k } = options;
  if (!Number.isInteger(k) || k < 1) throw badInput(`k must be a positive integer; got ${k}`);
  if (trie.width !== model.cfg.sidSizes.length) {
    throw badInput(`the SID trie has width ${trie.width}; the model writes SIDs of ${model.cfg.sidSizes.length} tokens`);
  }
  const byKind = { search: headKnobsOf(model.cfg, 'search', options), rec: headKnobsOf(model.cfg, 'rec', options) };
  const knobs = prompts.map((p) => byKind[requestKind(p)]);
  const n = model.cfg.nItems;
  const logCounts = options.itemLogCounts;
  const penalty = options.popularityPenalty ?? (model.cfg.itemHead && logCounts ? POPULARITY_PENALTY : 0);
  if (!(penalty >= 0 && Number.isFinite(penalty))) throw badInput(`popularityPenalty must be a number >= 0; got ${penalty}`);
  if (penalty > 0 && logCounts?.length !== n) throw badInput(`popularityPenalty needs every item's log purchase count (${n}); got ${logCounts?.length ?? 'none'}`);
  const perBatch = promptsPerBatch(beam, options.maxRows);
  const lists: RankedList[] = [];
  const decodedAll: DecodedSid[][] = [];
  const parts: ScoreParts[] = [];
  const stats: BeamSearchStats = { beamRowsScored: 0, pruned: 0 };
  const decoder = new SidDecoder(model.params, model.cfg, { scoreItems: knobs.some((h) => h.itemWeight > 0) });
  for (let from = 0; from < prompts.length; from += perBatch) {
    const chunk = prompts.slice(from, from + perBatch);
    const exclude = options.exclude?.slice(from, from + perBatch);
    decoder.start(packPrompts(chunk, pack));
    const { results, stats: s } = await constrainedBeamSearch(new GenerativeSession(decoder), trie, chunk.length, pack.layout.sidVocab, {
      beam,
      pruneMargin: options.pruneMargin,
      exclude,
    });
    stats.beamRowsScored += s.beamRowsScored;
    stats.pruned += s.pruned;
    const itemScores = decoder.itemLogProbs;
    if (itemScores && penalty > 0) for (let j = 0; j < itemScores.length; j++) itemScores[j] -= penalty * logCounts![j % n];
    const corrected = options.scoreParts ? itemScores?.slice() : undefined;
    const chunkKnobs = knobs.slice(from, from + perBatch);
    if (itemScores) {
      options.priors?.slice(from, from + perBatch).forEach((p, i) => {
        const row = itemScores.subarray(i * n, (i + 1) * n);
        if (!p) return;
        for (const [key, weight] of Object.entries(SPARSE_PRIORS) as [keyof typeof SPARSE_PRIORS, PriorWeight][]) {
          const prior = p[key];
          if (prior) addPrior(row, prior, chunkKnobs[i][weight]);
        }
        addCosines(row, p, chunkKnobs[i], options.itemVectors);
      });
      await addHeadProposals(model, pack, trie, chunk, itemScores, results, exclude, chunkKnobs.map((h) => h.headCandidates));
    }
    results.forEach((decoded, i) => {
      // Item scores exist only when the head is in some prompt's ranking (itemWeight > 0).
      const { itemWeight } = chunkKnobs[i];
      const fusion = itemScores && itemWeight > 0 ? { scores: itemScores.subarray(i * n, (i + 1) * n), weight: itemWeight } : undefined;
      lists.push(sidsToItems(trie, decoded, k, exclude?.[i], fusion));
      decodedAll.push(decoded);
      if (corrected) parts.push(scorePartsOf(trie, decoded, exclude?.[i], corrected.subarray(i * n, (i + 1) * n)));
    });
  }
  return options.scoreParts ? { lists, decoded: decodedAll, stats, parts } : { lists, decoded: decodedAll, stats };
}

function scorePartsOf(trie: SidTrie, decoded: readonly DecodedSid[], exclude: ArrayLike<number> = [], head: Float32Array): ScoreParts {
  const left = new Set(Array.from(exclude));
  const kept = decoded.flatMap((d) => Array.from(trie.items(d.leaf), (item) => ({ item, sid: d.score }))).filter((c) => !left.has(c.item));
  return { items: Int32Array.from(kept, (c) => c.item), sid: Float32Array.from(kept, (c) => c.sid), head: Float32Array.from(kept, (c) => head[c.item]) };
}

/** The factor that turns a sparse prior's scores into n x q_j (q its distribution): n over their sum, 0 if that is 0. */
function againstUniform(prior: SparseScores, n: number): number {
  let total = 0;
  for (const s of prior.scores) total += s;
  return total > 0 ? n / total : 0;
}

/** Adds `weight` x log(1 + n q_j) to the score of each item the prior names (`GenerateOptions.priors`). */
function addPrior(row: Float32Array, prior: SparseScores, weight: number): void {
  const scale = againstUniform(prior, row.length);
  if (weight === 0 || scale === 0) return;
  prior.items.forEach((item, t) => {
    row[item] += weight * Math.log1p(scale * prior.scores[t]);
  });
}

/**
 * What each prior adds to the scores of `items` at weight 1, by the knob that weighs it: the
 * features a tuner of the head's knobs weighs (the same sums as `addPrior` and `addCosines`).
 */
export function priorLifts(priors: PromptPriors | undefined, items: Int32Array, n: number, itemVectors?: Float32Array): Record<PriorWeight, Float32Array> {
  const lifts = Object.fromEntries(PRIOR_WEIGHTS.map((w) => [w, new Float32Array(items.length)])) as Record<PriorWeight, Float32Array>;
  if (!priors) return lifts;
  for (const [key, weight] of Object.entries(SPARSE_PRIORS) as [keyof typeof SPARSE_PRIORS, PriorWeight][]) {
    const prior = priors[key];
    if (!prior) continue;
    const row = new Float32Array(n);
    addPrior(row, prior, 1);
    items.forEach((item, c) => (lifts[weight][c] = row[item]));
  }
  for (const [key, weight] of Object.entries(VECTOR_PRIORS) as [VectorPrior, PriorWeight][]) {
    const vectors = priors[key];
    if (!vectors?.length) continue;
    const { rows, dim } = checkedItemVectors(itemVectors, n, { [key]: vectors });
    items.forEach((item, c) => (lifts[weight][c] = nearestDot(vectors, rows, item, dim) / COSINE_TEMPERATURE));
  }
  return lifts;
}

/**
 * Adds to each item's score the weighted cosines of the prompt's query and user vectors with
 * the item's aligned vector, and of its nearest history item's, over COSINE_TEMPERATURE
 * (`GenerateOptions.queryCosineWeight`, `historyCosineWeight`).
 */
function addCosines(row: Float32Array, priors: PromptPriors, knobs: HeadKnobs, itemVectors: Float32Array | undefined): void {
  const weighed = Object.fromEntries(
    (Object.keys(VECTOR_PRIORS) as VectorPrior[]).filter((key) => priors[key]?.length && knobs[VECTOR_PRIORS[key]] > 0).map((key) => [key, priors[key]!]),
  ) as Partial<Record<VectorPrior, Float32Array>>;
  const { historyVectors: history, ...single } = weighed;
  if (Object.keys(weighed).length === 0) return;
  const { rows, dim } = checkedItemVectors(itemVectors, row.length, weighed);
  // The weighted query and user vectors summed once, so each item costs one dot product for both.
  const v = new Float32Array(dim);
  for (const [key, vector] of Object.entries(single) as ['queryVector' | 'userVector', Float32Array][]) {
    for (let d = 0; d < dim; d++) v[d] += (knobs[VECTOR_PRIORS[key]] * vector[d]) / COSINE_TEMPERATURE;
  }
  const summed = Object.keys(single).length > 0;
  const nearest = knobs.historyCosineWeight / COSINE_TEMPERATURE;
  for (let j = 0; j < row.length; j++) {
    if (summed) row[j] += nearestDot(v, rows, j, dim);
    if (history) row[j] += nearest * nearestDot(history, rows, j, dim);
  }
}

/** The largest dot product of item `j`'s vector with a row of `vectors` (rows of `dim`). */
function nearestDot(vectors: Float32Array, rows: Float32Array, j: number, dim: number): number {
  let best = Number.NEGATIVE_INFINITY;
  for (let at = 0; at < vectors.length; at += dim) {
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += vectors[at + d] * rows[j * dim + d];
    if (dot > best) best = dot;
  }
  return best;
}

/** The aligned item vectors (n rows) and their dimension, checked against a prompt's vectors: one row each, the history's one or more. */
function checkedItemVectors(itemVectors: Float32Array | undefined, n: number, vectors: Partial<Record<VectorPrior, Float32Array>>): { rows: Float32Array; dim: number } {
  if (!itemVectors?.length || itemVectors.length % n !== 0) {
    throw badInput(`the cosine priors need the aligned vectors of the ${n} items; got ${itemVectors ? `${itemVectors.length} numbers` : 'none'}`);
  }
  const dim = itemVectors.length / n;
  for (const [key, v] of Object.entries(vectors)) {
    if (key === 'historyVectors' ? v.length % dim !== 0 : v.length !== dim) throw badInput(`the prior's ${key} has ${v.length} numbers; the aligned item vectors have ${dim} dimensions`);
  }
  return { rows: itemVectors, dim };
}

/** Most SID rows scored in one teacher-forced pass (a larger one can run the wasm heap out). */
const PROPOSAL_ROWS = 2048;

/**
 * Joins to each prompt's decoded SIDs those of the item head's `counts[i]` best items that the
 * beam did not finish (excluded items left out), each scored by teacher forcing, then restores
 * the best-first order.
 */
async function addHeadProposals(
  model: { params: GenerativeParams; cfg: GenerativeConfig },
  pack: PackContext,
  trie: SidTrie,
  prompts: readonly Prompt[],
  itemScores: Float32Array,
  results: DecodedSid[][],
  exclude: readonly (ArrayLike<number> | undefined)[] | undefined,
  counts: readonly number[],
): Promise<void> {
  // Every prompt gets m slots (the most asked for); a prompt asking fewer leaves the rest empty.
  const m = Math.max(0, ...counts);
  if (m === 0) return;
  const n = model.cfg.nItems;
  const w = model.cfg.sidSizes.length;
  const selector = new TopKSelector(m);
  const picked = new Int32Array(m);
  // Per prompt, m proposed leaves (-1: none left to propose) and their SIDs.
  const leaves = new Int32Array(prompts.length * m).fill(-1);
  const sids = new Int32Array(prompts.length * m * w);
  results.forEach((decoded, i) => {
    if (counts[i] === 0) return;
    const row = itemScores.slice(i * n, (i + 1) * n);
    for (const item of Array.from(exclude?.[i] ?? [])) if (item >= 0 && item < n) row[item] = Number.NEGATIVE_INFINITY;
    for (const d of decoded) for (const item of trie.items(d.leaf)) row[item] = Number.NEGATIVE_INFINITY;
    const got = selector.select(row, counts[i], picked);
    for (let j = 0; j < got; j++) {
      leaves[i * m + j] = trie.leafOf(picked[j]);
      sids.set(pack.itemSids.subarray(picked[j] * w, (picked[j] + 1) * w), (i * m + j) * w);
    }
  });
  const perPass = Math.max(1, Math.floor(PROPOSAL_ROWS / m));
  for (let from = 0; from < prompts.length; from += perPass) {
    const to = Math.min(prompts.length, from + perPass);
    const scores = await scoreSids(model.params, model.cfg, packPrompts(prompts.slice(from, to), pack), sids.subarray(from * m * w, to * m * w));
    for (let i = from; i < to; i++) {
      const known = new Set(results[i].map((d) => d.leaf));
      for (let j = 0; j < m; j++) {
        const leaf = leaves[i * m + j];
        if (leaf < 0 || known.has(leaf)) continue;
        known.add(leaf);
        results[i].push({ leaf, score: scores[(i - from) * m + j] });
      }
      results[i].sort((x, y) => y.score - x.score || x.leaf - y.leaf);
    }
  }
}
