import { badInput } from '../errors.js';
import { lexOrder } from './layout.js';

const EMPTY = new Int32Array(0);

/**
 * The valid SIDs as a compact trie for constrained decoding. Nodes are numbered breadth-first,
 * so the children of a node are one contiguous, token-sorted range: `allowed(node)` is a
 * zero-copy view and `child(node, token)` a binary search in it. Leaves (depth = width) map to
 * the rows (items) carrying that SID, in collision-rank order.
 */
export class SidTrie {
  readonly width: number;
  /** Number of distinct full SIDs (leaves). */
  readonly sids: number;
  /** First node id of depth `width`; leaves are leafBase .. nodeCount-1. */
  private readonly leafBase: number;
  /** Children of internal node v are node ids first[v] .. first[v+1]-1. */
  private readonly first: Int32Array;
  /** Token on the edge into each node (root: -1). */
  private readonly tokens: Int32Array;
  /** Rows of leaf (leafBase + j): rows[itemStart[j] .. itemStart[j+1]-1]. */
  private readonly itemStart: Int32Array;
  private readonly rows: Int32Array;
  /** Parent of each node (root: -1), items below each node, and the leaf of each row. */
  private readonly parent: Int32Array;
  private readonly size: Int32Array;
  private readonly leafOfRow: Int32Array;

  /** Builds from an n x width table of global tokens (row = item). */
  constructor(table: Int32Array, width: number) {
    if (!Number.isInteger(width) || width < 1 || table.length % width !== 0) {
      throw badInput(`SID table of ${table.length} tokens cannot be split into rows of width ${width}`);
    }
    const n = table.length / width;
    const order = lexOrder(table, width);
    const tokens = new Int32Array(n * width + 1);
    tokens[0] = -1;
    const firstList: number[] = [];
    const nodeAt = new Int32Array(n); // node of each sorted row at the current depth (root first)
    let count = 1;
    let levelStart = 0;
    for (let p = 0; p < width; p++) {
      levelStart = count;
      let prevParent = -1;
      let prevToken = 0;
      for (let i = 0; i < n; i++) {
        const parent = nodeAt[i];
        const t = table[order[i] * width + p];
        if (parent !== prevParent || t !== prevToken) {
          if (parent !== prevParent) firstList[parent] = count;
          tokens[count] = t;
          count++;
          prevParent = parent;
          prevToken = t;
        }
        nodeAt[i] = count - 1;
      }
    }
    this.width = width;
    this.leafBase = levelStart;
    this.sids = count - levelStart;
    this.tokens = tokens.slice(0, count);
    this.first = new Int32Array(levelStart + 1);
    for (let v = 0; v < levelStart; v++) this.first[v] = firstList[v];
    this.first[levelStart] = count;
    this.itemStart = new Int32Array(this.sids + 1);
    for (let i = 0, leaf = -1; i < n; i++) {
      if (nodeAt[i] - levelStart !== leaf) {
        leaf = nodeAt[i] - levelStart;
        this.itemStart[leaf] = i;
      }
    }
    this.itemStart[this.sids] = n;
    this.rows = order;
    this.parent = new Int32Array(count).fill(-1);
    for (let v = 0; v < levelStart; v++) this.parent.fill(v, this.first[v], this.first[v + 1]);
    this.size = new Int32Array(count);
    this.leafOfRow = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      this.leafOfRow[order[i]] = nodeAt[i];
      this.size[nodeAt[i]]++;
    }
    // Breadth-first numbering puts every child after its parent: sum sizes from the back.
    for (let v = count - 1; v > 0; v--) this.size[this.parent[v]] += this.size[v];
  }

  readonly root = 0;

  get nodeCount(): number {
    return this.tokens.length;
  }

  /** Tokens allowed after `node`, sorted (a view: do not modify). Empty at a leaf. */
  allowed(node: number): Int32Array {
    if (node >= this.leafBase) return EMPTY;
    return this.tokens.subarray(this.first[node], this.first[node + 1]);
  }

  /** The node reached from `node` by `token`, or -1 when that token is not allowed there. */
  child(node: number, token: number): number {
    if (node < 0 || node >= this.leafBase) return -1;
    let lo = this.first[node];
    let hi = this.first[node + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const t = this.tokens[mid];
      if (t === token) return mid;
      if (t < token) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** The node of a prefix, or -1 when no valid SID starts with it. */
  walk(prefix: ArrayLike<number>): number {
    let node = this.root;
    for (let i = 0; i < prefix.length && node >= 0; i++) node = this.child(node, prefix[i]);
    return node;
  }

  /** Tokens allowed after a prefix (empty if the prefix is invalid or already a full SID). */
  next(prefix: ArrayLike<number>): Int32Array {
    const node = this.walk(prefix);
    return node < 0 ? EMPTY : this.allowed(node);
  }

  isLeaf(node: number): boolean {
    return node >= this.leafBase;
  }

  /**
   * Nodes every item below which is in `rows`: with those items left out, no valid SID passes
   * through them (decoding that must not return a user's own history skips them). Out-of-range
   * rows are ignored.
   */
  exhausted(rows: ArrayLike<number>): Set<number> {
    const out = new Set<number>();
    if (rows.length === 0) return out;
    const left = new Map<number, number>(); // node -> items below not yet left out
    const seen = new Set<number>();
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i];
      if (!(row >= 0 && row < this.leafOfRow.length) || seen.has(row)) continue;
      seen.add(row);
      for (let v = this.leafOfRow[row]; v > 0; v = this.parent[v]) {
        const n = (left.get(v) ?? this.size[v]) - 1;
        left.set(v, n);
        if (n === 0) out.add(v);
      }
    }
    return out;
  }

  /** The leaf of an item's SID. */
  leafOf(row: number): number {
    if (!(row >= 0 && row < this.leafOfRow.length)) throw badInput(`item ${row} is outside 0..${this.leafOfRow.length - 1}`);
    return this.leafOfRow[row];
  }

  /** Rows (items) carrying the SID that ends at leaf `node` (or a full SID), rank order; empty if none. */
  items(nodeOrSid: number | ArrayLike<number>): Int32Array {
    const node = typeof nodeOrSid === 'number' ? nodeOrSid : this.walk(nodeOrSid);
    if (node < this.leafBase) return EMPTY;
    const j = node - this.leafBase;
    return this.rows.subarray(this.itemStart[j], this.itemStart[j + 1]);
  }
}
