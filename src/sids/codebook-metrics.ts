import { Rng } from '../tensor/rng.js';
import { type SidLayout, lexOrder, prefixCounts, sidWidth } from './layout.js';
import type { Matrix } from './matrix.js';

export interface CodebookReport {
  items: number;
  layout: SidLayout;
  /** Used level-1 codes / k1. */
  curL1: number;
  /** Used (level-1, level-2) pairs / (k1 k2). */
  curL1xL2: number;
  /** Distinct RQ codes (all RQ levels) / (k1 k2 ... kL): the paper's CUR_total. */
  curTotal: number;
  /** Items whose RQ code alone is theirs alone / items. */
  icrRq: number;
  /** Items whose full SID (RQ + OPQ) is theirs alone / items: the paper's ICR. */
  icr: number;
  /** Full SIDs shared by several items: how many, how many items, the largest group. */
  collisions: { sids: number; items: number; largest: number };
  /** Distinct full SIDs and items per SID. */
  sids: number;
  itemsPerSid: { mean: number; max: number };
  /** Per prefix length 1..width: share of items in their prefix's majority category. */
  purity: { prefix: number; top: number; leaf: number }[];
  /** Per prefix length 1..width: share of co-purchased pairs / random pairs sharing that prefix. */
  coPurchase: PairSharing | null;
  /** The same on held-out pairs, which no build input (embeddings, co-occurrence) has seen. */
  heldOut: PairSharing | null;
  /**
   * How much of the embeddings' co-purchase neighbourhood the quantization keeps: over a sample
   * of held-out pairs (a, b), the share where b is among a's 10 best-scored other items by
   * e(a).e(j) (`embedding`) and by e(a).q(j) with q the items' quantized vectors (`quantized`).
   */
  neighbours: { pairs: number; embedding: number; quantized: number } | null;
}

export interface ReportInputs {
  /** Category path of every row (coarse to fine), or null when unknown. */
  categories?: (string[] | null)[];
  /** Co-purchased pairs as a flat [a0, b0, a1, b1, ...] list of row indices. */
  pairs?: Int32Array;
  /**
   * Co-purchased pairs held out of every build input, as `pairs` (the gensearch pipeline: each
   * user's last training item -> validation item). A build that quantizes co-occurrence would
   * be graded on its own training data by `pairs`; these keep the measure honest.
   */
  heldOutPairs?: Int32Array;
  /** Seed of the random-pair baseline. */
  seed?: number;
  /** The embeddings and their quantized vectors (rows as `codes`), for `neighbours`. */
  vectors?: { embeddings: Matrix; quantized: Matrix };
}

/** Per prefix length 1..width: share of co-purchased pairs / random pairs sharing that prefix. */
export interface PairSharing {
  pairs: number;
  shared: number[];
  random: number[];
}

/** Held-out pairs the neighbourhood recall samples (each pair ranks the whole catalog twice). */
const NEIGHBOUR_PAIRS = 2000;

/**
 * The codebook metrics of OneSearch (CUR, ICR) plus checks that the codes mean something:
 * category purity of every prefix and how often co-purchased items share a prefix compared
 * with random pairs. `codes` is n x width per-position codes.
 */
export function codebookReport(codes: Int32Array, layout: SidLayout, inputs: ReportInputs = {}): CodebookReport {
  const width = sidWidth(layout);
  const n = codes.length / width;
  const L = layout.levels.length;
  const order = lexOrder(codes, width);
  const at = (len: number) => prefixCounts(codes, width, order, len);
  const product = (len: number) => layout.levels.slice(0, len).reduce((a, b) => a * b, 1);
  const full = at(width);
  const rq = at(L);
  const purity = [];
  if (inputs.categories) {
    const top = inputs.categories.map((p) => (p ? p.slice(0, 2).join(' > ') : null));
    const leaf = inputs.categories.map((p) => (p ? p.join(' > ') : null));
    for (let len = 1; len <= width; len++) {
      purity.push({ prefix: len, top: prefixPurity(codes, width, order, len, top), leaf: prefixPurity(codes, width, order, len, leaf) });
    }
  }
  return {
    items: n,
    layout,
    curL1: at(1).distinct / layout.levels[0],
    curL1xL2: L >= 2 ? at(2).distinct / product(2) : Number.NaN,
    curTotal: rq.distinct / product(L),
    icrRq: rq.unique / n,
    icr: full.unique / n,
    collisions: { sids: full.distinct - full.unique, items: n - full.unique, largest: full.largest },
    sids: full.distinct,
    itemsPerSid: { mean: n / full.distinct, max: full.largest },
    purity,
    coPurchase: inputs.pairs ? pairSharing(codes, width, inputs.pairs, new Rng(inputs.seed ?? 0)) : null,
    heldOut: inputs.heldOutPairs ? pairSharing(codes, width, inputs.heldOutPairs, new Rng(inputs.seed ?? 0)) : null,
    neighbours:
      inputs.heldOutPairs && inputs.vectors
        ? neighbourRecall(inputs.vectors.embeddings, inputs.vectors.quantized, inputs.heldOutPairs, new Rng(inputs.seed ?? 0))
        : null,
  };
}

function neighbourRecall(embeddings: Matrix, quantized: Matrix, pairs: Int32Array, rng: Rng): CodebookReport['neighbours'] {
  const m = Math.min(NEIGHBOUR_PAIRS, pairs.length / 2);
  if (m === 0) return null;
  const n = embeddings.rows;
  const d = embeddings.cols;
  const hits = { embedding: 0, quantized: 0 };
  const scores = new Float32Array(n);
  const top10 = (anchor: number, target: number, rows: Matrix): boolean => {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let c = 0; c < d; c++) s += embeddings.data[anchor * d + c] * rows.data[j * d + c];
      scores[j] = s;
    }
    let above = 0;
    for (let j = 0; j < n; j++) if (j !== anchor && scores[j] > scores[target]) above++;
    return above < 10;
  };
  for (let i = 0; i < m; i++) {
    const p = m < pairs.length / 2 ? rng.int(pairs.length / 2) : i;
    const [a, b] = [pairs[2 * p], pairs[2 * p + 1]];
    if (top10(a, b, embeddings)) hits.embedding++;
    if (top10(a, b, quantized)) hits.quantized++;
  }
  return { pairs: m, embedding: hits.embedding / m, quantized: hits.quantized / m };
}

/** Share of labelled rows whose label is the most common one under their prefix. */
function prefixPurity(codes: Int32Array, width: number, order: Int32Array, len: number, label: (string | null)[]): number {
  let agree = 0;
  let labelled = 0;
  let counts = new Map<string, number>();
  const flush = () => {
    let best = 0;
    for (const v of counts.values()) best = Math.max(best, v);
    agree += best;
    counts = new Map();
  };
  for (let i = 0; i < order.length; i++) {
    if (i > 0) {
      let same = true;
      for (let p = 0; p < len && same; p++) same = codes[order[i - 1] * width + p] === codes[order[i] * width + p];
      if (!same) flush();
    }
    const l = label[order[i]];
    if (l === null) continue;
    labelled++;
    counts.set(l, (counts.get(l) ?? 0) + 1);
  }
  flush();
  return labelled ? agree / labelled : Number.NaN;
}

/** Length of the common prefix of rows a and b. */
function commonPrefix(codes: Int32Array, width: number, a: number, b: number): number {
  let p = 0;
  while (p < width && codes[a * width + p] === codes[b * width + p]) p++;
  return p;
}

function pairSharing(codes: Int32Array, width: number, pairs: Int32Array, rng: Rng): PairSharing {
  const m = pairs.length / 2;
  const n = codes.length / width;
  const shared = new Array<number>(width).fill(0);
  const random = new Array<number>(width).fill(0);
  for (let i = 0; i < m; i++) {
    const c = commonPrefix(codes, width, pairs[2 * i], pairs[2 * i + 1]);
    for (let p = 0; p < c; p++) shared[p]++;
    // The baseline: the same number of pairs of distinct items drawn uniformly from the catalog.
    const a = rng.int(n);
    const b = (a + 1 + rng.int(n - 1)) % n;
    const r = commonPrefix(codes, width, a, b);
    for (let p = 0; p < r; p++) random[p]++;
  }
  return { pairs: m, shared: shared.map((s) => s / Math.max(1, m)), random: random.map((s) => s / Math.max(1, m)) };
}

const pct = (x: number) => (Number.isNaN(x) ? 'n/a' : `${(100 * x).toFixed(2)}%`);

/** The report as readable lines (for `gensearch sids build` and `sids report`). */
export function formatReport(r: CodebookReport): string {
  const lines = [
    `items ${r.items}, distinct SIDs ${r.sids}, items per SID mean ${r.itemsPerSid.mean.toFixed(3)} max ${r.itemsPerSid.max}`,
    `CUR_L1 ${pct(r.curL1)}  CUR_L1xL2 ${pct(r.curL1xL2)}  CUR_total ${pct(r.curTotal)}`,
    `ICR RQ codes ${pct(r.icrRq)}  ICR full SID ${pct(r.icr)}  (${r.collisions.items} items share ${r.collisions.sids} SIDs; resolved by rank)`,
  ];
  if (r.purity.length) {
    lines.push(`category purity by prefix length (top / leaf): ${r.purity.map((p) => `${p.prefix}: ${pct(p.top)} / ${pct(p.leaf)}`).join(', ')}`);
  }
  const sharing = (what: string, c: PairSharing) =>
    `${what} (${c.pairs}) sharing prefix 1..${c.shared.length}: ${c.shared.map(pct).join(' ')}; random pairs: ${c.random.map(pct).join(' ')}`;
  if (r.coPurchase) lines.push(sharing('co-purchase pairs', r.coPurchase));
  if (r.heldOut) lines.push(sharing('held-out co-purchase pairs', r.heldOut));
  if (r.neighbours) {
    const nb = r.neighbours;
    lines.push(`held-out co-purchase neighbour recall@10 (${nb.pairs} pairs): embeddings ${pct(nb.embedding)}, quantized vectors ${pct(nb.quantized)}`);
  }
  return lines.join('\n');
}
