import { badInput } from '../errors.js';
import { tokenize } from '../eval/query.js';

/**
 * A byte-pair-encoding subword tokenizer (Sennrich et al. 2016) trained on the catalog and the
 * queries. Text is first split into lower-case words by the same `tokenize` the HEM queries and
 * BM25 use; each word is then cut into pieces by the learned merges, a piece ending a word
 * carrying the end-of-word mark `</w>` ("nails" -> "nail", "s</w>"). Characters never seen in
 * training become the unknown piece. Plain data (pieces + merges), so it saves as JSON.
 */
export interface BpeData {
  /** Piece strings; the index is the piece id. Index 0 is the unknown piece. */
  pieces: string[];
  /** Merges in the order learned ("a b" joins piece a and piece b). */
  merges: [string, string][];
}

export const UNKNOWN_PIECE = '<unk>';
const END = '</w>';

export interface BpeTrainOptions {
  /** Target number of pieces (alphabet + merges); training stops earlier when no pair repeats. */
  vocabSize: number;
  /** Pairs seen fewer times than this are never merged. */
  minPairCount?: number;
  /** Characters seen fewer times are left out of the alphabet (they become `<unk>`). */
  minCharCount?: number;
}

/** The symbols of a word before any merge: its characters, the last one marked. */
function initialSymbols(word: string): string[] {
  const chars = Array.from(word);
  chars[chars.length - 1] += END;
  return chars;
}

export class BpeTokenizer {
  private readonly ids: Map<string, number>;
  private readonly ranks: Map<string, number>;
  /** Word -> piece ids, filled as words are met (per instance). */
  private readonly cache = new Map<string, Int32Array>();

  constructor(readonly data: BpeData) {
    if (data.pieces[0] !== UNKNOWN_PIECE) throw badInput(`tokenizer piece 0 must be "${UNKNOWN_PIECE}"; got "${data.pieces[0]}"`);
    this.ids = new Map(data.pieces.map((p, i) => [p, i]));
    this.ranks = new Map(data.merges.map(([a, b], i) => [`${a} ${b}`, i]));
  }

  get size(): number {
    return this.data.pieces.length;
  }

  /**
   * Learns merges from texts: counts words, starts from their characters, and repeatedly joins
   * the most frequent adjacent pair (ties: the pair first met in the lexicographically smallest
   * word order, so training is deterministic). Pair counts are updated only for the words a
   * merge touches.
   */
  static train(texts: Iterable<string>, options: BpeTrainOptions): BpeTokenizer {
    const { vocabSize } = options;
    const minPair = options.minPairCount ?? 2;
    const minChar = options.minCharCount ?? 1;
    if (!Number.isInteger(vocabSize) || vocabSize < 2) throw badInput(`tokenizer vocabulary size must be an integer >= 2; got ${vocabSize}`);
    const counts = new Map<string, number>();
    for (const text of texts) for (const w of tokenize(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
    const words = [...counts.keys()].sort();
    const freq = words.map((w) => counts.get(w)!);
    const charCount = new Map<string, number>();
    const symbols = words.map((w, i) => {
      const s = initialSymbols(w);
      for (const c of s) charCount.set(c, (charCount.get(c) ?? 0) + freq[i]);
      return s;
    });
    const alphabet = [...charCount.entries()].filter(([, n]) => n >= minChar).map(([c]) => c).sort();
    const known = new Set(alphabet);
    const pieces = [UNKNOWN_PIECE, ...alphabet];
    const merges: [string, string][] = [];

    // Pair statistics: count and the words holding it.
    const pairCount = new Map<string, number>();
    const pairWords = new Map<string, Set<number>>();
    const addPairs = (wi: number, sign: number) => {
      const s = symbols[wi];
      for (let j = 0; j + 1 < s.length; j++) {
        if (!known.has(s[j]) || !known.has(s[j + 1])) continue;
        const key = `${s[j]} ${s[j + 1]}`;
        const n = (pairCount.get(key) ?? 0) + sign * freq[wi];
        if (n > 0) pairCount.set(key, n);
        else pairCount.delete(key);
        if (sign > 0) {
          const set = pairWords.get(key);
          if (set) set.add(wi);
          else pairWords.set(key, new Set([wi]));
        }
      }
    };
    for (let i = 0; i < words.length; i++) addPairs(i, 1);

    while (pieces.length < vocabSize) {
      let best = '';
      let bestCount = minPair - 1;
      for (const [key, n] of pairCount) {
        if (n > bestCount || (n === bestCount && n >= minPair && key < best)) {
          best = key;
          bestCount = n;
        }
      }
      if (!best) break;
      const [a, b] = best.split(' ');
      const joined = a + b;
      merges.push([a, b]);
      pieces.push(joined);
      known.add(joined);
      for (const wi of pairWords.get(best) ?? []) {
        addPairs(wi, -1);
        symbols[wi] = mergeOnce(symbols[wi], a, b);
        addPairs(wi, 1);
      }
      pairCount.delete(best);
      pairWords.delete(best);
    }
    return new BpeTokenizer({ pieces, merges });
  }

  /** Piece ids of one (already lower-cased) word. */
  encodeWord(word: string): Int32Array {
    let out = this.cache.get(word);
    if (out) return out;
    let s = initialSymbols(word);
    // Apply the earliest-learned merge present, again and again (standard BPE encoding).
    for (;;) {
      let bestRank = Number.POSITIVE_INFINITY;
      let at = -1;
      for (let j = 0; j + 1 < s.length; j++) {
        const r = this.ranks.get(`${s[j]} ${s[j + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          at = j;
        }
      }
      if (at < 0) break;
      const [a, b] = this.data.merges[bestRank];
      s = mergeOnce(s, a, b);
    }
    out = Int32Array.from(s, (p) => this.ids.get(p) ?? 0);
    this.cache.set(word, out);
    return out;
  }

  /** Piece ids of a text, at most `maxPieces` (whole words are kept or dropped together). */
  encode(text: string, maxPieces = Number.POSITIVE_INFINITY): Int32Array {
    const out: number[] = [];
    for (const w of tokenize(text)) {
      const ids = this.encodeWord(w);
      if (out.length + ids.length > maxPieces) break;
      for (const id of ids) out.push(id);
    }
    return Int32Array.from(out);
  }

  /** Text of piece ids: pieces joined, a space after each word end. */
  decode(ids: ArrayLike<number>): string {
    let text = '';
    for (let i = 0; i < ids.length; i++) {
      const p = this.data.pieces[ids[i]] ?? UNKNOWN_PIECE;
      text += p.endsWith(END) ? `${p.slice(0, -END.length)} ` : p;
    }
    return text.trim();
  }
}

/** Joins every adjacent (a, b) of a symbol list, left to right. */
function mergeOnce(s: string[], a: string, b: string): string[] {
  const out: string[] = [];
  for (let j = 0; j < s.length; j++) {
    if (j + 1 < s.length && s[j] === a && s[j + 1] === b) {
      out.push(a + b);
      j++;
    } else {
      out.push(s[j]);
    }
  }
  return out;
}
