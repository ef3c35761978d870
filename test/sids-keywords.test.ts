import assert from 'node:assert/strict';
import { test } from 'node:test';
import { tokenize } from '../src/eval/query.js';
import { WordAhoCorasick } from '../src/sids/keywords/aho-corasick.js';
import { fuseKeywords } from '../src/sids/keywords/fusion.js';
import { KeywordPool } from '../src/sids/keywords/pool.js';
import type { ItemRecord } from '../src/store/types.js';
import { Rng } from '../src/tensor/rng.js';

test('word Aho-Corasick finds exactly the occurrences a brute-force scan finds', () => {
  const rng = new Rng(1);
  const words = ['a', 'b', 'c', 'd'];
  const draw = (n: number) => Array.from({ length: n }, () => words[rng.int(words.length)]);
  const patterns = Array.from({ length: 40 }, () => draw(1 + rng.int(4)));
  const ac = new WordAhoCorasick(patterns.map((p, i) => [p, i] as const));
  for (let trial = 0; trial < 50; trial++) {
    const text = draw(30);
    const got = ac.findAll(text).map((m) => `${m.start}-${m.end}:${patterns[m.value].join('')}`);
    const want: string[] = [];
    const seen = new Set<string>();
    patterns.forEach((p) => {
      const key = p.join(' ');
      if (seen.has(key)) return;
      seen.add(key);
      for (let s = 0; s + p.length <= text.length; s++) {
        if (p.every((w, j) => text[s + j] === w)) want.push(`${s}-${s + p.length}:${p.join('')}`);
      }
    });
    assert.deepEqual(got.sort(), want.sort());
  }
});

test('matches fall on word boundaries, ignore case, and prefer the leftmost-longest phrase', () => {
  const pool = new KeywordPool(
    ['rose', 'gold', 'rose gold', 'nail polish', 'nail polish remover', 'polish', 'oil'].map((phrase) => ({
      phrase,
      type: 'colour' as const,
      items: 1,
    })),
  );
  const names = (text: string) => pool.match(text).map((i) => pool.keywords[i].phrase);
  assert.deepEqual(names('Primrose GOLDEN Nail-Polish Remover, Rose Gold'), ['nail polish remover', 'rose gold']);
  assert.deepEqual(names('Toiletries: boiled oil'), ['oil']);
  assert.deepEqual(names('polish polish'), ['polish'], 'each keyword once');
});

function item(id: string, title: string, brand: string | null, path: string[]): ItemRecord {
  return { id, title, brand, categories: [path], price: null, attributes: {} };
}

test('the keyword pool takes brands, category terms and lexicon words that occur often enough', () => {
  const items = [
    item('1', 'OPI Nail Lacquer Red 0.5 oz', 'OPI', ['Beauty', 'Makeup', 'Nails', 'Nail Polish']),
    item('2', 'OPI Nail Lacquer Rose Gold', 'OPI', ['Beauty', 'Makeup', 'Nails', 'Nail Polish']),
    item('3', 'L&#39;Oreal Paris Shampoo, Argan Oil, Red', "L&#39;Oreal Paris", ['Beauty', 'Hair Care', 'Shampoos']),
    item('4', 'Moisturizing Shampoo with Argan Oil', "L&#39;Oreal Paris", ['Beauty', 'Hair Care', 'Shampoos']),
    item('5', 'Body Lotion, Lavender', null, ['Beauty', 'Skin Care', 'Creams & Moisturizers']),
    item('6', 'Travel Size Lotion Lavender', 'Unknown', ['Beauty', 'Skin Care', 'Creams & Moisturizers']),
    item('7', 'Face Cream', 'Unknown', ['Beauty', 'Skin Care', 'Creams & Moisturizers']),
  ];
  const pool = KeywordPool.build(items, { minItems: 2, maxShare: 0.5 });
  const byPhrase = new Map(pool.keywords.map((k) => [k.phrase, k]));
  assert.equal(byPhrase.get('opi')?.type, 'brand');
  assert.equal(byPhrase.get('loreal paris')?.type, 'brand', 'HTML entities decoded, apostrophe joined');
  assert.equal(byPhrase.get('nail polish')?.type, 'category');
  assert.equal(byPhrase.get('moisturizers')?.type, 'category', '"Creams & Moisturizers" splits at &');
  assert.equal(byPhrase.get('argan oil')?.type, 'material');
  assert.equal(byPhrase.get('lavender')?.type, 'colour', 'a phrase claimed twice keeps the first type');
  assert.equal(byPhrase.get('red')?.items, 2);
  assert.ok(!byPhrase.has('beauty'), 'in every item: above maxShare');
  assert.ok(!byPhrase.has('unknown'), 'not a brand');
  assert.ok(!byPhrase.has('moisturizing'), 'in one item only: below minItems');
  assert.ok(!byPhrase.has('travel size'));
  const found = pool.matchItem(items[2]).map((i) => pool.keywords[i].phrase);
  assert.deepEqual(found.sort(), ['argan oil', 'hair care', 'loreal paris', 'red', 'shampoo', 'shampoos'].filter((p) => byPhrase.has(p)).sort());
  assert.deepEqual(
    pool.match('beauty hair care shampoos').map((i) => pool.keywords[i].phrase),
    ['hair care', 'shampoos'],
    'queries match the same pool',
  );
  assert.ok(tokenize("L'Oreal").join(' ') === 'loreal');
});

test('fusion: e\' = L2norm(0.5 e + 0.5 mean(keyword vectors)); rows without keywords are only normalised', () => {
  const e = { data: Float32Array.of(1, 0, 0, 3, 4, 0), rows: 2, cols: 3 };
  const kw = { data: Float32Array.of(0, 1, 0, 0, 0, 1), rows: 2, cols: 3 };
  const out = fuseKeywords(e, [[0, 1], []], kw);
  const s = Math.hypot(0.5, 0.25, 0.25);
  const want = [0.5 / s, 0.25 / s, 0.25 / s, 0.6, 0.8, 0];
  for (const [i, v] of out.data.entries()) assert.ok(Math.abs(v - want[i]) < 1e-6, `${i}: ${v} vs ${want[i]}`);
  assert.throws(() => fuseKeywords(e, [[0]], kw), /cover 1 rows; the embeddings have 2/);
  assert.throws(() => fuseKeywords(e, [[2], []], kw), /keyword id 2 is outside the pool of 2/);
});
