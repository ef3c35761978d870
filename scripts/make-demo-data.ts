// Regenerates data/demo from the shared Amazon Beauty folder: `npm run demo-data`.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { writeDemoSlice } from '../src/import/demo-slice.js';
import { demoDataDir, sharedDataDir } from '../src/paths.js';

const source = join(sharedDataDir(), 'amazon-beauty');
if (!existsSync(source)) {
  console.error(`${source} is missing: put ../shared beside the checkout or set GENSEARCH_SHARED_DATA`);
  process.exit(66);
}
const slice = writeDemoSlice(source, demoDataDir());
console.log(`wrote ${demoDataDir()}: ${slice.items} items, ${slice.users} users, ${slice.interactions} interactions`);
