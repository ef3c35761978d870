/**
 * Cuts the bundled demo data set (data/demo) out of Amazon Beauty, deterministically, in the
 * same S3Rec format: the most-interacted items, the sequences restricted to them, users with
 * enough left, ids renumbered densely by first appearance as S3Rec numbers them.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GensearchError } from '../errors.js';
import { readS3Rec, type S3RecData } from './amazon-beauty.js';

export interface DemoSliceOptions {
  /** How many of the most-interacted items to keep before users are filtered (default 2000). */
  items?: number;
  /** Users with fewer interactions left are dropped (default 5, as in 5-core Beauty). */
  minInteractions?: number;
}

export interface DemoSlice {
  /** File name -> content, every file of the slice except its README. */
  files: Record<string, string>;
  items: number;
  users: number;
  interactions: number;
}

export function sliceS3Rec(data: S3RecData, options: DemoSliceOptions = {}): DemoSlice {
  const keep = options.items ?? 2000;
  const minInteractions = options.minInteractions ?? 5;
  const counts = new Map<string, number>();
  for (const s of data.sequences) for (const id of s.itemIds) counts.set(id, (counts.get(id) ?? 0) + 1);
  const top = new Set(
    [...counts.keys()].sort((a, b) => counts.get(b)! - counts.get(a)! || Number(a) - Number(b)).slice(0, keep),
  );
  const newItemId = new Map<string, number>();
  const lines: string[] = [];
  for (const s of data.sequences) {
    const kept = s.itemIds.filter((id) => top.has(id));
    if (kept.length < minInteractions) continue;
    for (const id of kept) if (!newItemId.has(id)) newItemId.set(id, newItemId.size + 1);
    const user = lines.length + 1;
    lines.push([user, ...kept.map((id) => newItemId.get(id)!)].join(' '));
  }
  const raw = new Map(data.items.map((it) => [it.record.id, it.raw]));
  const itemLines: string[] = [];
  const itemMap: string[] = ['demo_item_id\tbeauty_item_id'];
  for (const [old, id] of newItemId) {
    // Rewrite only the id, so every other byte of the row stays as the source has it.
    const prefix = `{"item_id": ${old},`;
    const line = raw.get(old)!;
    if (!line.startsWith(prefix)) {
      throw new GensearchError('BAD_INPUT', `item ${old}: expected its row to start with ${prefix}; got ${line.slice(0, 40)}`);
    }
    itemLines.push(`{"item_id": ${id},${line.slice(prefix.length)}`);
    itemMap.push(`${id}\t${old}`);
  }
  const text = (rows: string[]) => rows.join('\n') + '\n';
  return {
    files: {
      'items.jsonl': text(itemLines),
      'sequences.txt': text(lines),
      'item_id_map.tsv': text(itemMap),
    },
    items: newItemId.size,
    users: lines.length,
    interactions: lines.reduce((n, l) => n + l.split(' ').length - 1, 0),
  };
}

export const DEMO_COMMAND = 'npm run demo-data';

function readme(slice: DemoSlice, options: Required<DemoSliceOptions>): string {
  const n = (x: number) => x.toLocaleString('en-US');
  return `# gensearch demo data: a slice of Amazon Beauty

A small, deterministic slice of the Amazon Beauty benchmark (S3Rec/TIGER version) so the
quickstart runs with nothing else. Same format as the source: \`items.jsonl\` and
\`sequences.txt\` (see "Files" below), importable with \`gensearch import demo\`.

**${n(slice.items)} items, ${n(slice.users)} users, ${n(slice.interactions)} interactions.**

## How it was made
\`\`\`sh
${DEMO_COMMAND}    # = npm run build && node dist/scripts/make-demo-data.js
\`\`\`
from \`../shared/data/amazon-beauty\` (or \`$GENSEARCH_SHARED_DATA/amazon-beauty\`), by
\`sliceS3Rec\` in \`src/import/demo-slice.ts\`:
1. keep the ${n(options.items)} items with the most interactions (ties: smaller item id first);
2. restrict every user's sequence to those items, order kept;
3. keep users with at least ${options.minInteractions} interactions left;
4. renumber users 1..U in file order and items 1..N by first appearance, reading users in
   order (as S3Rec numbers them). Items of step 1 that no kept user has are left out.

Each item row is the source row byte for byte except its \`item_id\`; \`item_id_map.tsv\` gives
the source item ids. Running the command again gives identical files.

## Files
- \`sequences.txt\`: one line per user, \`user_id item_id item_id ...\`, oldest first.
- \`items.jsonl\`: one JSON object per item, in id order: \`item_id\`, \`title\` (HTML entities
  kept as in the source; null for some items), \`brand\`, \`categories\` (list of paths),
  \`price\`, \`sales_rank\`, \`sales_type\`.
- \`item_id_map.tsv\`: demo item id -> Amazon Beauty (S3Rec) item id.

## Source, attribution and license status
- Underlying data: Amazon product reviews and metadata collected by J. McAuley (UCSD),
  published for research use. Cite McAuley et al., "Image-based recommendations on styles and
  substitutes", SIGIR 2015, and He & McAuley, "Ups and downs: modeling the visual evolution of
  fashion trends with one-class collaborative filtering", WWW 2016.
- Preprocessing: the 5-core Beauty sequences of S3Rec (Zhou et al., CIKM 2020,
  \`RUCAIBox/CIKM2020-S3Rec\`, \`data/Beauty.txt\`), as used by TIGER (Rajput et al., NeurIPS 2023);
  item metadata joined from \`ngoctuannguyen/PLRec\` (\`data/beauty/item_description.csv\`).
- Neither repository has a license file, and none of the sources states a license for the data
  itself. **Treat this data as research-only.** It is not covered by gensearch's MIT license.
`;
}

/** Reads Beauty from `srcDir`, writes the slice and its README into `outDir`. */
export function writeDemoSlice(srcDir: string, outDir: string, options: DemoSliceOptions = {}): DemoSlice {
  const full = { items: options.items ?? 2000, minInteractions: options.minInteractions ?? 5 };
  const slice = sliceS3Rec(readS3Rec(srcDir), full);
  mkdirSync(outDir, { recursive: true });
  for (const [name, content] of Object.entries(slice.files)) writeFileSync(join(outDir, name), content);
  writeFileSync(join(outDir, 'README.md'), readme(slice, full));
  return slice;
}
