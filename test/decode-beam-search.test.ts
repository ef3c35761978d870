import assert from 'node:assert/strict';
import { test } from 'node:test';
import { constrainedBeamSearch, type DecodeSession, sidsToItems } from '../src/decode/beam-search.js';
import { SidTrie } from '../src/sids/trie.js';

/** A deterministic pseudo-random "model": the log-probability of token t after a prefix is a hash. */
function hashScore(seed: number, prefix: readonly number[], t: number): number {
  let h = seed ^ 0x9e3779b9;
  for (const p of [...prefix, t, prefix.length]) h = Math.imul(h ^ (p + 0x7f4a7c15), 0x85ebca6b) ^ (h >>> 13);
  return -((h >>> 0) / 2 ** 32) * 5;
}

class RandomModelSession implements DecodeSession {
  private prefixes: number[][] = [];
  calls = 0;
  constructor(
    private readonly seed: number,
    private readonly vocab: number,
  ) {}
  next(parents: Int32Array, tokens: Int32Array): Float32Array {
    this.calls++;
    this.prefixes = Array.from(parents, (p, i) => (tokens[i] < 0 ? [] : [...this.prefixes[p], tokens[i]]));
    const out = new Float32Array(parents.length * this.vocab);
    this.prefixes.forEach((prefix, b) => {
      for (let t = 0; t < this.vocab; t++) out[b * this.vocab + t] = hashScore(this.seed, prefix, t);
    });
    return out;
  }
  dispose(): void {}
}

function randomTable(seed: number, rows: number, sizes: number[]): Int32Array {
  let s = seed;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const table = new Int32Array(rows * sizes.length);
  for (let r = 0; r < rows; r++) {
    let offset = 0;
    sizes.forEach((k, p) => {
      table[r * sizes.length + p] = offset + Math.floor(rand() * k);
      offset += k;
    });
  }
  return table;
}

test('constrained beam search only ever returns valid SIDs, on many random models and tries', async () => {
  const sizes = [4, 3, 5, 6, 6];
  const vocab = sizes.reduce((a, b) => a + b, 0);
  for (let seed = 1; seed <= 30; seed++) {
    const table = randomTable(seed, 40, sizes);
    const trie = new SidTrie(table, sizes.length);
    const valid = new Set<string>();
    for (let r = 0; r < 40; r++) valid.add(table.subarray(r * 5, r * 5 + 5).join(','));
    const requests = 3;
    const beam = 1 + (seed % 7);
    const { results } = await constrainedBeamSearch(new RandomModelSession(seed, vocab), trie, requests, vocab, { beam });
    for (const list of results) {
      assert.ok(list.length > 0 && list.length <= beam);
      for (const d of list) {
        assert.ok(trie.isLeaf(d.leaf), 'a finished beam is a full SID');
        const rows = trie.items(d.leaf);
        assert.ok(rows.length > 0);
        assert.ok(valid.has(table.subarray(rows[0] * 5, rows[0] * 5 + 5).join(',')));
      }
    }
  }
});

test('with a beam as wide as the catalog the search is exact, and items keep collision rank', async () => {
  const sizes = [3, 3, 4, 4, 4];
  const vocab = sizes.reduce((a, b) => a + b, 0);
  const table = randomTable(7, 60, sizes);
  // Two items share the SID of row 0: they must come back together, in row order.
  table.set(table.subarray(0, 5), 5 * 5);
  const trie = new SidTrie(table, 5);
  const { results } = await constrainedBeamSearch(new RandomModelSession(3, vocab), trie, 1, vocab, { beam: 60 });
  const exhaustive = new Map<string, number>();
  for (let r = 0; r < 60; r++) {
    const sid = [...table.subarray(r * 5, r * 5 + 5)];
    let score = 0;
    for (const [d, t] of sid.entries()) score += hashScore(3, sid.slice(0, d), t);
    exhaustive.set(sid.join(','), score);
  }
  const expected = [...exhaustive.values()].sort((a, b) => b - a);
  assert.equal(results[0].length, exhaustive.size);
  for (const [i, d] of results[0].entries()) assert.ok(Math.abs(d.score - expected[i]) < 1e-4, `rank ${i}`);
  const ranked = sidsToItems(trie, results[0], 100);
  const at0 = ranked.items.indexOf(0);
  assert.equal(ranked.items[at0 + 1], 5, 'the item sharing row 0 SID follows it');
  assert.equal(ranked.scores[at0], ranked.scores[at0 + 1]);
  assert.equal(new Set(ranked.items).size, 60, 'every item exactly once');
});

test('dynamic pruning scores fewer beam rows and keeps the best SID', async () => {
  const sizes = [8, 8, 8, 16, 16];
  const vocab = sizes.reduce((a, b) => a + b, 0);
  const trie = new SidTrie(randomTable(11, 2000, sizes), 5);
  const full = await constrainedBeamSearch(new RandomModelSession(5, vocab), trie, 4, vocab, { beam: 50 });
  const pruned = await constrainedBeamSearch(new RandomModelSession(5, vocab), trie, 4, vocab, { beam: 50, pruneMargin: 2 });
  assert.ok(pruned.stats.beamRowsScored < full.stats.beamRowsScored, `${pruned.stats.beamRowsScored} < ${full.stats.beamRowsScored}`);
  assert.ok(pruned.stats.pruned > 0);
  for (let r = 0; r < 4; r++) assert.equal(pruned.results[r][0].leaf, full.results[r][0].leaf);
  await assert.rejects(() => constrainedBeamSearch(new RandomModelSession(5, vocab), trie, 1, vocab, { beam: 0 }), /beam/);
});

test('excluded items are never returned, no beam is spent on a SID whose items are all excluded, and the rest keep their order', async () => {
  const sizes = [3, 3, 4, 4, 4];
  const vocab = sizes.reduce((a, b) => a + b, 0);
  for (let seed = 1; seed <= 20; seed++) {
    const table = randomTable(seed, 60, sizes);
    table.set(table.subarray(0, 5), 5 * 5); // rows 0 and 5 share a SID
    const trie = new SidTrie(table, 5);
    const full = await constrainedBeamSearch(new RandomModelSession(seed, vocab), trie, 1, vocab, { beam: 60 });
    const all = sidsToItems(trie, full.results[0], 60);
    // Leave out the top three items, row 0 (its SID stays: row 5 shares it) and a random row.
    const exclude = Int32Array.from(new Set([...all.items.subarray(0, 3), 0, (seed * 7) % 60]));
    const { results } = await constrainedBeamSearch(new RandomModelSession(seed, vocab), trie, 2, vocab, { beam: 60, exclude: [exclude] });
    const kept = sidsToItems(trie, results[0], 60, exclude);
    const left = new Set(exclude);
    assert.deepEqual([...kept.items], [...all.items].filter((item) => !left.has(item)), 'exact search without the excluded items');
    for (const d of results[0]) {
      assert.ok(trie.items(d.leaf).some((item) => !left.has(item)), 'no finished beam holds only excluded items');
    }
    assert.equal(sidsToItems(trie, results[1], 60).items.length, 60, 'a request without exclusions is unaffected');
  }
});
