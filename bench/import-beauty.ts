// Import speed on Amazon Beauty: `npm run bench:import`. The full import (read, validate,
// decode, write in one transaction) against the floor of writing the same records with no
// parsing at all, both into a fresh SQLite file in this run.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importAmazonBeauty, readS3Rec, s3recEvents } from '../src/import/amazon-beauty.js';
import { sharedDataDir } from '../src/paths.js';
import { SqliteStore } from '../src/store/sqlite.js';

process.env.GENSEARCH_QUIET = '1';
const source = join(sharedDataDir(), 'amazon-beauty');
if (!existsSync(source)) {
  console.error(`${source} is missing: set GENSEARCH_SHARED_DATA`);
  process.exit(66);
}
const work = mkdtempSync(join(tmpdir(), 'gensearch-bench-'));
const seconds = (fn: () => void): number => {
  const t = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - t) / 1e9;
};
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

const runs = 3;
const full: number[] = [];
const again: number[] = [];
const floor: number[] = [];
const data = readS3Rec(source);
const items = data.items.map((it) => it.record);
const users = data.sequences.map((s) => ({ id: s.userId, profile: {} }));
const events = s3recEvents(data.sequences);
for (let r = 0; r < runs; r++) {
  const store = new SqliteStore(join(work, `full-${r}.sqlite`));
  full.push(seconds(() => importAmazonBeauty(store, source)));
  again.push(seconds(() => importAmazonBeauty(store, source)));
  store.close();
  const raw = new SqliteStore(join(work, `floor-${r}.sqlite`));
  floor.push(
    seconds(() =>
      raw.write((tx) => {
        tx.ensureDataset('beauty', 'bench');
        tx.putItems('beauty', items);
        tx.putUsers('beauty', users);
        tx.putEvents('beauty', events);
      }),
    ),
  );
  raw.close();
}
rmSync(work, { recursive: true, force: true });
const f = median(full);
const w = median(floor);
console.log(`Amazon Beauty: ${items.length} items, ${users.length} users, ${events.length} events; median of ${runs} runs`);
console.log(`  full import (read + validate + write):  ${f.toFixed(2)} s`);
console.log(`  re-import (all events already stored):  ${median(again).toFixed(2)} s`);
console.log(`  floor (write pre-built records only):   ${w.toFixed(2)} s`);
console.log(`  full / floor = ${(f / w).toFixed(2)}x  (reading and validating costs ${(((f - w) / f) * 100).toFixed(0)}% of the import)`);
