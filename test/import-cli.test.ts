import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { SqliteStore } from '../src/store/sqlite.js';
import { tempDir } from './helpers.js';
import { cli } from './process-fixtures.js';
import { storeCounts, writeS3Rec } from './import-fixtures.js';

function countsIn(home: string): string {
  const store = new SqliteStore(join(home, 'store.sqlite'));
  try {
    return storeCounts(store);
  } finally {
    store.close();
  }
}

test('gensearch import: counts on success, exit 65 with file:line on a malformed row, store untouched', (t) => {
  const home = tempDir(t);
  const dir = tempDir(t);
  writeS3Rec(dir, { items: 30, users: 12 });
  const ok = cli(home, 'import', 'beauty', dir, '--dataset', 'small');
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /imported beauty into dataset "small"/);
  assert.match(ok.stdout, /written: items=30 users=12 events=60 new, 0 already stored/);
  const before = countsIn(home);

  writeS3Rec(dir, { items: 30, users: 12, sequenceLines: { 12: '12 1 2 31' } });
  const bad = cli(home, 'import', 'beauty', dir, '--dataset', 'small', '--replace');
  assert.equal(bad.code, 65);
  assert.match(bad.stderr, /error \[BAD_INPUT\]: .*sequences\.txt:12: item 31 is not in items\.jsonl/);

  const items = join(dir, 'catalog.csv');
  writeFileSync(items, 'id,title\n1,"Brush, large"\n');
  const events = join(dir, 'events.jsonl');
  writeFileSync(events, '{"userId": "1", "itemId": "1", "type": "click"}\n{"userId": "1", "itemId": "1", "type": "clicked"}\n');
  const generic = cli(home, 'import', 'generic', '--items', items, '--events', events);
  assert.equal(generic.code, 65);
  assert.match(generic.stderr, /events\.jsonl:2: field "type"/);
  assert.equal(countsIn(home), before, 'failed imports leave the store as it was');

  const usage = cli(home, 'import', 'generic', dir);
  assert.equal(usage.code, 65);
  assert.match(usage.stderr, /takes --items, --events and --users files, not a path/);
});
