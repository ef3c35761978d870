import { badInput } from '../errors.js';

/**
 * The shape of a semantic ID: RQ levels then OPQ sub-codes. With RQ [k1,k2,k3] and OPQ 2 x K a
 * SID is `<a_i><b_j><c_k><d_m><d_n>`: the OPQ positions share one token type `d`, the second
 * offset by K so the two never share a token (OneSearch KHQE).
 */
export interface SidLayout {
  /** RQ codebook sizes, coarse to fine. */
  levels: number[];
  /** OPQ on the last residual; null for RQ-only IDs. */
  opq: { k: number; subspaces: number } | null;
}

/** Positions in a SID: RQ levels plus OPQ sub-codes. */
export function sidWidth(layout: SidLayout): number {
  return layout.levels.length + (layout.opq?.subspaces ?? 0);
}

/** Codes available at each position (before offsets). */
export function positionSizes(layout: SidLayout): number[] {
  return [...layout.levels, ...Array<number>(layout.opq?.subspaces ?? 0).fill(layout.opq?.k ?? 0)];
}

/**
 * Global token id of position p = code + offsets[p]. Positions are laid out one after another
 * in one vocabulary (RQ level 1 first); `vocabularySize` is the total.
 */
export function tokenOffsets(layout: SidLayout): number[] {
  const out: number[] = [];
  let at = 0;
  for (const k of positionSizes(layout)) {
    out.push(at);
    at += k;
  }
  return out;
}

export function vocabularySize(layout: SidLayout): number {
  return positionSizes(layout).reduce((a, b) => a + b, 0);
}

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

/** The paper's spelling of a token: `<a_12>`, `<c_3>`, and for OPQ `<d_7>`, `<d_263>` (K=256). */
export function tokenName(layout: SidLayout, token: number): string {
  const offsets = tokenOffsets(layout);
  const L = layout.levels.length;
  let p = offsets.length - 1;
  while (p > 0 && offsets[p] > token) p--;
  const code = token - offsets[p];
  if (token < 0 || code >= positionSizes(layout)[p]) {
    throw badInput(`token ${token} is outside the SID vocabulary 0..${vocabularySize(layout) - 1}`);
  }
  if (p < L) return `<${LETTERS[p % 26]}_${code}>`;
  return `<${LETTERS[L % 26]}_${(p - L) * layout.opq!.k + code}>`;
}

/** Codes (n x width, per-position numbering) to global tokens (same shape). */
export function codesToTokens(layout: SidLayout, codes: Int32Array): Int32Array {
  const offsets = tokenOffsets(layout);
  const w = offsets.length;
  const out = new Int32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = codes[i] + offsets[i % w];
  return out;
}

/**
 * Row order of an n x width code table sorted lexicographically, ties by row (stable), so rows
 * sharing a prefix are contiguous. The trie and the collision ranks both read it.
 */
export function lexOrder(codes: Int32Array, width: number): Int32Array {
  const n = codes.length / width;
  return Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => {
    for (let p = 0; p < width; p++) {
      const d = codes[a * width + p] - codes[b * width + p];
      if (d !== 0) return d;
    }
    return a - b;
  });
}

export interface PrefixCounts {
  /** Distinct prefixes of this length. */
  distinct: number;
  /** Rows whose prefix no other row has. */
  unique: number;
  /** Largest number of rows sharing one prefix. */
  largest: number;
}

/** How rows spread over prefixes of length `len`, given the lexicographic `order`. */
export function prefixCounts(codes: Int32Array, width: number, order: Int32Array, len: number): PrefixCounts {
  let distinct = 0;
  let unique = 0;
  let largest = 0;
  let run = 0;
  const samePrefix = (a: number, b: number) => {
    for (let p = 0; p < len; p++) if (codes[a * width + p] !== codes[b * width + p]) return false;
    return true;
  };
  for (let i = 0; i < order.length; i++) {
    if (i > 0 && samePrefix(order[i - 1], order[i])) {
      run++;
      continue;
    }
    if (run === 1) unique++;
    if (i > 0) largest = Math.max(largest, run);
    distinct++;
    run = 1;
  }
  if (run === 1) unique++;
  largest = Math.max(largest, run);
  return { distinct, unique, largest };
}

/**
 * Deterministic collision resolution: rows with the same full SID keep it, and each gets its
 * rank in catalog order within the group (0 for the first). The decoder tells shared SIDs apart
 * by that rank, so (SID, rank) is unique.
 */
export function collisionRanks(codes: Int32Array, width: number, order: Int32Array): Int32Array {
  const rank = new Int32Array(order.length);
  for (let i = 1; i < order.length; i++) {
    const a = order[i - 1];
    const b = order[i];
    let same = true;
    for (let p = 0; p < width && same; p++) same = codes[a * width + p] === codes[b * width + p];
    if (same) rank[b] = rank[a] + 1;
  }
  return rank;
}

/** Full SID codes (n x (L + m)) from RQ codes (n x L) and OPQ codes (n x m, or null when m = 0). */
export function joinCodes(rq: Int32Array, L: number, opq: Int32Array | null, m: number): Int32Array {
  const n = rq.length / L;
  const width = L + m;
  const out = new Int32Array(n * width);
  for (let i = 0; i < n; i++) {
    out.set(rq.subarray(i * L, (i + 1) * L), i * width);
    if (opq) out.set(opq.subarray(i * m, (i + 1) * m), i * width + L);
  }
  return out;
}
