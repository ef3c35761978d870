import { randomUUID } from 'node:crypto';
import { ItemCF } from '../baselines/itemcf.js';
import { baseline } from '../baselines/registry.js';
import { hasAlignedEmbeddings, loadAlignedEmbeddingsIfBuilt } from '../cascade/embeddings.js';
import { HeadPriors, type PromptPriors } from '../decode/priors.js';
import { GensearchError, notFound } from '../errors.js';
import { knownBehaviour } from '../eval/protocol.js';
import { TopKSelector } from '../eval/topk.js';
import { isDenseScorer, type Protocol, type RankedList, type RankingSystem } from '../eval/types.js';
import { loadInteractions, POSITIVE_TYPES } from '../store/interactions.js';
import type { EventRecord, EventType, ItemRecord, Store } from '../store/types.js';

/**
 * Systems the server can rank with beside the model: the ones that need no training run, and
 * the search cascade's recall + pre-rank (it needs the aligned embeddings of `gensearch embed`;
 * its ranker is trained on an evaluation view, not on the live histories, so it is not served).
 */
export const SERVED_BASELINES = ['popular', 'itemcf', 'swing', 'bm25', 'bm25-personal', 'cascade-norank'] as const;
export type ServedBaseline = (typeof SERVED_BASELINES)[number];

export interface ShopOptions {
  /** Systems fitted at start (default all of SERVED_BASELINES whose inputs exist). */
  baselines?: readonly ServedBaseline[];
  /** Working folder where systems find what they were built from (the aligned embeddings). */
  home?: string;
}

/** The default systems: the cascade only where its embeddings were built. */
function defaultBaselines(home: string | undefined, dataset: string): ServedBaseline[] {
  const embedded = home !== undefined && hasAlignedEmbeddings(home, dataset);
  return SERVED_BASELINES.filter((name) => name !== 'cascade-norank' || embedded);
}

/**
 * The live state of one dataset behind the server: the catalog in dense order, every user's
 * positive history (kept current as events arrive: the store first, then memory), and the
 * baselines and the model's priors fitted on all behaviour known at start. Models come and go;
 * the shop stays.
 */
export class Shop {
  readonly dataset: string;
  readonly items: readonly ItemRecord[];
  readonly itemIndex: ReadonlyMap<string, number>;
  private readonly histories = new Map<string, number[]>();
  private readonly systems = new Map<string, RankingSystem>();
  private readonly selector = new TopKSelector();
  private priors?: HeadPriors;

  private constructor(
    private readonly store: Store,
    dataset: string,
  ) {
    const inter = loadInteractions(store, dataset);
    this.dataset = dataset;
    this.items = inter.items;
    this.itemIndex = inter.itemIndex;
    inter.userIds.forEach((id, u) => this.histories.set(id, Array.from(inter.sequences[u])));
    for (const u of store.users(dataset)) if (!this.histories.has(u.id)) this.histories.set(u.id, []);
  }

  /** Loads the dataset and fits the baselines on every user's whole known history. */
  static async open(store: Store, dataset: string, options: ShopOptions = {}): Promise<Shop> {
    const shop = new Shop(store, dataset);
    const train = knownBehaviour(
      dataset,
      [...shop.items],
      [...shop.histories.values()].map((h) => Int32Array.from(h)),
    );
    for (const name of options.baselines ?? defaultBaselines(options.home, dataset)) {
      const spec = baseline(name);
      const system = spec.create({ ...spec.defaults }, options.home === undefined ? undefined : { home: options.home });
      await system.fit(train);
      shop.systems.set(name, system);
    }
    // The served ItemCF (default knobs) is the co-purchase prior as it is.
    const served = shop.systems.get('itemcf');
    const embeddings = options.home === undefined ? undefined : await loadAlignedEmbeddingsIfBuilt(options.home, dataset, shop.items);
    shop.priors = HeadPriors.fit(train, { itemcf: served instanceof ItemCF ? served : undefined, embeddings });
    return shop;
  }

  /** What the history and the query say about the items (a generative model's head priors). */
  priorsOf(history: Int32Array, query: string | null): PromptPriors | undefined {
    return this.priors?.of(history, query);
  }

  /** The aligned item vectors the priors' query and user vectors are scored against, where `gensearch embed` has run. */
  get itemVectors(): Float32Array | undefined {
    return this.priors?.embeddings?.items;
  }

  get baselines(): string[] {
    return [...this.systems.keys()];
  }

  get userCount(): number {
    return this.histories.size;
  }

  hasUser(userId: string): boolean {
    return this.histories.has(userId);
  }

  /** Positive history (dense item indices, oldest first) of a known user; 404 otherwise. */
  history(userId: string): Int32Array {
    const h = this.histories.get(userId);
    if (!h) throw this.unknownUser(userId);
    return Int32Array.from(h);
  }

  private unknownUser(userId: string): GensearchError {
    return notFound(`user "${userId}" in dataset "${this.dataset}"`, 'pass an id from GET /v1/users, or send its events first');
  }

  /** Dense indices of item ids; 404 names the first unknown one. */
  itemIndices(ids: readonly string[]): Int32Array {
    return Int32Array.from(ids, (id) => this.indexOf(id));
  }

  indexOf(itemId: string): number {
    const i = this.itemIndex.get(itemId);
    if (i === undefined) throw notFound(`item "${itemId}" in dataset "${this.dataset}"`, 'ids are the catalog ids of GET /v1/items/:id');
    return i;
  }

  /** Users with the longest histories first (the page's chooser), then by id. */
  sampleUsers(limit: number, minHistory: number): { id: string; historyLength: number }[] {
    const out: { id: string; historyLength: number }[] = [];
    for (const [id, h] of this.histories) if (h.length >= minHistory) out.push({ id, historyLength: h.length });
    out.sort((a, b) => b.historyLength - a.historyLength || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return out.slice(0, limit);
  }

  recentEvents(userId: string, limit: number): EventRecord[] {
    if (!this.histories.has(userId)) throw this.unknownUser(userId);
    return this.store.recentEvents(this.dataset, userId, limit);
  }

  /**
   * Records one behaviour event: it is written to the store (one transaction) and, when it is
   * positive, appended to the user's live history, so the next request of that user sees it.
   * A user id not seen before becomes a new user.
   */
  appendEvent(event: { userId: string; itemId: string; type: EventType; query: string | null; sessionId: string | null; eventId?: string }): { added: boolean; historyLength: number } {
    const item = this.indexOf(event.itemId);
    const record: EventRecord = {
      userId: event.userId,
      itemId: event.itemId,
      type: event.type,
      query: event.query,
      ts: Date.now(),
      sessionId: event.sessionId,
      key: event.eventId ?? `live:${randomUUID()}`,
    };
    const added = this.store.write((tx) => {
      if (!this.histories.has(event.userId)) tx.putUsers(this.dataset, [{ id: event.userId, profile: {} }]);
      return tx.putEvents(this.dataset, [record]) > 0;
    });
    let history = this.histories.get(event.userId);
    if (!history) {
      history = [];
      this.histories.set(event.userId, history);
    }
    if (added && POSITIVE_TYPES.includes(event.type)) history.push(item);
    return { added, historyLength: history.length };
  }

  /** The top `k` of a fitted baseline for a history and an optional query, without the `exclude` items. */
  async rankBaseline(name: string, history: Int32Array, query: string | null, k: number, exclude?: Int32Array): Promise<RankedList> {
    const system = this.systems.get(name);
    if (!system) throw new GensearchError('BAD_INPUT', `system "${name}" is not served; served: generative, ${this.baselines.join(', ')}`);
    const protocol: Protocol = query ? 'search' : 'rec';
    if (system.protocols && !system.protocols.includes(protocol)) {
      throw new GensearchError('BAD_INPUT', `system "${name}" does not serve ${protocol === 'rec' ? 'recommendation (it needs a query)' : 'search'}`);
    }
    const cases = [{ user: -1, history, query, targets: new Int32Array(0) }];
    if (!isDenseScorer(system)) {
      const left = new Set(exclude ?? []);
      const list = (await system.rankBatch(cases, k + left.size))[0];
      const keep = Array.from(list.items.keys()).filter((i) => !left.has(list.items[i])).slice(0, k);
      return { items: Int32Array.from(keep, (i) => list.items[i]), scores: Float32Array.from(keep, (i) => list.scores[i]) };
    }
    // A row per request: scorers may yield (async), so concurrent requests never share one.
    const row = new Float32Array(this.items.length);
    await system.scoreBatch(cases, row);
    for (const item of exclude ?? []) row[item] = Number.NEGATIVE_INFINITY;
    const items = new Int32Array(k);
    const scores = new Float32Array(k);
    const n = this.selector.select(row, k, items, scores);
    return { items: items.subarray(0, n), scores: scores.subarray(0, n) };
  }
}
