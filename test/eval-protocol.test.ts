import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateSystem } from '../src/eval/evaluate.js';
import { buildEvalData, searchTrainingPairs } from '../src/eval/protocol.js';
import { hemQuery, tokenize } from '../src/eval/query.js';
import { TopKSelector } from '../src/eval/topk.js';
import type { DenseScorer, EvalCase, TopKRanker } from '../src/eval/types.js';
import { interactionsFrom, plantedChain } from './eval-fixtures.js';

test('HEM query: category words, lower-cased, stopwords and repeats dropped', () => {
  assert.equal(hemQuery({ categories: [['Beauty', 'Makeup', 'Nails', 'Nail Polish']] }), 'beauty makeup nails nail polish');
  assert.equal(
    hemQuery({ categories: [['Beauty', 'Skin Care', 'Face', 'Creams & Moisturizers']] }),
    'beauty skin care face creams moisturizers',
  );
  assert.equal(hemQuery({ categories: [['Beauty', 'Fragrance', "Women's", 'Eau de Parfum']] }), 'beauty fragrance womens eau de parfum');
  assert.equal(
    hemQuery({ categories: [['Beauty', 'Hair Care', 'Shampoos'], ['Beauty', 'Hair Care', 'Shampoo & Conditioner Sets']] }),
    'beauty hair care shampoos shampoo conditioner sets',
  );
  assert.equal(hemQuery({ categories: [['Beauty', 'Tools and Accessories', 'Bags & Cases for the Road']] }), 'beauty tools accessories bags cases road');
  assert.deepEqual(tokenize('Self-Tanners & Bronzers, 2-Pack'), ['self', 'tanners', 'bronzers', '2', 'pack']);
});

test('leave-one-out never leaks the target into the inputs or the training data', () => {
  const inter = plantedChain({ users: 200 });
  for (const protocol of ['rec', 'search'] as const) {
    const held = new Map<number, number[]>();
    for (const split of ['valid', 'test'] as const) {
      const { train, cases } = buildEvalData(inter, protocol, split);
      assert.equal(cases.length, 200);
      for (const c of cases) {
        const seq = inter.sequences[c.user];
        const target = c.targets[0];
        assert.ok(!c.history.includes(target), `${protocol}/${split} user ${c.user}: history contains the target`);
        assert.equal(target, seq[split === 'valid' ? seq.length - 2 : seq.length - 1]);
        assert.deepEqual(Array.from(c.history), Array.from(seq.subarray(0, seq.indexOf(target))), 'history = everything before');
        assert.equal(c.query, protocol === 'search' ? hemQuery(inter.items[target]) : null);
        held.set(c.user, [...(held.get(c.user) ?? []), target]);
      }
      for (const [u, items] of held) {
        for (const it of items) assert.ok(!train.sequences[u].includes(it), `training data of user ${u} holds held-out ${it}`);
      }
      for (const pair of searchTrainingPairs(train)) {
        assert.ok(!held.get(pair.user)?.includes(pair.item), 'search pairs come from training items only');
        assert.equal(pair.query, hemQuery(inter.items[pair.item]));
      }
    }
    // Test inputs include the validation item (standard), validation inputs do not.
    const valid = buildEvalData(inter, protocol, 'valid').cases[0];
    const testCase = buildEvalData(inter, protocol, 'test').cases[0];
    assert.equal(testCase.history[testCase.history.length - 1], valid.targets[0]);
  }
});

test('users with fewer than 3 items get no case; no case at all is a clear error', () => {
  const inter = interactionsFrom([[0, 1], [0, 1, 2], [2]], 3);
  const { train, cases } = buildEvalData(inter, 'rec', 'test');
  assert.deepEqual(cases.map((c) => c.user), [1]);
  assert.deepEqual(train.sequences.map((s) => s.length), [0, 1, 0]);
  assert.throws(() => buildEvalData(interactionsFrom([[0, 1]], 2), 'rec', 'valid'), /no user with 3\+ interactions/);
  assert.throws(() => buildEvalData(inter, 'recs' as never, 'valid'), /expected "rec" or "search"/);
});

/** Scores item i as (i * 37 mod m) / m for everyone, plus 10 on the case's history items. */
class FixedScorer implements DenseScorer {
  readonly name = 'fixed';
  constructor(
    private readonly nItems: number,
    private readonly m = 101,
  ) {}
  fit(): void {}
  score(c: EvalCase, row: Float32Array): void {
    for (let i = 0; i < this.nItems; i++) row[i] = ((i * 37) % this.m) / this.m;
    for (const h of c.history) row[h] += 10;
  }
  scoreBatch(cases: readonly EvalCase[], out: Float32Array): void {
    cases.forEach((c, b) => {
      this.score(c, out.subarray(b * this.nItems, (b + 1) * this.nItems));
    });
  }
}

test('dense scorers and top-K rankers go through the same harness with the same result', async () => {
  const inter = plantedChain({ users: 120 });
  const nItems = inter.items.length;
  const { cases } = buildEvalData(inter, 'rec', 'test');
  const longest = Math.max(...cases.map((c) => c.history.length));
  // Modulus 101 > 60 items: no ties; modulus 7: heavy ties, broken by lower index.
  for (const m of [101, 7]) {
    const dense = new FixedScorer(nItems, m);
    const a = await evaluateSystem(dense, cases, { nItems, ks: [1, 5, 10], batchSize: 7 });
    // A ranker that drops history items itself is asked once per variant, for max K items.
    for (const excludesHistory of [false, true]) {
      const asked: { k: number; exclude: boolean }[] = [];
      const ranker: TopKRanker = {
        name: 'ranker',
        excludesHistory,
        fit() {},
        rankBatch(batch, k, exclude = false) {
          asked.push({ k, exclude });
          const selector = new TopKSelector();
          return batch.map((c) => {
            const row = new Float32Array(nItems);
            dense.score(c, row);
            if (exclude) for (const h of c.history) row[h] = Number.NEGATIVE_INFINITY;
            const items = new Int32Array(k);
            const scores = new Float32Array(k);
            const n = selector.select(row, k, items, scores);
            return { items: items.slice(0, n), scores: scores.slice(0, n) };
          });
        },
      };
      const b = await evaluateSystem(ranker, cases, { nItems, ks: [1, 5, 10], batchSize: 7 });
      if (excludesHistory) {
        assert.deepEqual(new Set(asked.map((x) => `${x.k}:${x.exclude}`)), new Set(['10:false', '10:true']), 'one call per variant');
      } else {
        assert.equal(Math.max(...asked.map((x) => x.k)), Math.min(nItems, 10 + longest), 'room for the history');
        assert.ok(asked.every((x) => !x.exclude));
      }
      for (let v = 0; v < 2; v++) {
        for (const [key, values] of a.variants[v].perCase) {
          assert.deepEqual(Array.from(values), Array.from(b.variants[v].perCase.get(key)!), `m=${m} excludesHistory=${excludesHistory} variant ${v} ${key}`);
        }
      }
    }
    // History items score highest: kept, they push the target down by the history length;
    // excluded, the ranking is the plain one. So exclusion must change the numbers.
    const [keep, exclude] = a.variants;
    assert.equal(keep.excludeHistory, false);
    assert.ok(exclude.means['recall@10'] > keep.means['recall@10']);
    for (let c = 0; c < cases.length; c++) {
      assert.equal(keep.ranks.ranks[c], exclude.ranks.ranks[c] + cases[c].history.length, 'dense ranks are exact');
    }
  }
});

test('a dense scorer returning NaN is named in the error', async () => {
  const inter = plantedChain({ users: 10 });
  const { cases } = buildEvalData(inter, 'rec', 'test');
  const nan: DenseScorer = {
    name: 'nan',
    fit() {},
    scoreBatch(batch, out) {
      out[batch.length * 60 - 3] = Number.NaN;
    },
  };
  await assert.rejects(evaluateSystem(nan, cases, { nItems: 60, ks: [5] }), /"nan" scored item index 57 as NaN/);
});

test('a ranker returning a repeated or unknown item is rejected', async () => {
  const inter = plantedChain({ users: 10 });
  const { cases } = buildEvalData(inter, 'rec', 'test');
  const bad = (items: number[]): TopKRanker => ({
    name: 'bad',
    fit() {},
    rankBatch: (batch) => batch.map(() => ({ items: Int32Array.from(items), scores: new Float32Array(items.length) })),
  });
  const options = { nItems: inter.items.length, ks: [5] };
  await assert.rejects(evaluateSystem(bad([1, 2, 1]), cases, options), /ranked item index 1 twice/);
  await assert.rejects(evaluateSystem(bad([1, 999]), cases, options), /ranked item index 999; expected 0\.\.59/);
});
