import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { openPhotoSearch, searchPhoto } from '../src/decode/photo-search.js';
import { ADAPTER_DEFAULTS } from '../src/encoders/adapter.js';
import { loadBackbone } from '../src/encoders/backbone.js';
import { BackbonePool, type ImageEncoderSpec, trainEncoder } from '../src/encoders/image-encoder.js';
import { AUGMENT_DEFAULTS } from '../src/encoders/image-train.js';
import { coilCatalog, loadCoilPhotos } from '../src/eval/photo.js';
import { readImagePixels } from '../src/import/image.js';
import { PHOTO_RECIPE_DEFAULTS } from '../src/tasks/photo.js';
import { buildPhotoModel } from '../src/tasks/photo-model.js';
import { Rng } from '../src/tensor/rng.js';
import { initTensorRuntime } from '../src/tensor/runtime.js';
import { sharedData, tempDir } from './helpers.js';

// 64 px keeps the backbone passes cheap; the COIL photos (128 px) are downscaled to it.
const BACKBONE = { layer: 'block_13_expand_relu', size: 64 };
const spec = (head: Extract<ImageEncoderSpec, { kind: 'mobilenet' }>['head']): ImageEncoderSpec => ({ kind: 'mobilenet', backbone: BACKBONE, head, copies: 4, flipTta: false, augment: AUGMENT_DEFAULTS });

test('the MobileNetV2 backbone loads from the nsfwjs package files and gives deterministic features', async () => {
  await initTensorRuntime();
  const rng = new Rng(2);
  const images = Array.from({ length: 3 }, () => Float32Array.from({ length: 64 * 64 * 3 }, () => rng.next()));
  const a = await loadBackbone(BACKBONE);
  const b = await loadBackbone(BACKBONE);
  try {
    assert.equal(a.dim, 576);
    const fa = a.features(images);
    assert.equal(fa.length, 3 * 576);
    assert.ok(fa.every(Number.isFinite));
    // Another load of the same files, fresh (no cached features), agrees.
    assert.deepEqual(b.features(images), fa);
    // Different photos give different features.
    assert.notDeepEqual(fa.subarray(0, 576), fa.subarray(576, 1152));
  } finally {
    a.dispose();
    b.dispose();
  }
  await assert.rejects(loadBackbone({ layer: 'block_99_relu', size: 64 }), /no layer "block_99_relu"/);
  await assert.rejects(loadBackbone({ layer: BACKBONE.layer, size: 100 }), /multiple of 32/);
});

test('the head on the backbone trains on cached features of catalog photos (loss falls)', async (t) => {
  const dir = sharedData(t, 'coil');
  if (!dir) return;
  await initTensorRuntime();
  const photos = loadCoilPhotos(dir, 'coil20', '90');
  const keep = Array.from(photos.catalogItem.keys()).filter((i) => photos.catalogItem[i] < 4);
  const side = 2 * BACKBONE.size;
  const set = { side, pixels: keep.map((i) => readImagePixels(photos.catalogPaths[i], side)), item: Int32Array.from(keep, (i) => photos.catalogItem[i]), gray: true };
  const pool = new BackbonePool();
  const out = tempDir(t);
  const run = (steps: number) => trainEncoder(spec({ ...ADAPTER_DEFAULTS, dim: 16 }), { photos: set, steps, batchSize: 8, lr: 3e-3, seed: 1, outDir: join(out, String(steps)), pool, log: () => {} });
  const first = await run(2);
  const trained = await run(60);
  try {
    assert.equal(trained.steps, 60);
    assert.ok(trained.loss < 0.6 * first.loss, `loss per image ${first.loss} after 2 steps -> ${trained.loss} after 60`);
    const z = trained.encoder.embed(keep.slice(0, 2).map((i) => readImagePixels(photos.catalogPaths[i], BACKBONE.size)));
    assert.equal(z.length, 32);
    assert.ok(Math.abs(Math.hypot(...z.subarray(0, 16)) - 1) < 1e-4);
  } finally {
    first.encoder.dispose();
    trained.encoder.dispose();
    await pool.dispose();
  }
});

test('photo search with the backbone finds the item of a held-out COIL view', async (t) => {
  const dir = sharedData(t, 'coil');
  if (!dir) return;
  const tf = await initTensorRuntime();
  const all = coilCatalog(loadCoilPhotos(dir, 'coil20', '90'));
  const keep = Array.from(all.photoItem.keys()).filter((i) => all.photoItem[i] < 4);
  const catalog = { ...all, itemIds: all.itemIds.slice(0, 4), titles: all.titles.slice(0, 4), photoPaths: keep.map((i) => all.photoPaths[i]), photoItem: Int32Array.from(keep, (i) => all.photoItem[i]) };
  const outDir = tempDir(t);
  const built = await buildPhotoModel(tf, catalog, {
    encoder: spec({ ...ADAPTER_DEFAULTS, dim: 16 }),
    encoderSteps: 40,
    encoderBatch: 8,
    encoderLr: 3e-3,
    seed: 1,
    vrqLevels: [2, 2],
    generative: { ...PHOTO_RECIPE_DEFAULTS, alignSteps: 30, searchSteps: 60, batchSize: 16, lr: 5e-3 },
    viewsPerPhoto: 3,
    outDir,
    log: () => {},
  });
  built.encoder.encoder.dispose();
  const model = await openPhotoSearch(outDir);
  try {
    assert.equal(model.encoder.spec.kind, 'mobilenet');
    // Object 0 at 10° and object 3 at 110° (68 query views per object: 5°, 10°, ... without 0°, 90°, ...), never trained on.
    const queries = loadCoilPhotos(dir, 'coil20', '90');
    for (const q of [1, 3 * 68 + 20]) {
      const item = queries.queryItem[q];
      assert.ok(item < 4);
      const bytes = readFileSync(queries.queryPaths[q]);
      for (const method of ['nearest', 'generative'] as const) {
        const answer = await searchPhoto(model, bytes, { k: 2, method });
        assert.equal(answer.items[0].id, catalog.itemIds[item], `${method} on ${queries.queryPaths[q]}`);
      }
    }
  } finally {
    model.dispose();
  }
});
