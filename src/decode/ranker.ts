import { badInput } from '../errors.js';
import type { EvalCase, Protocol, RankedList, TopKRanker, TrainData } from '../eval/types.js';
import type { GenerativeConfig, GenerativeParams } from '../model/generative.js';
import { disposeParams } from '../model/params.js';
import type { BpeTokenizer } from '../model/tokenizer.js';
import type { SidTrie } from '../sids/trie.js';
import type { PackContext, Prompt } from '../tasks/prompt.js';
import type { BeamSearchStats } from './beam-search.js';
import type { TensorBackend } from '../tensor/runtime.js';
import { DecodeWorkers } from './decode-workers.js';
import { trainingCounts } from '../eval/popularity.js';
import { COSINE_WEIGHTS, generateItems, headKnobsOf, POPULARITY_PENALTY, PRIOR_WEIGHTS, type PriorWeight, promptsPerBatch } from './generate.js';
import { HeadPriors } from './priors.js';
import type { AlignedEmbeddings } from '../cascade/embeddings.js';

/** A trained generative retriever with everything needed to turn requests into prompts. */
export interface GenerativeModel {
  params: GenerativeParams;
  cfg: GenerativeConfig;
  tokenizer: BpeTokenizer;
  pack: PackContext;
  /** Valid item SIDs; leaves list dense item indices in collision-rank order. */
  trie: SidTrie;
  /** SID tokens of the queries the model was trained with. */
  querySids: ReadonlyMap<string, Int32Array>;
  /** SID tokens of a query not in `querySids` (text encoder + SID codebooks), when available. */
  assignQuery?: (text: string) => Int32Array | null;
  useQuerySid: boolean;
  useHistory: boolean;
  /** Per item: log(1 + its purchases in the training view), for the head's popularity correction. */
  itemLogCounts?: Float32Array;
}

const NONE: Int32Array = new Int32Array(0);

/** The personalised prompt of a request: query (may be empty: recommendation) and history. */
export function requestPrompt(model: GenerativeModel, history: Int32Array, query: string | null): Prompt {
  const text = query?.trim() ?? '';
  let sid: Int32Array = NONE;
  if (text && model.useQuerySid) sid = model.querySids.get(text) ?? model.assignQuery?.(text) ?? NONE;
  return {
    task: 'personal',
    text: text ? model.tokenizer.encode(text, model.cfg.maxPromptText) : NONE,
    sid,
    history: model.useHistory ? history : NONE,
  };
}

export interface RankerOptions {
  beam: number;
  /** Dynamic pruning margin (nats); Infinity = off. */
  pruneMargin?: number;
  maxRows?: number;
  /** Decoding threads (`DecodeWorkers`); 0 or absent: the main thread. */
  workers?: number;
  backend?: TensorBackend;
  /**
   * Leave the history out during the search for the exclude-history lists (default true), so
   * beams are not spent on items that will be dropped; false: drop them from the kept list.
   */
  decodeExclude?: boolean;
  /** Weight of the item head in the ranking (`GenerateOptions.itemWeight`); absent: by request kind. */
  itemWeight?: number;
  /** Items the head proposes beyond the beam (`GenerateOptions.headCandidates`); absent: by request kind. */
  headCandidates?: number;
  /** The head's popularity correction (`GenerateOptions.popularityPenalty`), counted on the training view; absent: its default. */
  popularityPenalty?: number;
  /** Weight of the head's co-purchase prior (`GenerateOptions.coPurchaseWeight`; `HeadPriors` fitted on the training view); absent: by request kind. */
  coPurchaseWeight?: number;
  /** Weight of the head's text-match prior (`GenerateOptions.textMatchWeight`); absent: by request kind. */
  textMatchWeight?: number;
  /** Weight of the query's cosine with the items (`GenerateOptions.queryCosineWeight`); absent: by request kind. */
  queryCosineWeight?: number;
  /** Weight of the user tower's cosine with the items (`GenerateOptions.userCosineWeight`); absent: by request kind. */
  userCosineWeight?: number;
  /** Weight of the nearest history item's cosine with the items (`GenerateOptions.historyCosineWeight`); absent: by request kind. */
  historyCosineWeight?: number;
}

export type PriorWeights = Pick<RankerOptions, PriorWeight>;

/**
 * The head's priors fitted on `train` for a model with a head, unless every weight is set to 0;
 * `embeddings` loads the aligned embeddings where they were built (the query and user
 * vectors), which a cosine weight > 0 requires.
 */
export async function headPriorsFor(
  cfg: GenerativeConfig,
  train: TrainData,
  weights: PriorWeights,
  embeddings?: () => Promise<AlignedEmbeddings | undefined>,
): Promise<HeadPriors | undefined> {
  if (!cfg.itemHead || PRIOR_WEIGHTS.every((w) => weights[w] === 0)) return undefined;
  const loaded = await embeddings?.();
  if (!loaded && COSINE_WEIGHTS.some((w) => (weights[w] ?? 0) > 0)) {
    throw badInput(`the cosine priors need the aligned embeddings of dataset "${train.dataset}": run \`gensearch embed --dataset ${train.dataset}\` first`);
  }
  return HeadPriors.fit(train, { embeddings: loaded });
}

/**
 * The generative retriever as a harness system (`TopKRanker`): each case becomes a prompt, beam
 * search generates SIDs, SIDs become items. `load` gives the model trained on the training
 * view (it is called once per fit), `embeddings` the aligned embeddings of its catalog where
 * they were built (for the head's query and user vectors). Lists hold at most `beam` SIDs'
 * items (and the head's proposals), so the beam bounds how deep the ranking goes.
 */
export class GenerativeRanker implements TopKRanker {
  readonly name: string;
  readonly protocols: readonly Protocol[] = ['rec', 'search'];
  readonly batchSize: number;
  readonly excludesHistory: boolean;
  private model?: GenerativeModel;
  private pool?: DecodeWorkers;
  private itemLogCounts?: Float32Array;
  private priors?: HeadPriors;
  /** Decoding work of every rankBatch since fit (pruning reports). */
  readonly stats: BeamSearchStats = { beamRowsScored: 0, pruned: 0 };

  constructor(
    private readonly load: (train: TrainData) => Promise<GenerativeModel> | GenerativeModel,
    private readonly options: RankerOptions,
    name = 'generative',
    private readonly embeddings?: (train: TrainData) => Promise<AlignedEmbeddings | undefined>,
  ) {
    if (!Number.isInteger(options.beam) || options.beam < 1) throw badInput(`beam must be a positive integer; got ${options.beam}`);
    this.name = name;
    // One decoding batch per worker and call.
    this.batchSize = promptsPerBatch(options.beam, options.maxRows) * Math.max(1, options.workers ?? 0);
    this.excludesHistory = options.decodeExclude ?? true;
  }

  params(): Record<string, unknown> {
    return {
      beam: this.options.beam,
      pruneMargin: this.options.pruneMargin ?? null,
      decodeExclude: this.excludesHistory,
      head: this.model
        ? { search: headKnobsOf(this.model.cfg, 'search', this.options), rec: headKnobsOf(this.model.cfg, 'rec', this.options) }
        : { itemWeight: this.options.itemWeight ?? null, headCandidates: this.options.headCandidates ?? null },
      popularityPenalty: this.options.popularityPenalty ?? (this.model?.cfg.itemHead ? POPULARITY_PENALTY : 0),
      alignedEmbeddings: this.priors?.embeddings?.version ?? null,
    };
  }

  async fit(train: TrainData): Promise<void> {
    await this.closePool();
    this.model = await this.load(train);
    if (this.model.cfg.nItems !== train.nItems) {
      throw badInput(`the generative model was trained on ${this.model.cfg.nItems} items; dataset "${train.dataset}" has ${train.nItems}: train again`);
    }
    if (this.model.cfg.itemHead) this.itemLogCounts = Float32Array.from(trainingCounts(train), (c) => Math.log1p(c));
    const { embeddings } = this;
    this.priors = await headPriorsFor(this.model.cfg, train, this.options, embeddings && (() => embeddings(train)));
    if (this.options.workers) this.pool = await DecodeWorkers.start(this.model, this.options.workers, this.options.backend);
  }

  async rankBatch(cases: readonly EvalCase[], k: number, excludeHistory = false): Promise<RankedList[]> {
    const model = this.model;
    if (!model) throw badInput('generative: fit() must run before rankBatch()');
    const prompts = cases.map((c) => requestPrompt(model, c.history, c.query));
    const options = {
      beam: this.options.beam,
      k,
      pruneMargin: this.options.pruneMargin,
      maxRows: this.options.maxRows,
      itemWeight: this.options.itemWeight,
      headCandidates: this.options.headCandidates,
      popularityPenalty: this.options.popularityPenalty,
      itemLogCounts: this.itemLogCounts,
      coPurchaseWeight: this.options.coPurchaseWeight,
      textMatchWeight: this.options.textMatchWeight,
      queryCosineWeight: this.options.queryCosineWeight,
      userCosineWeight: this.options.userCosineWeight,
      historyCosineWeight: this.options.historyCosineWeight,
      priors: this.priors && cases.map((c) => this.priors!.of(c.history, c.query)),
      itemVectors: this.priors?.embeddings?.items,
      exclude: excludeHistory ? cases.map((c) => c.history) : undefined,
    };
    const { lists, stats } = await (this.pool ? this.pool.generate(prompts, options) : generateItems(model, model.pack, model.trie, prompts, options));
    this.stats.beamRowsScored += stats.beamRowsScored;
    this.stats.pruned += stats.pruned;
    return lists;
  }

  dispose(): void {
    if (this.model) disposeParams(this.model.params);
    this.model = undefined;
    void this.closePool();
  }

  private async closePool(): Promise<void> {
    const pool = this.pool;
    this.pool = undefined;
    await pool?.close();
  }
}

/**
 * One live request (CLI): the top `k` items for a history and an optional query; `priors`,
 * fitted on the known behaviour, give a model with a head its priors.
 */
export async function rankRequest(
  model: GenerativeModel,
  history: Int32Array,
  query: string | null,
  options: RankerOptions & { k: number; excludeHistory?: boolean; priors?: HeadPriors },
): Promise<{ list: RankedList; stats: BeamSearchStats; seconds: number }> {
  const start = performance.now();
  const { priors, ...rest } = options;
  const { lists, stats } = await generateItems(model, model.pack, model.trie, [requestPrompt(model, history, query)], {
    itemLogCounts: model.itemLogCounts,
    ...rest,
    priors: priors && [priors.of(history, query)],
    itemVectors: priors?.embeddings?.items,
    exclude: options.excludeHistory ? [history] : undefined,
  });
  return { list: lists[0], stats, seconds: (performance.now() - start) / 1000 };
}
