import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { GensearchError } from '../src/errors.js';
import { importCoil } from '../src/import/coil.js';
import { decodeImage, squarePixels } from '../src/import/image.js';
import { importImageCatalog, itemImages } from '../src/import/images.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { catalogFromStore } from '../src/tasks/photo-model.js';
import { sharedData, tempDir } from './helpers.js';

/** A w x h RGBA image whose pixel (x, y) is (10x, 20y, 100, 255). */
function gradient(w: number, h: number): Buffer {
  const data = Buffer.alloc(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) data.set([10 * x, 20 * y, 100, 255], (y * w + x) * 4);
  }
  return data;
}

function pngBytes(w: number, h: number): Buffer {
  const png = new PNG({ width: w, height: h });
  gradient(w, h).copy(png.data);
  return PNG.sync.write(png);
}

test('PNG and JPEG decode to RGB with their sizes; squarePixels area-averages to [0, 1]', () => {
  const png = decodeImage(pngBytes(4, 4), 'a.png');
  assert.deepEqual([png.width, png.height, png.gray], [4, 4, false]);
  assert.deepEqual(Array.from(png.rgb.subarray(3 * 5, 3 * 5 + 3)), [10, 20, 100]); // pixel (1, 1)
  const small = squarePixels(png, 2);
  // Output (0, 0) averages x, y in {0, 1}: red (0 + 10) / 2, green (0 + 20) / 2.
  assert.ok(Math.abs(small[0] - 5 / 255) < 1e-6 && Math.abs(small[1] - 10 / 255) < 1e-6 && Math.abs(small[2] - 100 / 255) < 1e-6);

  const jpg = jpeg.encode({ width: 8, height: 6, data: gradient(8, 6) }, 95).data;
  const img = decodeImage(jpg, 'a.jpg');
  assert.deepEqual([img.width, img.height], [8, 6]);
  // Lossy, but close: blue stays near 100 everywhere.
  assert.ok(Math.abs(img.rgb[2] - 100) < 12, `blue ${img.rgb[2]}`);
  assert.equal(squarePixels(img, 6).length, 6 * 6 * 3);
});

test('non-images, damaged files and WebP are clear BAD_INPUT errors', () => {
  const bad = (bytes: Uint8Array, pattern: RegExp) =>
    assert.throws(() => decodeImage(bytes, 'upload'), (e: unknown) => e instanceof GensearchError && e.code === 'BAD_INPUT' && pattern.test(e.message));
  bad(Buffer.from('hello, not a picture'), /upload is not an image: expected a PNG or JPEG/);
  bad(new Uint8Array(0), /not an image/);
  bad(pngBytes(4, 4).subarray(0, 40), /PNG data is damaged/);
  bad(Buffer.concat([Buffer.from('RIFF'), Buffer.alloc(4), Buffer.from('WEBPVP8 ')]), /WebP image; only PNG and JPEG/);
});

test('a photo folder becomes one item per file or per sub-folder; a non-image photo stops the import', (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'mug.png'), pngBytes(4, 4));
  mkdirSync(join(dir, 'lamp'));
  writeFileSync(join(dir, 'lamp', 'front.png'), pngBytes(4, 4));
  writeFileSync(join(dir, 'lamp', 'side.jpg'), jpeg.encode({ width: 4, height: 4, data: gradient(4, 4) }, 90).data);
  writeFileSync(join(dir, 'notes.txt'), 'ignored');
  const store = new SqliteStore(':memory:');
  const result = importImageCatalog(store, dir, { dataset: 'shop' });
  assert.equal(result.items, 2);
  assert.deepEqual(itemImages(store.getItem('shop', 'lamp')!).map((p) => p.slice(dir.length)), ['/lamp/front.png', '/lamp/side.jpg']);
  // Photo-model training reads the catalog back: every photo with its item.
  const catalog = catalogFromStore(store, 'shop');
  assert.deepEqual(catalog.itemIds, ['lamp', 'mug']);
  assert.deepEqual(Array.from(catalog.photoItem), [0, 0, 1]);
  assert.equal(catalog.gray, false);
  assert.throws(() => catalogFromStore(store, 'nothing'), /0 items with photos; a photo model needs at least 2/);
  writeFileSync(join(dir, 'broken.png'), 'not really a png');
  assert.throws(() => importImageCatalog(store, dir, { dataset: 'shop2' }), /broken\.png: not a PNG or JPEG image/);
  assert.equal(store.dataset('shop2'), undefined);
});

test('COIL imports one item per object with the catalog views of the protocol', (t) => {
  const dir = sharedData(t, 'coil');
  if (!dir) return;
  const store = new SqliteStore(':memory:');
  assert.equal(importCoil(store, dir, { set: 'coil20' }).items, 20);
  const obj3 = store.getItem('coil20', 'obj3')!;
  assert.equal(obj3.title, 'COIL-20 object 3');
  assert.deepEqual(JSON.parse(obj3.attributes.angles as string), [0, 30, 60, 90, 120, 150, 180, 210, 240, 270, 300, 330]);
  assert.match(itemImages(obj3)[1], /coil20\/obj3__6\.png$/); // view index 6 = 30 degrees
  assert.equal(importCoil(store, dir, { set: 'coil100', catalog: '90' }).items, 17);
  const onion = store.getItem('coil100', 'obj2')!;
  assert.equal(onion.title, 'onion');
  assert.deepEqual(JSON.parse(onion.attributes.angles as string), [0, 90, 180, 270]);
  importCoil(store, dir, { set: 'coil100', catalog: 'one', dataset: 'one', replace: true });
  assert.equal(store.items('one').every((it) => itemImages(it).length === 1), true);
});
