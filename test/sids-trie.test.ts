import assert from 'node:assert/strict';
import { test } from 'node:test';
import { codebookReport } from '../src/sids/codebook-metrics.js';
import {
  codesToTokens,
  collisionRanks,
  lexOrder,
  prefixCounts,
  type SidLayout,
  tokenName,
  tokenOffsets,
  vocabularySize,
} from '../src/sids/layout.js';
import { SidTrie } from '../src/sids/trie.js';
import { Rng } from '../src/tensor/rng.js';

const layout: SidLayout = { levels: [4, 3, 2], opq: { k: 5, subspaces: 2 } };

test('token layout: positions share one vocabulary, the second OPQ code offset by K', () => {
  assert.deepEqual(tokenOffsets(layout), [0, 4, 7, 9, 14]);
  assert.equal(vocabularySize(layout), 19);
  const tokens = codesToTokens(layout, Int32Array.of(3, 2, 1, 4, 0));
  assert.deepEqual([...tokens], [3, 6, 8, 13, 14]);
  assert.deepEqual(
    [...tokens].map((t) => tokenName(layout, t)),
    ['<a_3>', '<b_2>', '<c_1>', '<d_4>', '<d_5>'],
  );
  assert.throws(() => tokenName(layout, 19), /outside the SID vocabulary 0..18/);
});

test('collision ranks follow catalog order within a shared SID; prefix counts give CUR and ICR', () => {
  // Rows 0, 2, 4 share one SID; rows 1 and 3 are alone; rows 0, 2, 3, 4 share level 1.
  const codes = Int32Array.of(1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1, 1, 1, 0);
  const width = 3;
  const order = lexOrder(codes, width);
  assert.deepEqual([...collisionRanks(codes, width, order)], [0, 0, 1, 0, 2]);
  assert.deepEqual(prefixCounts(codes, width, order, 3), { distinct: 3, unique: 2, largest: 3 });
  assert.deepEqual(prefixCounts(codes, width, order, 1), { distinct: 2, unique: 1, largest: 4 });
  const r = codebookReport(codes, { levels: [3, 3, 2], opq: null }, {
    categories: [['B', 'T', 'x'], ['B', 'T', 'y'], ['B', 'T', 'x'], ['B', 'T', 'y'], ['B', 'T', 'x']],
  });
  assert.equal(r.curL1, 2 / 3);
  assert.equal(r.curL1xL2, 3 / 9);
  assert.equal(r.curTotal, 3 / 18);
  assert.equal(r.icr, 2 / 5);
  assert.deepEqual(r.collisions, { sids: 1, items: 3, largest: 3 });
  // Level 1: {0,2,3,4} is x,x,y,x (3) + {1} (1) -> 4/5; full SIDs: {0,2,4} all x -> 5/5.
  assert.equal(r.purity[0].leaf, 4 / 5);
  assert.equal(r.purity[2].leaf, 1);
  assert.equal(r.purity[0].top, 1);
});

test('co-purchase report: pairs sharing prefixes against random pairs', () => {
  const codes = Int32Array.of(0, 0, 0, 1, 1, 0, 1, 1);
  const pairs = Int32Array.of(0, 1, 2, 3);
  const r = codebookReport(codes, { levels: [2, 2], opq: null }, { pairs, seed: 3 });
  assert.deepEqual(r.coPurchase?.shared, [1, 0]);
  assert.equal(r.coPurchase?.pairs, 2);
});

test('neighbour recall: a co-purchased item among the anchor top 10 by the embeddings, and by the quantized vectors', () => {
  // 12 items on the unit circle; item 1 is item 0's nearest neighbour.
  const n = 12;
  const embeddings = { data: new Float32Array(2 * n), rows: n, cols: 2 };
  for (let i = 0; i < n; i++) embeddings.data.set([Math.cos(i / 2), Math.sin(i / 2)], 2 * i);
  // A quantization that moves item 1 to the far side: every other item now scores above it.
  const quantized = { data: embeddings.data.slice(), rows: n, cols: 2 };
  quantized.data.set([-1, 0], 2);
  const codes = Int32Array.from({ length: n }, (_, i) => i);
  const r = codebookReport(codes, { levels: [n], opq: null }, { heldOutPairs: Int32Array.of(0, 1), vectors: { embeddings, quantized } });
  assert.deepEqual(r.neighbours, { pairs: 1, embedding: 1, quantized: 0 });
  assert.equal(codebookReport(codes, { levels: [n], opq: null }, { heldOutPairs: Int32Array.of(0, 1) }).neighbours, null, 'no vectors, no measure');
  assert.equal(
    codebookReport(codes, { levels: [n], opq: null }, { pairs: Int32Array.of(0, 1), vectors: { embeddings, quantized } }).neighbours,
    null,
    'training pairs alone give no measure: it is taken on held-out pairs',
  );
});

test('trie: allowed next tokens, walks, leaves with items in rank order', () => {
  const rng = new Rng(5);
  const n = 400;
  const width = 5;
  const codes = new Int32Array(n * width);
  const sizes = [4, 3, 2, 5, 5];
  for (let i = 0; i < codes.length; i++) codes[i] = rng.int(sizes[i % width]);
  const tokens = codesToTokens(layout, codes);
  const trie = new SidTrie(tokens, width);
  const distinct = new Set<string>();
  for (let i = 0; i < n; i++) distinct.add(tokens.subarray(i * width, (i + 1) * width).join(','));
  assert.equal(trie.sids, distinct.size);
  // Every prefix of every row: next() is exactly the set of tokens that follow it somewhere.
  for (let len = 0; len < width; len++) {
    const follow = new Map<string, Set<number>>();
    for (let i = 0; i < n; i++) {
      const key = tokens.subarray(i * width, i * width + len).join(',');
      if (!follow.has(key)) follow.set(key, new Set());
      follow.get(key)!.add(tokens[i * width + len]);
    }
    for (const [key, set] of follow) {
      const prefix = key === '' ? [] : key.split(',').map(Number);
      assert.deepEqual([...trie.next(prefix)], [...set].sort((a, b) => a - b), `prefix [${key}]`);
    }
  }
  // Leaves list their rows in catalog order (= collision rank order).
  const ranks = collisionRanks(tokens, width, lexOrder(tokens, width));
  for (let i = 0; i < n; i++) {
    const rows = trie.items(tokens.subarray(i * width, (i + 1) * width));
    assert.equal(rows[ranks[i]], i);
    for (let j = 1; j < rows.length; j++) assert.ok(rows[j - 1] < rows[j]);
  }
  assert.equal(trie.walk([0, 0, 0, 0, 0]), -1, 'token 0 is not valid at position 2 (offset 4)');
  assert.equal(trie.next([99]).length, 0);
  assert.equal(trie.items([tokens[0]]).length, 0, 'a prefix is not a full SID');
  assert.throws(() => new SidTrie(Int32Array.of(1, 2, 3), 2), /cannot be split into rows of width 2/);
});

test('trie: exhausted nodes are those every item below which is left out', () => {
  // Rows 0 and 1 share the SID (0,2); row 2 is (0,3); row 3 is (1,2).
  const trie = new SidTrie(Int32Array.of(0, 2, 0, 2, 0, 3, 1, 2), 2);
  const leaf02 = trie.walk([0, 2]);
  const node0 = trie.walk([0]);
  assert.deepEqual([...trie.exhausted([0])], [], 'row 1 still carries (0,2)');
  assert.deepEqual(new Set(trie.exhausted([0, 1])), new Set([leaf02]));
  assert.deepEqual(new Set(trie.exhausted([1, 0, 2, 2, 99, -1])), new Set([leaf02, trie.walk([0, 3]), node0]), 'repeats and unknown rows are ignored');
  assert.ok(!trie.exhausted([0, 1, 2, 3]).has(trie.root), 'the root is never reported');
});
