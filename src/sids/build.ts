import type { SimilarityMatrix } from '../baselines/similarity.js';
import { badInput } from '../errors.js';
import type { ItemRecord } from '../store/types.js';
import { Rng } from '../tensor/rng.js';
import type { Tf } from '../tensor/runtime.js';
import { type CodebookReport, codebookReport } from './codebook-metrics.js';
import { checkCooccurrenceConfig, type CooccurrenceConfig, smoothByCooccurrence } from './cooccurrence.js';
import { DEFAULT_FUSION, type FusionWeights } from './keywords/fusion.js';
import { KEYWORD_DEFAULTS, type KeywordPoolConfig, KeywordPool, keywordFields } from './keywords/pool.js';
import { codesToTokens, collisionRanks, joinCodes, type SidLayout, lexOrder, sidWidth } from './layout.js';
import { checkVectors, type Matrix } from './matrix.js';
import { enhance, quantizedVectors, type SidModel, tokenVectors } from './model.js';
import { checkOpqConfig, trainOpq } from './opq.js';
import { checkRqConfig, type LaterLevelVectors, type LevelStats, type Tick, trainRq } from './rq.js';

export interface SidConfig {
  /** RQ codebook sizes, coarse to fine. */
  levels: number[];
  /** 1-based RQ levels trained with balanced k-means (the paper balances level 3 only). */
  balancedLevels: number[];
  /** OPQ on the last residual, or null for RQ-only IDs. */
  opq: { k: number; subspaces: number } | null;
  /** Most Lloyd iterations per RQ level. */
  iterations: number;
  /** OPQ alternations (codebooks <-> rotation). */
  opqIterations: number;
  seed: number;
  /** Keyword enhancement, or null to quantize the raw embeddings. */
  keywords: { pool: KeywordPoolConfig; weights: FusionWeights } | null;
  /** Co-occurrence smoothing of the quantized vectors (see `smoothByCooccurrence`), or null. */
  cooccurrence: CooccurrenceConfig | null;
}

/** Defaults that do not depend on the catalog size. */
export const SID_DEFAULTS = { iterations: 25, opqIterations: 8, seed: 42, subspaces: 2 } as const;

const pow2Below = (x: number) => 2 ** Math.floor(Math.log2(Math.max(2, x)));

/**
 * Defaults sized for the catalog. The paper's 4096-1024-512 + 2x256 serves tens of millions of
 * items. At catalog size n every RQ level gets k = 2^floor(log2(sqrt(n))) codes, at most 256
 * (12,101 Beauty items -> 64-64-64: ~190 items per level-1 code, ~3 per full RQ code), and the
 * two OPQ sub-codebooks the same k (2x64 on Beauty, 2x256 from 65,536 items up). Measured on
 * Beauty (docs/RESULTS.md), OPQ 2x64 separates more items than 2x256 at this size, and larger
 * RQ levels raise ICR but split each query's items over more level-1 codes. Level 3 is balanced.
 */
export function defaultSidConfig(items: number): SidConfig {
  const k = Math.min(256, pow2Below(Math.sqrt(items)));
  return {
    levels: [k, k, k],
    balancedLevels: [3],
    opq: { k, subspaces: SID_DEFAULTS.subspaces },
    iterations: SID_DEFAULTS.iterations,
    opqIterations: SID_DEFAULTS.opqIterations,
    seed: SID_DEFAULTS.seed,
    keywords: { pool: { ...KEYWORD_DEFAULTS }, weights: { ...DEFAULT_FUSION } },
    cooccurrence: null,
  };
}

/** Progress steps of a build: keywords, each RQ iteration, each OPQ alternation (+ final fit). */
export function buildSteps(config: SidConfig): number {
  return 1 + config.levels.length * config.iterations + (config.opq ? config.opqIterations + 1 : 0);
}

export interface SidBuildInputs {
  /** The catalog, in the row order of `embeddings`. */
  items: readonly ItemRecord[];
  /** One L2-normalised embedding per item from the aligned encoder. */
  embeddings: Matrix;
  /** Encodes keyword phrases with the same encoder (needed when keywords are on). */
  encode?: (texts: string[]) => Float32Array;
  encoderVersion?: string;
  /** Co-purchased item pairs (row indices, flat [a0, b0, a1, b1, ...]) for the report. */
  pairs?: Int32Array;
  /** Pairs held out of the embeddings and the similarity, for the report (see `ReportInputs`). */
  heldOutPairs?: Int32Array;
  /** Item-to-item similarity over the catalog rows (needed when `config.cooccurrence` is set). */
  similarity?: SimilarityMatrix;
}

export interface KeywordStats {
  pool: number;
  byType: Record<string, number>;
  /** Share of items with at least one keyword. */
  coverage: number;
  meanPerItem: number;
}

export interface SidBuildResult {
  config: SidConfig;
  model: SidModel;
  /** n x width per-position codes (RQ levels, then OPQ sub-codes). */
  codes: Int32Array;
  /** Rank of each item among items with the same SID (collision resolution). */
  ranks: Int32Array;
  report: CodebookReport;
  stats: {
    keywords: KeywordStats | null;
    rq: LevelStats[];
    opqDistortion: number[];
    /** Floating-point operations in distance and rotation products. */
    flops: number;
    seconds: { keywords: number; rq: number; opq: number; total: number };
  };
}

export function checkSidConfig(config: SidConfig, dim: number): void {
  checkRqConfig(config);
  if (config.opq) checkOpqConfig(config.opq, dim);
  if (!Number.isInteger(config.iterations) || config.iterations < 1) {
    throw badInput(`RQ iterations must be a positive integer; got ${config.iterations}`);
  }
  if (config.keywords) {
    const w = config.keywords.weights;
    if (!(w.embedding >= 0 && w.keywords >= 0 && w.embedding + w.keywords > 0)) {
      throw badInput(`fusion weights must be >= 0 and not both 0; got embedding ${w.embedding}, keywords ${w.keywords}`);
    }
  }
  if (config.cooccurrence) checkCooccurrenceConfig(config.cooccurrence, config.levels.length);
}

/**
 * KHQE on a catalog: keyword enhancement -> optional co-occurrence smoothing -> RQ-KMeans -> OPQ
 * on the last residual -> SIDs with deterministic collision ranks and the codebook report.
 * Deterministic under `config.seed`.
 */
export function buildSids(tf: Tf, inputs: SidBuildInputs, config: SidConfig, tick?: Tick): SidBuildResult {
  const { items, embeddings } = inputs;
  const t0 = performance.now();
  if (embeddings.rows !== items.length) {
    throw badInput(`got ${embeddings.rows} embeddings for ${items.length} items; embed the catalog again (gensearch embed)`);
  }
  checkVectors(embeddings, 'item embeddings', (r) => `item "${items[r].id}" (row ${r})`);
  checkSidConfig(config, embeddings.cols);
  const rng = new Rng(config.seed);
  const layout: SidLayout = { levels: [...config.levels], opq: config.opq && { ...config.opq } };
  const model: SidModel = {
    layout,
    dim: embeddings.cols,
    rq: [],
    opq: null,
    keywords: null,
    encoderVersion: inputs.encoderVersion ?? '',
  };
  let keywordStats: KeywordStats | null = null;
  let vectors = embeddings;
  if (config.keywords) {
    if (!inputs.encode) throw badInput('keyword enhancement needs the text encoder to embed keywords; pass `encode` or turn keywords off');
    const pool = KeywordPool.build(items, config.keywords.pool);
    const phrases = pool.keywords.map((k) => k.phrase);
    const vecs = phrases.length ? inputs.encode(phrases) : new Float32Array(0);
    model.keywords = {
      pool: [...pool.keywords],
      vectors: { data: vecs, rows: phrases.length, cols: embeddings.cols },
      weights: { ...config.keywords.weights },
    };
    const fields = items.map(keywordFields);
    const counts = fields.map((f) => new Set(f.flatMap((t) => pool.match(t))).size);
    keywordStats = {
      pool: phrases.length,
      byType: pool.countByType(),
      coverage: counts.filter((c) => c > 0).length / Math.max(1, items.length),
      meanPerItem: counts.reduce((a, b) => a + b, 0) / Math.max(1, items.length),
    };
    vectors = enhance(model, embeddings, fields);
  }
  let later: LaterLevelVectors | undefined;
  if (config.cooccurrence) {
    if (!inputs.similarity) throw badInput('co-occurrence smoothing needs the item-to-item similarity of the training behaviour');
    later = { fromLevel: config.cooccurrence.fromLevel ?? 1, data: smoothByCooccurrence(vectors, inputs.similarity, config.cooccurrence) };
  }
  tick?.(1, 'keywords');
  const t1 = performance.now();
  const rq = trainRq(
    tf,
    vectors,
    { levels: config.levels, balancedLevels: config.balancedLevels, iterations: config.iterations, seed: rng.seed() },
    tick,
    later,
  );
  model.rq = rq.codebooks;
  const t2 = performance.now();
  const opqSeed = rng.seed();
  const opq = config.opq
    ? trainOpq(tf, rq.residual, { ...config.opq, iterations: config.opqIterations, seed: opqSeed }, tick)
    : null;
  model.opq = opq?.model ?? null;
  const t3 = performance.now();
  const width = sidWidth(layout);
  const codes = joinCodes(rq.codes, config.levels.length, opq?.codes ?? null, config.opq?.subspaces ?? 0);
  const ranks = collisionRanks(codes, width, lexOrder(codes, width));
  const report = codebookReport(codes, layout, {
    categories: items.map((it) => it.categories[0] ?? null),
    pairs: inputs.pairs,
    heldOutPairs: inputs.heldOutPairs,
    seed: config.seed,
    vectors: { embeddings, quantized: quantizedVectors(tokenVectors(model), codesToTokens(layout, codes), width) },
  });
  const flops = rq.stats.reduce((s, l) => s + l.flops, 0) + (opq?.flops ?? 0);
  const sec = (a: number, b: number) => (b - a) / 1000;
  return {
    config,
    model,
    codes,
    ranks,
    report,
    stats: {
      keywords: keywordStats,
      rq: rq.stats,
      opqDistortion: opq?.distortion ?? [],
      flops,
      seconds: { keywords: sec(t0, t1), rq: sec(t1, t2), opq: sec(t2, t3), total: sec(t0, performance.now()) },
    },
  };
}
