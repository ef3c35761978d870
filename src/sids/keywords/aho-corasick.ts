/** One occurrence of a pattern in a token list: tokens [start, end). */
export interface WordMatch<T> {
  start: number;
  end: number;
  value: T;
}

/**
 * Aho-Corasick over words: patterns and text are token lists (already lower-cased and split
 * by one tokenizer), so every match falls on word boundaries by construction ("rose" never
 * matches inside "primrose") and case is settled by the tokenizer. One pass over the text finds
 * every occurrence of every pattern, O(text + matches), whatever the pool size.
 */
export class WordAhoCorasick<T> {
  private readonly next: Map<string, number>[] = [new Map()];
  private readonly fail: number[] = [0];
  /** Pattern value ending at a node, or undefined. */
  private readonly value: (T | undefined)[] = [undefined];
  private readonly depth: number[] = [0];
  /** Nearest node on the fail chain (excluding itself) that ends a pattern, or 0. */
  private readonly outLink: number[] = [0];
  readonly size: number;

  /** Patterns as (tokens, value); an empty token list is ignored, a repeated one keeps its first value. */
  constructor(patterns: Iterable<readonly [readonly string[], T]>) {
    let size = 0;
    for (const [tokens, value] of patterns) {
      if (tokens.length === 0) continue;
      let node = 0;
      for (const t of tokens) {
        let child = this.next[node].get(t);
        if (child === undefined) {
          child = this.next.length;
          this.next.push(new Map());
          this.fail.push(0);
          this.value.push(undefined);
          this.depth.push(this.depth[node] + 1);
          this.outLink.push(0);
          this.next[node].set(t, child);
        }
        node = child;
      }
      if (this.value[node] === undefined) {
        this.value[node] = value;
        size++;
      }
    }
    this.size = size;
    // Breadth-first: a node's fail link is the longest proper suffix of its path that is a path.
    const queue: number[] = [...this.next[0].values()];
    for (let q = 0; q < queue.length; q++) {
      const node = queue[q];
      for (const [t, child] of this.next[node]) {
        let f = this.fail[node];
        while (f !== 0 && !this.next[f].has(t)) f = this.fail[f];
        const target = this.next[f].get(t);
        this.fail[child] = target !== undefined && target !== child ? target : 0;
        const fc = this.fail[child];
        this.outLink[child] = this.value[fc] !== undefined ? fc : this.outLink[fc];
        queue.push(child);
      }
    }
  }

  /** Every occurrence of every pattern, ordered by end, then longest first. */
  findAll(tokens: readonly string[]): WordMatch<T>[] {
    const out: WordMatch<T>[] = [];
    let node = 0;
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      while (node !== 0 && !this.next[node].has(t)) node = this.fail[node];
      node = this.next[node].get(t) ?? 0;
      for (let m = this.value[node] !== undefined ? node : this.outLink[node]; m !== 0; m = this.outLink[m]) {
        out.push({ start: i + 1 - this.depth[m], end: i + 1, value: this.value[m] as T });
      }
    }
    return out;
  }

  /**
   * Leftmost-longest, non-overlapping matches: scanning left to right, the earliest-starting
   * match wins and among those the longest ("rose gold" over "rose" and "gold"; "nail polish
   * remover" over "nail polish"); matches overlapping a chosen one are dropped.
   */
  findLongest(tokens: readonly string[]): WordMatch<T>[] {
    const all = this.findAll(tokens).sort((a, b) => a.start - b.start || b.end - a.end);
    const out: WordMatch<T>[] = [];
    let covered = 0;
    for (const m of all) {
      if (m.start < covered) continue;
      out.push(m);
      covered = m.end;
    }
    return out;
  }
}
