/**
 * The KuaiSearch demo files (../shared/data/kuaisearch-demo): Kuaishou search sessions with
 * Chinese text. items.jsonl is the catalog, users.jsonl the profiles and recall.jsonl the
 * sessions, each turned into impression, click and purchase events of its query.
 *
 * The demo files are samples that do not join: recall.jsonl names about 25k items that
 * items.jsonl lacks. Those become placeholder items (title null, no categories,
 * attributes.placeholder = "not in catalog") so every event keeps its item; the count comes
 * back in `placeholderItems` and a warning. rank.jsonl and relevance.jsonl are not imported.
 */
import { join, resolve } from 'node:path';
import { z } from 'zod';
import type { EventRecord, EventType, ItemRecord, Store, UserRecord } from '../store/types.js';
import {
  cleanText,
  forEachJsonLine,
  type ImportOptions,
  type ImportResult,
  PLACEHOLDER,
  placeholderItem,
  scalarSchema,
  toScalar,
  writeImport,
} from './common.js';

const int = z.number().int();
const itemRow = z.object({
  item_id: int,
  item_title: z.string(),
  brand_id: int,
  brand_name: z.string(),
  seller_id: int,
  seller_name: z.string(),
  category_level1_id: int,
  category_level1_name: z.string(),
  category_level2_id: int,
  category_level2_name: z.string(),
  category_level3_id: int,
  category_level3_name: z.string(),
});
const userRow = z.object({ user_id: int }).catchall(scalarSchema);
const recallRow = z.object({
  user_id: int,
  session_id: int,
  impressed_item_ids: z.array(int),
  clicked_item_ids: z.array(int),
  purchased_item_ids: z.array(int),
  time_index: int,
  query: z.string(),
  split: z.string(),
});

/** A missing category level has id 0 and the name "UNKNOWN". */
const UNKNOWN_LEVEL = 'UNKNOWN';

function toItem(row: z.infer<typeof itemRow>): ItemRecord {
  const names = [row.category_level1_name, row.category_level2_name, row.category_level3_name];
  const known = names.indexOf(UNKNOWN_LEVEL);
  const path = known === -1 ? names : names.slice(0, known);
  return {
    id: String(row.item_id),
    title: cleanText(row.item_title),
    brand: cleanText(row.brand_name),
    categories: path.length ? [path] : [],
    price: null,
    attributes: {
      brand_id: row.brand_id,
      seller_id: row.seller_id,
      seller_name: row.seller_name,
      category_level1_id: row.category_level1_id,
      category_level2_id: row.category_level2_id,
      category_level3_id: row.category_level3_id,
    },
  };
}

/** One session row -> its events; the key names session, time, type and item, so re-imports skip them. */
function sessionEvents(row: z.infer<typeof recallRow>): EventRecord[] {
  const userId = String(row.user_id);
  const sessionId = String(row.session_id);
  const lists: [EventType, number[]][] = [
    ['impression', row.impressed_item_ids],
    ['click', row.clicked_item_ids],
    ['purchase', row.purchased_item_ids],
  ];
  return lists.flatMap(([type, ids]) =>
    ids.map((id) => ({
      userId,
      itemId: String(id),
      type,
      query: cleanText(row.query),
      ts: row.time_index,
      sessionId,
      key: `${userId}:${sessionId}:${row.time_index}:${type}:${id}`,
    })),
  );
}

/** Imports the KuaiSearch demo folder into dataset `kuaisearch` (or `options.dataset`). */
export function importKuaiSearch(store: Store, dir: string, options: ImportOptions = {}): ImportResult {
  const items: ItemRecord[] = [];
  forEachJsonLine(join(dir, 'items.jsonl'), 'KuaiSearch items', itemRow, (row) => items.push(toItem(row)));
  const users: UserRecord[] = [];
  forEachJsonLine(join(dir, 'users.jsonl'), 'KuaiSearch users', userRow, ({ user_id, ...profile }) => {
    users.push({ id: String(user_id), profile: Object.fromEntries(Object.entries(profile).map(([k, v]) => [k, toScalar(v)])) });
  });
  const events: EventRecord[] = [];
  forEachJsonLine(join(dir, 'recall.jsonl'), 'KuaiSearch sessions', recallRow, (row) => events.push(...sessionEvents(row)));

  const catalog = new Set(items.map((it) => it.id));
  const missingItems = [...new Set(events.map((e) => e.itemId))].filter((id) => !catalog.has(id));
  const profiled = new Set(users.map((u) => u.id));
  const bareUsers = [...new Set(events.map((e) => e.userId))].filter((id) => !profiled.has(id));
  const warnings: string[] = [];
  if (missingItems.length) {
    warnings.push(
      `${missingItems.length} item ids in recall.jsonl are not in items.jsonl (the demo files are samples that do not join); ` +
        `they are stored as placeholders with title null and attributes.placeholder = "${PLACEHOLDER}"`,
    );
  }
  if (bareUsers.length) {
    warnings.push(`${bareUsers.length} users in recall.jsonl have no profile in users.jsonl; they get an empty profile`);
  }
  return writeImport(store, options.dataset ?? 'kuaisearch', options.replace ?? false, {
    source: `kuaisearch:${resolve(dir)}`,
    items,
    users,
    events,
    placeholderItems: missingItems.map(placeholderItem),
    implicitUsers: bareUsers,
    warnings,
  });
}
