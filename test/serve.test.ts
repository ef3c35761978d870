import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { photoModelDir } from '../src/decode/photo-search.js';
import { loadAlignedEmbeddings } from '../src/cascade/embeddings.js';
import { HeadPriors } from '../src/decode/priors.js';
import { rankRequest } from '../src/decode/ranker.js';
import { knownBehaviour } from '../src/eval/protocol.js';
import { repoRoot } from '../src/paths.js';
import type { PhotoRankResponse, RankResponse } from '../src/serve/schemas.js';
import { type RunningServer, startServer, webDir } from '../src/serve/server.js';
import { loadInteractions } from '../src/store/interactions.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { generativeDir, loadGenerative } from '../src/tasks/train.js';
import { Rng } from '../src/tensor/rng.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { buildTinyPhotoModel, jpegOf, pngOf, stripeView } from './photo-fixtures.js';
import { runTinyDemo, writeDemoSlice } from './serve-fixtures.js';

interface Reply<T> {
  status: number;
  body: T & { message?: string };
}

describe('serving a model built by the main job (demo slice, tiny profile)', () => {
  let home: string;
  let server: RunningServer;
  let users: string[];
  /** Photo paths of each item of the photo catalog "photos". */
  let photoPaths: string[][];
  const PHOTO_LIMIT = 64 * 1024;

  const call = async <T = Record<string, unknown>>(method: string, path: string, body?: unknown, raw?: string, srv = server): Promise<Reply<T>> => {
    const res = await fetch(`${srv.url}${path}`, {
      method,
      headers: body === undefined && raw === undefined ? {} : { 'content-type': 'application/json' },
      body: raw ?? (body === undefined ? undefined : JSON.stringify(body)),
    });
    const text = await res.text();
    return { status: res.status, body: (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : { text }) as T & { message?: string } };
  };
  type Ranking = { id: string; score: number }[];
  const ranking = (r: Reply<RankResponse>): Ranking => r.body.items.map((it) => ({ id: it.id, score: it.score }));
  // Batched decoding changes scores in the last float bits (other matmul shapes), so scores
  // match to 1e-4 and items as a set (items whose scores tie may swap places); two models differ far more.
  const sameAnswer = (a: Ranking, b: Ranking | undefined) =>
    b !== undefined &&
    a.length === b.length &&
    a.every((x, i) => Math.abs(x.score - b[i].score) < 1e-4) &&
    JSON.stringify(a.map((x) => x.id).sort()) === JSON.stringify(b.map((x) => x.id).sort());

  before(async () => {
    home = mkdtempSync(join(tmpdir(), 'gensearch-serve-'));
    const slice = writeDemoSlice(home);
    users = slice.users;
    const first = await runTinyDemo(home, slice.dir);
    assert.deepEqual(first.steps, { import: 'built', embed: 'built', sids: 'built', train: 'built' });
    // A second model (another seed, an item head) for the swap and co-purchase tests: only its training step runs.
    const second = await runTinyDemo(home, slice.dir, 'b', 2, { itemEmbedding: 'true', itemHead: '1' });
    assert.deepEqual(second.steps, { import: 'reused', embed: 'reused', sids: 'reused', train: 'built' });
    const again = await runTinyDemo(home, slice.dir);
    assert.deepEqual(again.steps, { import: 'reused', embed: 'reused', sids: 'reused', train: 'reused' }, 'unchanged inputs: nothing is built again');
    // A photo catalog beside the text one, with the smallest photo model the photo tests train.
    const store = new SqliteStore(join(home, 'store.sqlite'));
    try {
      photoPaths = await buildTinyPhotoModel(await initTensorRuntime(), store, join(home, 'photo-catalog'), 'photos', photoModelDir(home, 'photos', 'default'));
    } finally {
      store.close();
    }
    server = await startServer({ home, dataset: 'slice', name: 'default', port: 0, logger: false, photo: { dataset: 'photos' }, photoLimit: PHOTO_LIMIT });
  });

  after(async () => {
    await server?.close();
    rmSync(home, { recursive: true, force: true });
  });

  test('search, recommend, items, users and health answer with the documented shapes', async () => {
    const user = users[0];
    const health = await call<{ status: string; items: number; model: { version: string } }>('GET', '/healthz');
    assert.equal(health.status, 200);
    assert.equal(health.body.items, server.shop.items.length);
    const search = await call<RankResponse>('POST', '/v1/search', { query: 'nail polish', userId: user, k: 5, beam: 10 });
    assert.equal(search.status, 200, search.body.message);
    assert.equal(search.body.items.length, 5);
    assert.equal(search.body.model.version, health.body.model.version);
    assert.ok(search.body.historyLength >= 5);
    for (const it of search.body.items) {
      assert.match(it.sid, /^(<[a-z]_\d+>){4}$/);
      assert.equal(typeof it.score, 'number');
      assert.ok('title' in it && 'brand' in it && 'category' in it && 'price' in it);
    }
    const scores = search.body.items.map((it) => it.score);
    assert.deepEqual([...scores].sort((a, b) => b - a), scores, 'best first');
    const baseline = await call<RankResponse>('POST', '/v1/search', { query: 'nail polish', userId: user, k: 5, system: 'bm25-personal' });
    assert.equal(baseline.status, 200);
    assert.equal(baseline.body.system, 'bm25-personal');
    assert.equal(baseline.body.items.length, 5);
    const cascade = await call<RankResponse>('POST', '/v1/search', { query: 'nail polish', userId: user, k: 5, system: 'cascade-norank' });
    assert.equal(cascade.status, 200, 'the cascade is served where its embeddings were built');
    assert.equal(cascade.body.items.length, 5);
    const noQuery = await call<{ message: string }>('POST', '/v1/recommend', { userId: user, k: 5, system: 'cascade-norank' });
    assert.equal(noQuery.status, 400);
    assert.match(noQuery.body.message, /does not serve recommendation/);
    const rec = await call<RankResponse>('POST', '/v1/recommend', { userId: user, k: 3 });
    assert.equal(rec.status, 200);
    assert.equal(rec.body.items.length, 3);
    const byHistory = await call<RankResponse>('POST', '/v1/recommend', { history: [search.body.items[0].id], k: 3, system: 'itemcf' });
    assert.equal(byHistory.status, 200);
    assert.equal(byHistory.body.historyLength, 1);
    // excludeHistory: a history of the items each system put first leaves them all out, still k items.
    for (const [path, body] of [
      ['/v1/recommend', { k: 5, beam: 10 }],
      ['/v1/recommend', { k: 5, system: 'popular' }],
      ['/v1/search', { query: 'nail polish', k: 5, system: 'cascade-norank' }],
    ] as const) {
      const first = await call<RankResponse>('POST', path, { ...body, history: [search.body.items[0].id] });
      const history = [search.body.items[0].id, ...first.body.items.slice(0, 3).map((it) => it.id)];
      const kept = await call<RankResponse>('POST', path, { ...body, history });
      const left = await call<RankResponse>('POST', path, { ...body, history, excludeHistory: true });
      assert.equal(left.status, 200, left.body.message);
      assert.equal(left.body.items.length, 5, `${path} ${JSON.stringify(body)}`);
      assert.ok(kept.body.items.some((it) => history.includes(it.id)), 'without the flag the history items come back');
      assert.ok(left.body.items.every((it) => !history.includes(it.id)), `${path} ${JSON.stringify(body)} left out the history`);
    }
    const item = await call<{ id: string; sid: string }>('GET', `/v1/items/${search.body.items[0].id}`);
    assert.equal(item.status, 200);
    assert.equal(item.body.sid, search.body.items[0].sid);
    const list = await call<{ users: { id: string; historyLength: number }[] }>('GET', '/v1/users?limit=3');
    assert.equal(list.body.users.length, 3);
    assert.ok(list.body.users[0].historyLength >= list.body.users[2].historyLength);
  });

  test('an event joins the user\'s history: the next request sees it', async () => {
    const user = users[1];
    const before = await call<{ historyLength: number }>('GET', `/v1/users/${user}`);
    const search = await call<RankResponse>('POST', '/v1/search', { query: 'shampoo', userId: user });
    const itemId = search.body.items[0].id;
    const event = await call<{ added: boolean; historyLength: number }>('POST', '/v1/events', { userId: user, itemId, type: 'click', query: 'shampoo', eventId: `test-${user}-1` });
    assert.equal(event.status, 201);
    assert.equal(event.body.historyLength, before.body.historyLength + 1);
    const repeat = await call<{ added: boolean }>('POST', '/v1/events', { userId: user, itemId, type: 'click', eventId: `test-${user}-1` });
    assert.equal(repeat.status, 200);
    assert.equal(repeat.body.added, false, 'the same eventId is stored once');
    const after = await call<{ historyLength: number; recent: { item: { id: string }; type: string; query: string | null }[] }>('GET', `/v1/users/${user}`);
    assert.equal(after.body.historyLength, before.body.historyLength + 1);
    assert.deepEqual([after.body.recent[0].item.id, after.body.recent[0].type, after.body.recent[0].query], [itemId, 'click', 'shampoo']);
    const next = await call<RankResponse>('POST', '/v1/search', { query: 'shampoo', userId: user });
    assert.equal(next.body.historyLength, before.body.historyLength + 1);
    const impression = await call<{ historyLength: number }>('POST', '/v1/events', { userId: user, itemId, type: 'impression' });
    assert.equal(impression.body.historyLength, before.body.historyLength + 1, 'impressions are stored but are not positive history');
    const newcomer = await call<{ historyLength: number }>('POST', '/v1/events', { userId: 'visitor-1', itemId, type: 'purchase' });
    assert.equal(newcomer.status, 201);
    const rec = await call<RankResponse>('POST', '/v1/recommend', { userId: 'visitor-1', k: 2 });
    assert.equal(rec.body.historyLength, 1, 'a new user is created by their first event');
  });

  test('bad input gets a 4xx with a reason, and the server keeps serving', async () => {
    const cases: [string, string, unknown, number, RegExp][] = [
      ['POST', '/v1/search', { query: 5 }, 400, /query/],
      ['POST', '/v1/search', { query: '   ' }, 400, /must not be empty/],
      ['POST', '/v1/search', { query: 'x', k: '5' }, 400, /k: .*expected number/],
      ['POST', '/v1/search', { query: 'x', k: 0 }, 400, /k/],
      ['POST', '/v1/search', { query: 'x', k: 30, beam: 10 }, 400, /beam must be at least k/],
      ['POST', '/v1/search', { query: 'x', colour: 'red' }, 400, /colour/],
      ['POST', '/v1/search', { query: 'x', userId: 'nobody' }, 404, /user "nobody"/],
      ['POST', '/v1/search', { query: 'x', history: ['no-such-item'] }, 404, /item "no-such-item"/],
      ['POST', '/v1/search', { query: 'x', system: 'oracle' }, 400, /system "oracle" is not served/],
      ['POST', '/v1/recommend', { k: 3 }, 400, /userId or history/],
      ['POST', '/v1/recommend', { userId: users[0], system: 'bm25' }, 400, /needs a query/],
      ['GET', '/v1/items/no-such-item', undefined, 404, /item "no-such-item"/],
      ['GET', '/v1/users/nobody', undefined, 404, /user "nobody"/],
      ['POST', '/v1/events', { userId: users[0], itemId: 'no-such-item', type: 'click' }, 404, /item/],
      ['POST', '/v1/events', { userId: users[0], itemId: '1', type: 'like' }, 400, /type/],
      ['POST', '/v1/admin/reload', { name: 'missing' }, 404, /no generative model "missing"/],
      ['GET', '/v2/nothing', undefined, 404, /no route/],
    ];
    for (const [method, path, body, status, reason] of cases) {
      const r = await call(method, path, body);
      assert.equal(r.status, status, `${method} ${path} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.message ?? '', reason, `${method} ${path} ${JSON.stringify(body)}`);
    }
    const broken = await call('POST', '/v1/search', undefined, '{"query": ');
    assert.equal(broken.status, 400);
    const huge = await call('POST', '/v1/search', undefined, JSON.stringify({ query: 'x', history: Array(40000).fill('0123456789') }));
    assert.equal(huge.status, 413);
    const health = await call('GET', '/healthz');
    assert.equal(health.status, 200, 'still serving');
    const metrics = await fetch(`${server.url}/metrics`).then((r) => r.text());
    assert.match(metrics, /gensearch_http_requests_total\{method="POST",route="\/v1\/search",status="400"\} [1-9]/);
    assert.match(metrics, /gensearch_rank_seconds_count\{system="generative",task="search"\} [1-9]/);
    assert.match(metrics, /gensearch_model_info\{name="default",version="[0-9a-f]{12}"\} 1/);
    const doc = await call<{ openapi: string; paths: Record<string, unknown> }>('GET', '/openapi.json');
    assert.match(doc.body.openapi, /^3\./);
    for (const path of ['/v1/search', '/v1/recommend', '/v1/items/{id}', '/v1/users/{id}', '/v1/events', '/v1/admin/reload', '/healthz']) assert.ok(doc.body.paths[path], path);
  });

  test('concurrent generative requests are decoded in batches and answer as they do alone', async () => {
    const bodies = ['nail polish', 'shampoo', 'lipstick', 'face cream', 'perfume', 'hair dryer'].flatMap((query, i) => [
      { query, k: 5, beam: 10 },
      { query, userId: users[i], k: 3, beam: 10 },
    ]);
    const alone: Ranking[] = [];
    for (const body of bodies) alone.push(ranking(await call<RankResponse>('POST', '/v1/search', body)));
    const batchStats = async () => {
      const text = await fetch(`${server.url}/metrics`).then((r) => r.text());
      const value = (name: string) => Number(new RegExp(`^gensearch_decode_batch_size_${name} (\\S+)$`, 'm').exec(text)![1]);
      return { sum: value('sum'), count: value('count') };
    };
    const before = await batchStats();
    const together = await Promise.all(bodies.map((body) => call<RankResponse>('POST', '/v1/search', body)));
    const after = await batchStats();
    together.forEach((r, i) => assert.ok(sameAnswer(ranking(r), alone[i]), `request ${i}: ${JSON.stringify(ranking(r))} vs ${JSON.stringify(alone[i])}`));
    assert.equal(after.sum - before.sum, bodies.length, 'every request went through the batcher');
    assert.ok(after.count - before.count < bodies.length, `${bodies.length} concurrent requests took ${after.count - before.count} batches`);
  });

  test('model swaps under load: no request fails, and each answer is the one its model alone gives', async () => {
    const user = users[2];
    const requests = [
      ['/v1/search', { query: 'nail polish', userId: user, k: 5, beam: 10 }],
      ['/v1/search', { query: 'hair shampoo', k: 5, beam: 10 }],
      ['/v1/recommend', { userId: user, k: 5, beam: 10 }],
    ] as const;
    // What each model alone answers, measured while it is the only one served.
    const expected = new Map<string, Ranking>();
    const record = async () => {
      for (const [i, [path, body]] of requests.entries()) {
        const r = await call<RankResponse>('POST', path, body);
        expected.set(`${r.body.model.version}:${i}`, ranking(r));
      }
    };
    await record();
    const a = server.slot.serving.version;
    const swapB = await call<{ model: { version: string; name: string }; previous: { version: string } }>('POST', '/v1/admin/reload', { name: 'b' });
    assert.equal(swapB.status, 200, swapB.body.message);
    const b = swapB.body.model.version;
    assert.notEqual(a, b);
    assert.equal(swapB.body.previous.version, a);
    await record();
    assert.ok(
      requests.some((_, i) => !sameAnswer(expected.get(`${a}:${i}`)!, expected.get(`${b}:${i}`))),
      'the two models answer differently (else mixing could not be seen)',
    );
    let swapping = true;
    const seen: Reply<RankResponse>[] = [];
    const client = async (offset: number) => {
      for (let n = offset; swapping; n++) {
        const [path, body] = requests[n % requests.length];
        const r = await call<RankResponse>('POST', path, body);
        seen.push(r);
        assert.equal(r.status, 200, `request during a swap failed: ${JSON.stringify(r.body)}`);
        const alone = expected.get(`${r.body.model.version}:${n % requests.length}`);
        assert.ok(sameAnswer(ranking(r), alone), `answer of version ${r.body.model.version} differs from that model alone: ${JSON.stringify(ranking(r))} vs ${JSON.stringify(alone)}`);
      }
    };
    const swaps = (async () => {
      for (let s = 0; s < 6; s++) {
        const r = await call<{ model: { version: string } }>('POST', '/v1/admin/reload', { name: s % 2 === 0 ? 'default' : 'b' });
        assert.equal(r.status, 200);
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
      swapping = false;
    })();
    await Promise.all([swaps, client(0), client(1), client(2), client(0)]);
    const versions = new Set(seen.map((r) => r.body.model.version));
    assert.deepEqual([...versions].sort(), [a, b].sort(), `requests ran on both models (${seen.length} requests)`);
    assert.equal(server.slot.serving.version, b);
  });

  test('a model with an item head ranks with the priors of all known behaviour and the aligned embeddings', async () => {
    const store = new SqliteStore(join(home, 'store.sqlite'));
    const inter = loadInteractions(store, 'slice');
    store.close();
    const embeddings = await loadAlignedEmbeddings(home, 'slice', inter.items);
    const priors = HeadPriors.fit(knownBehaviour('slice', inter.items, inter.sequences), { embeddings });
    const { model } = loadGenerative(generativeDir(home, 'slice', 'b'));
    assert.ok(model.cfg.itemHead, 'model b has an item head');
    const user = users[3];
    const history = inter.sequences[inter.userIds.indexOf(user)];
    const asList = (list: { items: Int32Array; scores: Float32Array }): Ranking => Array.from(list.items, (item, i) => ({ id: inter.items[item].id, score: list.scores[i] }));
    const withPrior = asList((await rankRequest(model, history, null, { k: 5, beam: 10, priors })).list);
    const without = asList((await rankRequest(model, history, null, { k: 5, beam: 10, coPurchaseWeight: 0, userCosineWeight: 0 })).list);
    assert.ok(!sameAnswer(withPrior, without), 'the priors change this user\'s list');
    const withoutTower = asList((await rankRequest(model, history, null, { k: 5, beam: 10, priors, userCosineWeight: 0 })).list);
    assert.ok(!sameAnswer(withPrior, withoutTower), 'the user tower changes it too');
    // A server of its own: its shop fits the prior on the store as it is now (no ItemCF baseline to reuse).
    const served = await startServer({ home, dataset: 'slice', name: 'b', port: 0, logger: false, baselines: ['popular'], webDir: null });
    try {
      const r = await call<RankResponse>('POST', '/v1/recommend', { userId: user, k: 5, beam: 10 }, undefined, served);
      assert.equal(r.status, 200, r.body.message);
      assert.ok(sameAnswer(ranking(r), withPrior), `served ${JSON.stringify(ranking(r))} vs ${JSON.stringify(withPrior)}`);
    } finally {
      await served.close();
    }
  });

  const upload = async (file: { bytes: Uint8Array; name: string; type?: string } | null, fields: Record<string, string> = {}, srv = server) => {
    const form = new FormData();
    if (file) form.append('image', new Blob([file.bytes], { type: file.type ?? 'image/png' }), file.name);
    for (const [key, value] of Object.entries(fields)) form.append(key, value);
    const res = await fetch(`${srv.url}/v1/search/image`, { method: 'POST', body: form });
    return { status: res.status, body: (await res.json()) as PhotoRankResponse & { message?: string } };
  };

  test('photo search over HTTP: a PNG and a JPEG upload find their item, by both methods', async () => {
    const png = readFileSync(photoPaths[2][1]);
    const nearest = await upload({ bytes: png, name: 'view.png' }, { k: '3', method: 'nearest' });
    assert.equal(nearest.status, 200, nearest.body.message);
    assert.equal(nearest.body.method, 'nearest');
    assert.deepEqual([nearest.body.items.length, nearest.body.items[0].id], [3, 'item2'], 'a catalog photo finds its own item first');
    assert.ok(nearest.body.items[0].score > 0.999, `cosine to its own catalog photo ${nearest.body.items[0].score}`);
    const jpg = await upload({ bytes: jpegOf(png), name: 'view.jpg', type: 'image/jpeg' }, { k: '2', method: 'nearest' });
    assert.equal(jpg.status, 200, jpg.body.message);
    assert.equal(jpg.body.items[0].id, 'item2', 'the same photo as a JPEG');
    // The photo model's default method: photo -> SIDs by constrained beam search.
    const fresh = pngOf(stripeView(1, new Rng(99), 32), 32);
    const generative = await upload({ bytes: fresh, name: 'new.png' }, { k: '4', beam: '8' });
    assert.equal(generative.status, 200, generative.body.message);
    assert.equal(generative.body.method, 'generative');
    assert.deepEqual([generative.body.model.dataset, generative.body.model.name, generative.body.model.generative], ['photos', 'default', true]);
    const ids = generative.body.items.map((it) => it.id);
    assert.ok(ids.length >= 1 && ids.length <= 4 && new Set(ids).size === ids.length, `items ${ids}`);
    assert.ok(ids.every((id) => /^item[0-3]$/.test(id)));
    for (const it of generative.body.items) assert.match(it.sid, /^(<[a-z]_\d+>){2,}$/);
    const scores = generative.body.items.map((it) => it.score);
    assert.deepEqual([...scores].sort((a, b) => b - a), scores, 'best first');
    assert.ok(generative.body.latencyMs > 0);
    const health = await call<{ photo: { version: string; dataset: string } | null }>('GET', '/healthz');
    assert.equal(health.body.photo?.dataset, 'photos');
    const reload = await call<{ model: { version: string }; previous: { version: string } }>('POST', '/v1/admin/reload-photo', {});
    assert.equal(reload.status, 200, JSON.stringify(reload.body));
    assert.equal(reload.body.model.version, reload.body.previous.version, 'the same photo model, loaded again');
    assert.equal((await upload({ bytes: png, name: 'view.png' }, { k: '1', method: 'nearest' })).body.items[0].id, 'item2', 'served after the swap');
    const doc = await call<{ paths: Record<string, { post: { requestBody: { content: Record<string, { schema: { properties: Record<string, { format?: string }> } }> } } }> }>('GET', '/openapi.json');
    const form = doc.body.paths['/v1/search/image']?.post.requestBody.content['multipart/form-data'];
    assert.equal(form?.schema.properties.image.format, 'binary', 'the upload is documented');
  });

  test('bad photo uploads get a 4xx with a reason, and the server keeps serving', async () => {
    const png = readFileSync(photoPaths[0][0]);
    const cases: [Parameters<typeof upload>[0], Record<string, string>, number, RegExp][] = [
      [null, { k: '3' }, 400, /no photo: send it in a multipart file field "image"/],
      [{ bytes: Buffer.from('just some text, no picture'), name: 'notes.txt', type: 'text/plain' }, {}, 400, /not an image: expected a PNG or JPEG/],
      [{ bytes: png.subarray(0, 60), name: 'cut.png' }, {}, 400, /damaged/],
      [{ bytes: Buffer.alloc(PHOTO_LIMIT + 1000, 7), name: 'huge.png' }, {}, 413, /larger than the upload limit of 0\.1 MiB/],
      [{ bytes: png, name: 'a.png' }, { k: 'many' }, 400, /k/],
      [{ bytes: png, name: 'a.png' }, { k: '5', beam: '2' }, 400, /beam must be at least k/],
      [{ bytes: png, name: 'a.png' }, { method: 'magic' }, 400, /method/],
      [{ bytes: png, name: 'a.png' }, { colour: 'red' }, 400, /colour/],
      [{ bytes: png, name: 'a.png' }, { userId: users[0] }, 409, /photo model searches dataset "photos" and the users belong to "slice"/],
    ];
    for (const [file, fields, status, reason] of cases) {
      const r = await upload(file, fields);
      assert.equal(r.status, status, `${file?.name} ${JSON.stringify(fields)}: ${JSON.stringify(r.body)}`);
      assert.match(r.body.message ?? '', reason, `${file?.name} ${JSON.stringify(fields)}`);
    }
    const json = await call('POST', '/v1/search/image', { image: 'x' });
    assert.equal(json.status, 415);
    assert.match(json.body.message ?? '', /multipart\/form-data with a file field "image"/);
    const raw = await fetch(`${server.url}/v1/search/image`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
    assert.equal(raw.status, 415);
    assert.match(((await raw.json()) as { message: string }).message, /content type image\/png is not accepted: .*multipart\/form-data with a file field "image"/);
    // A form cut off mid-way, and a form with two photos.
    const cut = await fetch(`${server.url}/v1/search/image`, {
      method: 'POST',
      headers: { 'content-type': 'multipart/form-data; boundary=XX' },
      body: Buffer.concat([Buffer.from('--XX\r\ncontent-disposition: form-data; name="image"; filename="a.png"\r\ncontent-type: image/png\r\n\r\n'), png.subarray(0, 50)]),
    });
    assert.equal(cut.status, 400);
    assert.match(((await cut.json()) as { message: string }).message, /the multipart form is damaged/);
    const two = new FormData();
    two.append('image', new Blob([png]), 'a.png');
    two.append('image', new Blob([png]), 'b.png');
    const twoRes = await fetch(`${server.url}/v1/search/image`, { method: 'POST', body: two });
    assert.equal(twoRes.status, 413);
    assert.match(((await twoRes.json()) as { message: string }).message, /one photo per request/);
    const ok = await upload({ bytes: png, name: 'a.png' }, { method: 'nearest', k: '1' });
    assert.deepEqual([ok.status, ok.body.items[0]?.id], [200, 'item0'], 'still serving photos');
  });

  test('without a photo model, photo search answers 409 with the way to get one; a named missing one stops the start', async () => {
    const bare = await startServer({ home, dataset: 'slice', name: 'default', port: 0, logger: false, webDir: null });
    try {
      assert.equal(bare.photo, null);
      const r = await upload({ bytes: readFileSync(photoPaths[0][0]), name: 'a.png' }, {}, bare);
      assert.equal(r.status, 409);
      assert.match(r.body.message ?? '', /no photo model is served: train one \(gensearch train-image/);
      const reload = await fetch(`${bare.url}/v1/admin/reload-photo`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      assert.equal(reload.status, 404);
      assert.match(((await reload.json()) as { message: string }).message, /gensearch train-image --dataset slice --name default/);
    } finally {
      await bare.close();
    }
    await assert.rejects(startServer({ home, dataset: 'slice', name: 'default', port: 0, logger: false, webDir: null, photo: { dataset: 'photos', name: 'missing' } }), /photo model "missing" of dataset "photos" not found/);
  });

  test('the web page in headless Chromium: type a query, see both result lists, switch user, see the ranking change; upload a photo, see its items', async (t) => {
    const chromium = '/usr/bin/chromium';
    if (!existsSync(chromium)) {
      if (process.env.CI) throw new Error(`${chromium} is missing; .ci/run installs Debian's chromium and CI must run this test`);
      t.skip(`${chromium} is absent (apt-get install -y chromium)`);
      return;
    }
    assert.ok(existsSync(join(webDir(), 'index.html')), 'the page is built by npm run build');
    const { chromium: launcher } = await import('playwright-core');
    const profile = mkdtempSync(join(tmpdir(), 'gensearch-chromium-')); // a fresh --user-data-dir
    const browser = await launcher.launchPersistentContext(profile, {
      executablePath: chromium,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage();
      await page.goto(`${server.url}/`);
      // Browser-side checks are strings: the test compiles without the DOM library.
      await page.waitForFunction("document.querySelectorAll('#user option').length > 2");
      await page.fill('#query', 'nail polish');
      await page.click('#go');
      await page.waitForSelector('#generative-results li');
      await page.waitForSelector('#baseline-results li');
      const listOf = () => page.locator('#generative-results li').allTextContents();
      const first = await listOf();
      assert.equal(first.length, 10);
      assert.match(first[0], /<a_\d+>/, 'SIDs shown');
      assert.match(await page.textContent('#generative-latency') ?? '', /\d+(\.\d+)? ms/);
      assert.match(await page.textContent('#baseline-name') ?? '', /bm25-personal/);
      assert.ok((await page.$$('#history li')).length > 0, "the user's recent behaviour is shown");
      const other = await page.locator('#user option').nth(2).getAttribute('value');
      await page.selectOption('#user', other!);
      // The status line names the user once both lists show that user's results.
      await page.waitForFunction(`document.querySelector('#status').textContent.includes('user ${other} ')`);
      const second = await listOf();
      assert.notDeepEqual(second, first, 'another user, another ranking');
      // The search cascade (recall + pre-rank) can stand beside the model instead.
      await page.selectOption('#baseline', 'cascade-norank');
      await page.waitForFunction(
        "document.querySelector('#baseline-name').textContent === 'cascade-norank' && document.querySelectorAll('#baseline-results li:not(.error)').length > 0",
      );
      // "hide bought": the page asks for the user's history to be left out, and shows that list.
      const owned = await call<{ historyLength: number; recent: { item: { id: string } }[] }>('GET', `/v1/users/${other}?limit=200`);
      assert.ok(owned.body.historyLength <= 200, 'the whole history is listed');
      const ownedIds = new Set(owned.body.recent.map((e) => e.item.id));
      const generative = page.waitForResponse((r) => r.url().endsWith('/v1/search') && /"excludeHistory":true.*"system":"generative"/.test(r.request().postData() ?? ''));
      await page.check('#exclude-history');
      const hidden = (await (await generative).json()) as RankResponse;
      assert.equal(hidden.items.length, 10);
      assert.ok(hidden.items.every((it) => !ownedIds.has(it.id)), 'no item of the history comes back');
      await page.waitForFunction(`document.querySelector('#generative-results li')?.textContent.includes(${JSON.stringify(hidden.items[0].id)})`);
      const shots = join(repoRoot(), 'test-artifacts');
      mkdirSync(shots, { recursive: true });
      await page.screenshot({ path: join(shots, 'serve-page.png'), fullPage: true });
      // Photo search: choose a photo, see it beside the items found for it.
      await page.selectOption('#photo-method', 'nearest');
      await page.setInputFiles('#photo', { name: 'mug.png', mimeType: 'image/png', buffer: readFileSync(photoPaths[3][2]) });
      await page.waitForSelector('#photo-results li:not(.error)');
      const photoHits = await page.locator('#photo-results li').allTextContents();
      assert.equal(photoHits.length, 4, 'k = 10, and the photo catalog has 4 items');
      assert.match(photoHits[0], /#item3/, 'the photo finds its item first');
      assert.match(photoHits[0], /<a_\d+>/, 'SIDs shown');
      assert.match(await page.textContent('#photo-latency') ?? '', /nearest · \d+(\.\d+)? ms/);
      await page.waitForFunction("document.querySelector('#photo-preview').complete && document.querySelector('#photo-preview').naturalWidth === 32");
      await page.screenshot({ path: join(shots, 'serve-photo.png'), fullPage: true });
    } finally {
      await browser.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
