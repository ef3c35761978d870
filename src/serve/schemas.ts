import { z } from 'zod';
import { EVENT_TYPES } from '../store/types.js';

/**
 * Request and response shapes of the HTTP API, as zod schemas: the server validates requests
 * with them and the OpenAPI document is generated from them, so the two never disagree.
 */

const id = z.string().min(1).max(200);
const query = z.string().trim().min(1, 'query must not be empty').max(500);
const k = z.int().min(1).max(100).default(10).describe('items to return');
const beam = z.int().min(1).max(512).default(20).describe('beam width of the constrained beam search (generative system); at least k');
const system = z.string().default('generative').describe('"generative" or a baseline: popular, itemcf, swing, bm25, bm25-personal, cascade-norank (search; where the aligned embeddings exist)');
const history = z.array(id).max(1000).describe("item ids, oldest first; replaces the stored user's history");

export const SearchBody = z
  .strictObject({ query, userId: id.optional(), history: history.optional(), k, beam, system })
  .refine((b) => b.beam >= b.k, { message: 'beam must be at least k (the beam bounds how many items come back)', path: ['beam'] });
export type SearchBody = z.infer<typeof SearchBody>;

export const RecommendBody = z
  .strictObject({ userId: id.optional(), history: history.optional(), k, beam, system })
  .refine((b) => b.userId !== undefined || b.history !== undefined, { message: 'give userId or history', path: ['userId'] })
  .refine((b) => b.beam >= b.k, { message: 'beam must be at least k (the beam bounds how many items come back)', path: ['beam'] });
export type RecommendBody = z.infer<typeof RecommendBody>;

export const EventBody = z.strictObject({
  userId: id,
  itemId: id,
  type: z.enum(EVENT_TYPES),
  query: z.string().trim().max(500).nullable().default(null),
  sessionId: id.nullable().default(null),
  eventId: id.optional().describe('idempotency key: an event whose key is stored already is not added again'),
});
export type EventBody = z.infer<typeof EventBody>;

export const EventOut = z.object({
  userId: z.string(),
  added: z.boolean().describe('false when an event with this eventId was stored already'),
  historyLength: z.int().describe("the user's positive history after the event"),
});

export const ReloadBody = z.strictObject({ name: id.optional().describe('model to load (default: the one served)') }).default({});
export type ReloadBody = z.infer<typeof ReloadBody>;

export const IdParams = z.strictObject({ id });
export const UsersQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(20),
  minHistory: z.coerce.number().int().min(0).default(5),
});
export const UserQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(200).default(20) });

export const ItemOut = z.object({
  id: z.string(),
  title: z.string().nullable(),
  brand: z.string().nullable(),
  category: z.string(),
  price: z.number().nullable(),
  sid: z.string().describe('semantic ID in the paper spelling, e.g. <a_3><b_17><c_5><d_9><d_70>'),
});
export const RankedItemOut = ItemOut.extend({ score: z.number() });

export const ModelOut = z.object({ name: z.string(), version: z.string(), sidBuild: z.string(), loadedAt: z.string() });

export const RankOut = z.object({
  system: z.string(),
  query: z.string().nullable(),
  userId: z.string().nullable(),
  historyLength: z.int(),
  model: ModelOut.describe('the model whose SID table (and, for "generative", weights) made this answer'),
  latencyMs: z.number(),
  items: z.array(RankedItemOut),
});

export const UserOut = z.object({
  id: z.string(),
  historyLength: z.int(),
  recent: z.array(
    z.object({ item: ItemOut, type: z.enum(EVENT_TYPES), query: z.string().nullable(), ts: z.number() }),
  ),
});

export const ErrorOut = z.object({ statusCode: z.int(), error: z.string(), message: z.string() });

export type RankResponse = z.infer<typeof RankOut>;
export type UserResponse = z.infer<typeof UserOut>;
export type ModelResponse = z.infer<typeof ModelOut>;
