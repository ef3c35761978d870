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
const excludeHistory = z.boolean().default(false).describe("leave the history's items out of the results (the generative system skips them during the beam search)");

export const SearchBody = z
  .strictObject({ query, userId: id.optional(), history: history.optional(), excludeHistory, k, beam, system })
  .refine((b) => b.beam >= b.k, { message: 'beam must be at least k (the beam bounds how many items come back)', path: ['beam'] });
export type SearchBody = z.infer<typeof SearchBody>;

export const RecommendBody = z
  .strictObject({ userId: id.optional(), history: history.optional(), excludeHistory, k, beam, system })
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

/** The text fields of a photo upload (multipart form fields arrive as strings). */
export const PhotoFields = z
  .strictObject({
    k: z.coerce.number().int().min(1).max(100).default(10).describe('items to return'),
    method: z.enum(['generative', 'nearest']).optional().describe('"generative" (photo -> SIDs by constrained beam search; default where the model has one) or "nearest" (nearest catalog photo)'),
    beam: z.coerce.number().int().min(1).max(512).default(20).describe('beam width (generative); at least k'),
    prune: z.coerce.number().min(0).optional().describe('dynamic pruning margin in nats (generative; default off)'),
    userId: id.optional().describe("a user of the served dataset: their history conditions the generative model (photo dataset = served dataset only)"),
  })
  .refine((b) => b.method === 'nearest' || b.beam >= b.k, { message: 'beam must be at least k (the beam bounds how many items come back)', path: ['beam'] });
export type PhotoFields = z.infer<typeof PhotoFields>;

/** The multipart form of `POST /v1/search/image`, for the OpenAPI document (the route parses the stream itself). */
export const PhotoUpload = z.object({
  image: z.string().meta({ format: 'binary' }).describe('the photo: PNG or JPEG'),
  k: z.string().optional().describe('items to return (default 10)'),
  method: z.string().optional().describe('"generative" or "nearest"'),
  beam: z.string().optional().describe('beam width (default 20)'),
  prune: z.string().optional().describe('dynamic pruning margin in nats'),
  userId: z.string().optional().describe('a user of the served dataset'),
});

export const PhotoModelOut = z.object({ name: z.string(), dataset: z.string(), version: z.string(), loadedAt: z.string(), generative: z.boolean() });

export const PhotoRankOut = z.object({
  method: z.enum(['generative', 'nearest']),
  userId: z.string().nullable(),
  historyLength: z.int(),
  model: PhotoModelOut,
  latencyMs: z.number().describe('decode, resize, embed and search of the photo'),
  items: z.array(
    z.object({
      id: z.string(),
      title: z.string().nullable(),
      sid: z.string().describe("the item's VRQ semantic ID, e.g. <a_1><b_3><c_0>"),
      score: z.number().describe('log-probability of the SID (generative) or cosine similarity (nearest)'),
    }),
  ),
});
export type PhotoRankResponse = z.infer<typeof PhotoRankOut>;
