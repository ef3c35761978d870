import { join } from 'node:path';
import type { SimilarityMatrix } from '../baselines/similarity.js';
import { type Embeddings, readEmbeddings } from '../encoders/embfile.js';
import { I2I_SOURCES } from '../encoders/pairs.js';
import { badInput, GensearchError, notFound } from '../errors.js';
import { buildEvalData, MIN_SEQUENCE } from '../eval/protocol.js';
import { hemQuery } from '../eval/query.js';
import { progress } from '../progress.js';
import { type Interactions, loadInteractions } from '../store/interactions.js';
import type { ItemRecord, SidRow, Store } from '../store/types.js';
import type { Tf } from '../tensor/runtime.js';
import { buildSids, buildSteps, defaultSidConfig, type SidBuildResult, type SidConfig } from './build.js';
import type { Tick } from './rq.js';
import { keywordFields } from './keywords/pool.js';
import { codesToTokens, collisionRanks, lexOrder, prefixCounts, type SidLayout, sidWidth } from './layout.js';
import { gatherRows, type Matrix } from './matrix.js';
import { assignSids, type SidModel } from './model.js';
import { loadSidModel, saveSidModel } from './model-file.js';
import { SidTrie } from './trie.js';

/** Name of the SID build when none is given. */
export const DEFAULT_SID_BUILD = 'default';

/** Folder of a SID build's codebooks and report: <home>/<dataset>/sids/<name>. */
export function sidDir(home: string, dataset: string, name = DEFAULT_SID_BUILD): string {
  return join(home, dataset, 'sids', name);
}

/** A text encoder as the SID build needs it: texts in, L2-normalised rows out. */
export interface TextEmbedder {
  readonly dim: number;
  readonly version: string;
  encode(texts: readonly string[]): Float32Array;
}

/**
 * Co-purchase pairs for the report, as row indices: `training`, consecutive items of each
 * user's training sequence (all but the last two items, which leave-one-out holds out);
 * `heldOut`, each user's last training item -> validation item, which nothing a build reads has
 * seen.
 */
export function coPurchasePairs(inter: Interactions): { training: Int32Array; heldOut: Int32Array } {
  const training: number[] = [];
  const heldOut: number[] = [];
  for (const seq of inter.sequences) {
    const n = seq.length;
    for (let i = 1; i < n - 2; i++) if (seq[i - 1] !== seq[i]) training.push(seq[i - 1], seq[i]);
    if (n >= MIN_SEQUENCE && seq[n - 3] !== seq[n - 2]) heldOut.push(seq[n - 3], seq[n - 2]);
  }
  return { training: Int32Array.from(training), heldOut: Int32Array.from(heldOut) };
}

/** Rows of `emb` in the order of `ids`; every id must be present. */
export function alignRows(emb: Embeddings, ids: readonly string[], source: string): Matrix {
  const row = new Map(emb.ids.map((id, i) => [id, i]));
  const missing = ids.filter((id) => !row.has(id));
  if (missing.length > 0) {
    throw badInput(
      `${source} has no embedding for ${missing.length} of ${ids.length} items (e.g. "${missing.slice(0, 3).join('", "')}"); run \`gensearch embed\` again after the import`,
    );
  }
  return gatherRows({ data: emb.data, rows: emb.ids.length, cols: emb.dim }, ids.map((id) => row.get(id)!));
}

/** Query SIDs against item SIDs: how often a purchase's HEM query shares a prefix with the item. */
export interface QueryAgreement {
  queries: number;
  /** Queries whose SID no other query has / queries. */
  icr: number;
  /** Per prefix length 1..width: share of items whose own HEM query's SID shares that prefix. */
  itemQueryPrefix: number[];
}

/** What a SID build reads for a dataset, loaded once (the comparison runs several builds on it). */
export interface SidInputs {
  dataset: string;
  items: ItemRecord[];
  /** Item embeddings in catalog order. */
  embeddings: Matrix;
  encoderVersion: string;
  /** Co-purchase pairs of the training sequences and held-out ones (see `coPurchasePairs`). */
  pairs: { training: Int32Array; heldOut: Int32Array };
  /** ItemCF similarity of the training view (top neighbours), built on first use (co-occurrence smoothing). */
  similarity: () => SimilarityMatrix;
  /** Query texts and their embeddings, when the encoder wrote them. */
  queries: { texts: string[]; vectors: Matrix } | null;
}

/** Reads the catalog and behaviour from the store and the embeddings written by `gensearch embed`. */
export function loadSidInputs(store: Store, options: { dataset: string; embeddings: string; queries?: string | null }): SidInputs {
  const inter = loadInteractions(store, options.dataset);
  if (inter.items.length === 0) throw badInput(`dataset "${options.dataset}" has no items; import a catalog first`);
  const emb = readEmbeddings(options.embeddings);
  const q = options.queries ? readEmbeddings(options.queries) : null;
  let similarity: SimilarityMatrix | undefined;
  if (q && q.dim !== emb.dim) throw badInput(`${options.queries} has ${q.dim}-d rows; ${options.embeddings} has ${emb.dim}-d: embed both with one encoder`);
  return {
    dataset: options.dataset,
    items: inter.items,
    embeddings: alignRows(emb, inter.items.map((it) => it.id), options.embeddings),
    encoderVersion: emb.modelVersion,
    pairs: coPurchasePairs(inter),
    similarity: () => (similarity ??= I2I_SOURCES.itemcf(buildEvalData(inter, 'rec', 'valid').train)),
    queries: q && { texts: q.ids, vectors: { data: q.data, rows: q.ids.length, cols: q.dim } },
  };
}

export interface SidRun {
  build: SidBuildResult;
  queryCodes: Int32Array | null;
  queryAgreement: QueryAgreement | null;
}

/** One build on loaded inputs: item SIDs, then query SIDs from the same codebooks. */
export function runSidBuild(tf: Tf, inputs: SidInputs, config: SidConfig, encoder?: TextEmbedder, tick?: Tick): SidRun {
  if (encoder && inputs.encoderVersion && encoder.version !== inputs.encoderVersion) {
    throw new GensearchError(
      'CONFLICT',
      `the item embeddings were written by encoder ${inputs.encoderVersion}, but the encoder given is ${encoder.version}; run \`gensearch embed\` again`,
    );
  }
  const build = buildSids(
    tf,
    {
      items: inputs.items,
      embeddings: inputs.embeddings,
      encode: encoder ? (texts) => encoder.encode(texts) : undefined,
      encoderVersion: inputs.encoderVersion,
      pairs: inputs.pairs.training,
      heldOutPairs: inputs.pairs.heldOut,
      similarity: config.cooccurrence ? inputs.similarity() : undefined,
    },
    config,
    tick,
  );
  const q = inputs.queries;
  if (!q) return { build, queryCodes: null, queryAgreement: null };
  const queryCodes = assignSids(tf, build.model, q.vectors, q.texts.map((t) => [t]), (r) => `query "${q.texts[r]}"`);
  return { build, queryCodes, queryAgreement: agreement(build.model.layout, inputs.items, build.codes, q.texts, queryCodes) };
}

export interface DatasetSidOptions {
  home: string;
  dataset: string;
  /** Build name: the store's SID version and the folder under <home>/<dataset>/sids (default "default"). */
  name?: string;
  /** Overrides of the catalog-sized defaults. */
  config?: Partial<SidConfig>;
  /** Item embeddings manifest (from `gensearch embed`). */
  embeddings: string;
  /** Query embeddings manifest (ids = query texts); queries get SIDs when given. */
  queries?: string | null;
  /** The encoder that made the embeddings: embeds keyword phrases (needed with keywords on). */
  encoder?: TextEmbedder;
}

export interface DatasetSidResult extends SidRun {
  dir: string;
  modelPath: string;
}

/**
 * `gensearch sids build`: item embeddings -> keyword enhancement -> RQ -> OPQ -> SID table in
 * the store (items and queries) + codebooks and report under `sidDir`.
 */
export function buildDatasetSids(tf: Tf, store: Store, options: DatasetSidOptions): DatasetSidResult {
  const { dataset, home } = options;
  const name = options.name ?? DEFAULT_SID_BUILD;
  const inputs = loadSidInputs(store, options);
  const config: SidConfig = { ...defaultSidConfig(inputs.items.length), ...options.config };
  const bar = progress(`sids build ${dataset}`, buildSteps(config), 'step');
  let run: SidRun;
  try {
    run = runSidBuild(tf, inputs, config, options.encoder, (n, info) => bar.tick(n, info));
  } finally {
    bar.stop();
  }
  const { build, queryCodes, queryAgreement } = run;
  const width = sidWidth(build.model.layout);
  const rows: SidRow[] = [
    ...tableRows('item', inputs.items.map((it) => it.id), build.codes, build.ranks, width),
    ...(queryCodes && inputs.queries ? tableRows('query', inputs.queries.texts, queryCodes, null, width) : []),
  ];
  store.write((tx) => {
    tx.dropSids(dataset, name);
    tx.putSids(dataset, name, rows);
  });
  const dir = sidDir(home, dataset, name);
  const modelPath = saveSidModel(dir, build.model, {
    dataset,
    name,
    builtAt: new Date().toISOString(),
    embeddings: options.embeddings,
    config: build.config,
    report: build.report,
    stats: build.stats,
    queryAgreement,
  });
  return { ...run, dir, modelPath };
}

/** SID table rows; ranks computed within `codes` when not given. */
function tableRows(kind: SidRow['kind'], keys: readonly string[], codes: Int32Array, ranks: Int32Array | null, width: number): SidRow[] {
  const r = ranks ?? collisionRanks(codes, width, lexOrder(codes, width));
  return keys.map((key, i) => ({ kind, key, codes: Array.from(codes.subarray(i * width, (i + 1) * width)), rank: r[i] }));
}

function agreement(
  layout: SidLayout,
  items: readonly ItemRecord[],
  itemCodes: Int32Array,
  texts: readonly string[],
  queryCodes: Int32Array,
): QueryAgreement {
  const width = sidWidth(layout);
  const rowOf = new Map(texts.map((t, i) => [t, i]));
  const shared = new Array<number>(width).fill(0);
  let counted = 0;
  items.forEach((it, i) => {
    const q = rowOf.get(hemQuery(it));
    if (q === undefined) return;
    counted++;
    for (let p = 0; p < width && itemCodes[i * width + p] === queryCodes[q * width + p]; p++) shared[p]++;
  });
  const { unique } = prefixCounts(queryCodes, width, lexOrder(queryCodes, width), width);
  return {
    queries: texts.length,
    icr: texts.length ? unique / texts.length : Number.NaN,
    itemQueryPrefix: shared.map((s) => s / Math.max(1, counted)),
  };
}

/** A loaded SID table: what the decoder and the task builders read. */
export interface SidIndex {
  layout: SidLayout;
  width: number;
  /** Row -> item id (catalog order as stored). */
  itemIds: string[];
  rowOf: Map<string, number>;
  /** n x width per-position codes. */
  codes: Int32Array;
  /** n x width global tokens (codes + position offsets). */
  tokens: Int32Array;
  ranks: Int32Array;
  /** Valid item SIDs over global tokens; leaves list rows in rank order. */
  trie: SidTrie;
  /** Query text -> its SID tokens, when the build had query embeddings. */
  queries: Map<string, Int32Array>;
}

/** Builds the index of a SID table from store rows. */
export function sidIndex(layout: SidLayout, rows: readonly SidRow[]): SidIndex {
  const width = sidWidth(layout);
  const items = rows.filter((r) => r.kind === 'item');
  const codes = new Int32Array(items.length * width);
  const ranks = new Int32Array(items.length);
  items.forEach((r, i) => {
    if (r.codes.length !== width) {
      throw badInput(`SID of item "${r.key}" has ${r.codes.length} codes; the layout has ${width}: rebuild with \`gensearch sids build\``);
    }
    codes.set(r.codes, i * width);
    ranks[i] = r.rank;
  });
  const tokens = codesToTokens(layout, codes);
  const queries = new Map<string, Int32Array>();
  for (const r of rows) if (r.kind === 'query') queries.set(r.key, codesToTokens(layout, Int32Array.from(r.codes)));
  const itemIds = items.map((r) => r.key);
  return {
    layout,
    width,
    itemIds,
    rowOf: new Map(itemIds.map((id, i) => [id, i])),
    codes,
    tokens,
    ranks,
    trie: new SidTrie(tokens, width),
    queries,
  };
}

/** Loads a SID build: its model (codebooks) from `sidDir` and its table from the store. */
export function loadSids(
  store: Store,
  home: string,
  dataset: string,
  name = DEFAULT_SID_BUILD,
): { model: SidModel; info: Record<string, unknown>; index: SidIndex } {
  const rows = store.sids(dataset, name);
  if (rows.length === 0) {
    const known = store.sidVersions(dataset);
    throw notFound(`SID build "${name}" of dataset "${dataset}"`, known.length ? `built: ${known.join(', ')}` : 'run `gensearch sids build` first');
  }
  const { model, extra } = loadSidModel(sidDir(home, dataset, name));
  return { model, info: extra, index: sidIndex(model.layout, rows) };
}

export interface AssignResult {
  /** Items that got a SID now. */
  assigned: string[];
  /** Of those, how many share their SID with an item that had it before. */
  collided: number;
}

/**
 * Incremental assignment (`gensearch sids assign`): catalog items that have no SID in the
 * build get one from the saved codebooks, without retraining. A new item whose SID is taken
 * gets the next free rank in that SID, so existing (SID, rank) pairs never change.
 */
export function assignNewItems(
  tf: Tf,
  store: Store,
  options: { home: string; dataset: string; name?: string; encoder: TextEmbedder; itemText: (item: ItemRecord) => string },
): AssignResult {
  const name = options.name ?? DEFAULT_SID_BUILD;
  const { model, index } = loadSids(store, options.home, options.dataset, name);
  const fresh = store.items(options.dataset).filter((it) => !index.rowOf.has(it.id));
  if (fresh.length === 0) return { assigned: [], collided: 0 };
  if (options.encoder.dim !== model.dim) {
    throw new GensearchError(
      'CONFLICT',
      `the encoder makes ${options.encoder.dim}-d vectors; build "${name}" was trained on ${model.dim}-d: rebuild with \`gensearch sids build\``,
    );
  }
  const vectors: Matrix = { data: options.encoder.encode(fresh.map(options.itemText)), rows: fresh.length, cols: model.dim };
  const codes = assignSids(tf, model, vectors, fresh.map(keywordFields), (r) => `item "${fresh[r].id}"`);
  const width = index.width;
  const nextRank = new Map<string, number>();
  for (let i = 0; i < index.itemIds.length; i++) {
    const key = index.codes.subarray(i * width, (i + 1) * width).join(' ');
    nextRank.set(key, Math.max(nextRank.get(key) ?? 0, index.ranks[i] + 1));
  }
  let collided = 0;
  const rows: SidRow[] = fresh.map((it, i) => {
    const c = Array.from(codes.subarray(i * width, (i + 1) * width));
    const key = c.join(' ');
    const rank = nextRank.get(key) ?? 0;
    if (rank > 0) collided++;
    nextRank.set(key, rank + 1);
    return { kind: 'item', key: it.id, codes: c, rank };
  });
  store.write((tx) => tx.putSids(options.dataset, name, rows));
  return { assigned: fresh.map((it) => it.id), collided };
}

const pct = (x: number) => `${(100 * x).toFixed(2)}%`;

/** Build statistics as readable lines: keyword pool, query SIDs, time per stage. */
export function formatBuildStats(stats: SidBuildResult['stats'], queries: QueryAgreement | null): string {
  const lines: string[] = [];
  const k = stats.keywords;
  if (k) {
    const types = Object.entries(k.byType)
      .map(([t, c]) => `${t} ${c}`)
      .join(', ');
    lines.push(`keywords: ${k.pool} in the pool (${types}); ${pct(k.coverage)} of items have one, ${k.meanPerItem.toFixed(2)} per item`);
  } else {
    lines.push('keywords: off');
  }
  if (queries) {
    lines.push(
      `queries: ${queries.queries} with SIDs, ICR ${pct(queries.icr)}; items sharing prefix 1..n with their own HEM query: ${queries.itemQueryPrefix.map(pct).join(' ')}`,
    );
  }
  const s = stats.seconds;
  lines.push(
    `time: keywords ${s.keywords.toFixed(1)} s, RQ ${s.rq.toFixed(1)} s, OPQ ${s.opq.toFixed(1)} s, total ${s.total.toFixed(1)} s (${(stats.flops / 1e9).toFixed(1)} GFLOP in products)`,
  );
  return lines.join('\n');
}
