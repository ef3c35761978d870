import { badInput } from '../errors.js';
import { TopKSelector } from '../eval/topk.js';
import type { SidTrie } from '../sids/trie.js';

/**
 * What the decoder needs from a model: incremental next-token log-probabilities. The model keeps
 * its own per-beam state (encoder output, key/value cache) and reorders it by `parents`.
 */
export interface DecodeSession {
  /**
   * Log-probabilities over the SID vocabulary (rows = live beams, row-major, `vocabSize` wide).
   * Beam i extends beam `parents[i]` of the previous call with token `tokens[i]`. On the first
   * call there is one beam per request: parents[i] = i, tokens[i] = -1 (start of SID).
   */
  next(parents: Int32Array, tokens: Int32Array): Promise<Float32Array> | Float32Array;
  dispose(): void;
}

export interface BeamSearchOptions {
  /** Beams kept per request at every step. */
  beam: number;
  /**
   * Dynamic pruning (OneVision): after each step drop a request's beams whose log-probability
   * is more than this many nats below its best beam. Infinity turns it off.
   */
  pruneMargin?: number;
  /**
   * Items each request must not return (e.g. the user's history), by request index: a SID whose
   * items are all left out is never extended into, so no beam is spent on it.
   */
  exclude?: readonly (ArrayLike<number> | undefined)[];
}

export interface DecodedSid {
  /** Trie leaf of the SID; `trie.items(leaf)` gives its items in collision-rank order. */
  leaf: number;
  /** Sum of the token log-probabilities. */
  score: number;
}

export interface BeamSearchStats {
  /** Beam rows the model scored, summed over steps: the work pruning saves. */
  beamRowsScored: number;
  /** Beams dropped by pruning, summed over steps. */
  pruned: number;
}

/**
 * Beam search held to the SID trie: at every step a beam may only be extended by a token the
 * trie allows after its prefix, so every finished beam is a valid SID. Results per request are
 * best first; equal scores keep a deterministic order (lower trie node first).
 */
export async function constrainedBeamSearch(
  session: DecodeSession,
  trie: SidTrie,
  requests: number,
  vocabSize: number,
  options: BeamSearchOptions,
): Promise<{ results: DecodedSid[][]; stats: BeamSearchStats }> {
  const { beam } = options;
  const margin = options.pruneMargin ?? Number.POSITIVE_INFINITY;
  if (!Number.isInteger(beam) || beam < 1) throw badInput(`beam must be a positive integer, got ${beam}`);
  if (!(margin >= 0)) throw badInput(`pruneMargin must be >= 0 (Infinity = off), got ${margin}`);

  // Live beams, flattened across requests in request order.
  let owner = Int32Array.from({ length: requests }, (_, i) => i);
  let nodes = new Int32Array(requests).fill(trie.root);
  let scores = new Float64Array(requests);
  let parents = Int32Array.from(owner);
  let tokens = new Int32Array(requests).fill(-1);
  const stats: BeamSearchStats = { beamRowsScored: 0, pruned: 0 };
  const selector = new TopKSelector(beam);
  const chosen = new Int32Array(beam);
  const blocked = Array.from({ length: requests }, (_, r) => trie.exhausted(options.exclude?.[r] ?? []));

  for (let depth = 0; depth < trie.width && owner.length > 0; depth++) {
    const logp = await session.next(parents, tokens);
    if (logp.length !== owner.length * vocabSize) {
      throw new Error(`model returned ${logp.length} log-probabilities for ${owner.length} beams x ${vocabSize}`);
    }
    stats.beamRowsScored += owner.length;
    const nextOwner: number[] = [];
    const nextNodes: number[] = [];
    const nextScores: number[] = [];
    const nextParents: number[] = [];
    const nextTokens: number[] = [];
    // Beams of one request are contiguous: expand each request's group on its own.
    for (let start = 0; start < owner.length; ) {
      let end = start;
      while (end < owner.length && owner[end] === owner[start]) end++;
      const closed = blocked[owner[start]];
      let count = 0;
      for (let b = start; b < end; b++) count += trie.allowed(nodes[b]).length;
      const candScore = new Float32Array(count);
      const candBeam = new Int32Array(count);
      const candToken = new Int32Array(count);
      let c = 0;
      for (let b = start; b < end; b++) {
        const allowed = trie.allowed(nodes[b]);
        const row = b * vocabSize;
        for (let j = 0; j < allowed.length; j++) {
          const t = allowed[j];
          if (closed.size > 0 && closed.has(trie.child(nodes[b], t))) continue;
          candScore[c] = scores[b] + logp[row + t];
          candBeam[c] = b;
          candToken[c] = t;
          c++;
        }
      }
      const kept = selector.select(candScore.subarray(0, c), beam, chosen);
      const best = kept > 0 ? candScore[chosen[0]] : 0;
      for (let j = 0; j < kept; j++) {
        const ci = chosen[j];
        if (best - candScore[ci] > margin) {
          stats.pruned += kept - j;
          break;
        }
        const b = candBeam[ci];
        nextOwner.push(owner[b]);
        nextNodes.push(trie.child(nodes[b], candToken[ci]));
        nextScores.push(candScore[ci]);
        nextParents.push(b);
        nextTokens.push(candToken[ci]);
      }
      start = end;
    }
    owner = Int32Array.from(nextOwner);
    nodes = Int32Array.from(nextNodes);
    scores = Float64Array.from(nextScores);
    parents = Int32Array.from(nextParents);
    tokens = Int32Array.from(nextTokens);
  }
  session.dispose();

  const results: DecodedSid[][] = Array.from({ length: requests }, () => []);
  for (let b = 0; b < owner.length; b++) results[owner[b]].push({ leaf: nodes[b], score: scores[b] });
  for (const list of results) list.sort((x, y) => y.score - x.score || x.leaf - y.leaf);
  return { results, stats };
}

/** Per-item scores that join each decoded item's SID score: score + weight x scores[item]. */
export interface ItemFusion {
  scores: ArrayLike<number>;
  weight: number;
}

/**
 * Items for decoded SIDs, best first: the items of one SID share its score and keep their
 * collision rank, so a SID shared by several items is resolved the same way every time.
 * Items in `exclude` are left out. With `fusion`, every item of every decoded SID is ranked by
 * its SID score plus the weighted item score (ties keep the order above).
 */
export function sidsToItems(
  trie: SidTrie,
  decoded: readonly DecodedSid[],
  k: number,
  exclude: ArrayLike<number> = [],
  fusion?: ItemFusion,
): { items: Int32Array; scores: Float32Array } {
  const left = new Set(Array.from(exclude));
  if (fusion) {
    const ranked = decoded.flatMap((d) => Array.from(trie.items(d.leaf), (item) => ({ item, score: d.score + fusion.weight * fusion.scores[item] })));
    const kept = ranked.filter((r) => !left.has(r.item)).sort((a, b) => b.score - a.score).slice(0, k);
    return { items: Int32Array.from(kept, (r) => r.item), scores: Float32Array.from(kept, (r) => r.score) };
  }
  const items: number[] = [];
  const scores: number[] = [];
  for (const d of decoded) {
    for (const row of trie.items(d.leaf)) {
      if (items.length >= k) break;
      if (left.has(row)) continue;
      items.push(row);
      scores.push(d.score);
    }
    if (items.length >= k) break;
  }
  return { items: Int32Array.from(items), scores: Float32Array.from(scores) };
}
