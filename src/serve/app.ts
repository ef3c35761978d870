import { existsSync } from 'node:fs';
import fastifyMultipart from '@fastify/multipart';
import fastifyStatic from '@fastify/static';
import fastifySwagger from '@fastify/swagger';
import type { Multipart } from '@fastify/multipart';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { z } from 'zod';
import { badInput, GensearchError } from '../errors.js';
import { searchPhoto } from '../decode/photo-search.js';
import type { RankedList } from '../eval/types.js';
import { tokenName } from '../sids/layout.js';
import { DecodeBatcher } from './batcher.js';
import type { ModelSlot, ServingModel, SwapSlot } from './model-slot.js';
import { type ServeMetrics, serveMetrics } from './metrics.js';
import { photoSlot, type ServingPhoto } from './photo.js';
import {
  ErrorOut,
  EventBody,
  EventOut,
  IdParams,
  ItemOut,
  ModelOut,
  PhotoFields,
  PhotoModelOut,
  PhotoRankOut,
  PhotoUpload,
  RankOut,
  RecommendBody,
  ReloadBody,
  SearchBody,
  UserOut,
  UserQuery,
  UsersQuery,
} from './schemas.js';
import type { Shop } from './shop.js';

export interface AppOptions {
  shop: Shop;
  slot: ModelSlot;
  /** Loads a model by name, fully, for `POST /v1/admin/reload`. */
  loadModel: (name: string) => Promise<ServingModel>;
  /** Fastify's logger (pino): false in tests, `{ level: 'info' }` when serving. */
  logger?: FastifyServerOptions['logger'];
  /** Built web page (Vite output); not served when absent. */
  webDir?: string | null;
  /** Largest request body in bytes (default 256 KiB). */
  bodyLimit?: number;
  /** The served photo model (null: none yet; `POST /v1/admin/reload-photo` can load one). */
  photoSlot?: SwapSlot<ServingPhoto> | null;
  /** Loads a photo model of the photo dataset by name, fully, for `POST /v1/admin/reload-photo`. */
  loadPhoto?: (name: string) => Promise<ServingPhoto>;
  /** Largest uploaded photo in bytes (default 5 MiB). */
  photoLimit?: number;
  /** Most generative requests decoded in one batch (default 16; 1 = one at a time). */
  maxBatch?: number;
  /** How long an idle decoder waits for more requests to batch, ms (default 2). */
  batchWaitMs?: number;
}

type Task = 'search' | 'recommend';

const STATUS: Record<GensearchError['code'], number> = { BAD_INPUT: 400, NOT_FOUND: 404, CONFLICT: 409, MISSING_DATA: 404, INTERNAL: 500 };

/** The HTTP API over one shop and one swappable model: routes, validation, errors, metrics, docs, page. */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { shop, slot } = options;
  const metrics = serveMetrics();
  const batcher = new DecodeBatcher(options.maxBatch ?? 16, options.batchWaitMs ?? 2, (size) => metrics.batchSize.observe(size));
  const app = Fastify({ logger: options.logger ?? false, bodyLimit: options.bodyLimit ?? 256 * 1024 });

  // Requests are checked with the zod schemas themselves; replies are plain JSON.
  app.setValidatorCompiler(({ schema }) => (data) => {
    const result = (schema as z.ZodType).safeParse(data);
    return result.success ? { value: result.data } : { error: new Error(zodMessage(result.error)) };
  });
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  app.setErrorHandler((error: FastifyError | GensearchError, request, reply) => {
    let status: number;
    let message = error.message;
    if (error instanceof GensearchError) status = STATUS[error.code];
    else if (error.validationContext) {
      status = 400;
      message = `${error.validationContext}: ${error.message}`;
    } else status = error.statusCode && error.statusCode >= 400 ? error.statusCode : 500;
    if (error instanceof Error && 'code' in error && error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      message = `content type ${request.headers['content-type'] ?? 'none'} is not accepted: send JSON, or to /v1/search/image multipart/form-data with a file field "image"`;
    }
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
      message = error instanceof GensearchError ? message : 'internal error (logged on the server)';
    }
    void reply.status(status).send({ statusCode: status, error: reasonPhrase(status), message });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url}; see GET /openapi.json` });
  });
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requests.inc({ method: request.method, route, status: reply.statusCode });
    metrics.requestSeconds.observe({ method: request.method, route }, reply.elapsedTime / 1000);
  });

  await app.register(fastifySwagger, {
    openapi: {
      info: { title: 'gensearch', version: '1', description: 'Generative e-commerce search: the model writes the semantic IDs of the items to show.' },
    },
    transform: ({ schema, url }) => ({ schema: jsonSchemas(schema as Record<string, unknown> | undefined), url }),
  });
  const photoLimit = options.photoLimit ?? 5 * 1024 * 1024;
  // Only the photo route reads multipart; its own limits bound the whole upload.
  await app.register(fastifyMultipart, { limits: { fileSize: photoLimit, files: 1, fields: 10, fieldSize: 1024, parts: 11 } });
  let photos = options.photoSlot ?? null;
  app.addHook('onClose', async () => photos?.close());
  if (options.webDir && existsSync(options.webDir)) await app.register(fastifyStatic, { root: options.webDir, prefix: '/' });
  showModel(metrics, slot.serving);

  const errors = { 400: ErrorOut, 404: ErrorOut };
  app.post('/v1/search', { schema: { summary: 'Search: ranked items for a query, personalised by a user or a history', body: SearchBody, response: { 200: RankOut, ...errors } } }, async (request) => {
    const body = request.body as SearchBody;
    return rank({ shop, slot, metrics, batcher }, 'search', body, body.query);
  });
  app.post('/v1/recommend', { schema: { summary: 'Recommendation: the next items for a user or a history', body: RecommendBody, response: { 200: RankOut, ...errors } } }, async (request) => {
    const body = request.body as RecommendBody;
    return rank({ shop, slot, metrics, batcher }, 'recommend', body, null);
  });
  const photoErrors = { 400: ErrorOut, 404: ErrorOut, 409: ErrorOut, 413: ErrorOut, 415: ErrorOut };
  app.post(
    '/v1/search/image',
    { schema: { summary: 'Photo search: ranked items for an uploaded photo (multipart/form-data, file field "image")', consumes: ['multipart/form-data'], multipart: PhotoUpload, response: { 200: PhotoRankOut, ...photoErrors } } },
    async (request) => {
      if (!request.isMultipart()) throw new HttpError(415, `send the photo as multipart/form-data with a file field "image" (got content type ${request.headers['content-type'] ?? 'none'})`);
      const upload = await readUpload(request.parts(), photoLimit);
      const parsed = PhotoFields.safeParse(upload.fields);
      if (!parsed.success) throw badInput(zodMessage(parsed.error));
      const fields = parsed.data;
      const live = photos;
      if (!live) throw new GensearchError('CONFLICT', `no photo model is served: train one (gensearch train-image --dataset <photo dataset>) and start the server with --photo-dataset / --photo-model, or load it with POST /v1/admin/reload-photo`);
      return live.use(async (photo) => {
        const history = fields.userId === undefined ? undefined : photoHistory(shop, photo, fields.userId);
        const result = await searchPhoto(photo.search, upload.image, { k: fields.k, method: fields.method, beam: fields.beam, pruneMargin: fields.prune, history });
        metrics.rankSeconds.observe({ system: `photo-${result.method}`, task: 'image' }, result.seconds);
        return {
          method: result.method,
          userId: fields.userId ?? null,
          historyLength: history?.length ?? 0,
          model: photoModelOut(photo),
          latencyMs: result.seconds * 1000,
          items: result.items.map(({ id, title, sid, score }) => ({ id, title, sid, score })),
        };
      });
    },
  );
  app.post('/v1/admin/reload-photo', { schema: { summary: 'Load a photo model of the photo dataset fully, then swap it in atomically', body: ReloadBody } }, async (request) => {
    const load = options.loadPhoto;
    if (!load) throw new GensearchError('CONFLICT', 'this server was started without a photo dataset to load photo models from');
    const body = (request.body ?? {}) as ReloadBody;
    const previous = photos ? photoModelOut(photos.value) : null;
    const name = body.name ?? previous?.name ?? 'default';
    let serving: ServingPhoto;
    if (photos) serving = await photos.swap(() => load(name));
    else {
      const loaded = (serving = await load(name));
      // Another reload may have made the slot while this one loaded: swap into it then.
      const made = photos as SwapSlot<ServingPhoto> | null;
      if (made) await made.swap(async () => loaded);
      else photos = photoSlot(loaded);
    }
    request.log.info({ previous: previous?.version ?? null, model: serving.version, name }, 'photo model swapped');
    return { model: photoModelOut(serving), previous };
  });
  app.get('/v1/items/:id', { schema: { summary: 'One catalog item with its semantic ID', params: IdParams, response: { 200: ItemOut, 404: ErrorOut } } }, async (request) => {
    const { id } = request.params as z.infer<typeof IdParams>;
    return itemOut(slot.serving, shop, shop.indexOf(id));
  });
  app.get('/v1/users', { schema: { summary: 'Users with the longest histories (for choosers and demos)', querystring: UsersQuery } }, async (request) => {
    const q = request.query as z.infer<typeof UsersQuery>;
    return { users: shop.sampleUsers(q.limit, q.minHistory), total: shop.userCount };
  });
  app.get('/v1/users/:id', { schema: { summary: "A user's recent behaviour, newest first", params: IdParams, querystring: UserQuery, response: { 200: UserOut, 404: ErrorOut } } }, async (request) => {
    const { id } = request.params as z.infer<typeof IdParams>;
    const { limit } = request.query as z.infer<typeof UserQuery>;
    const serving = slot.serving;
    const recent = shop.recentEvents(id, limit).map((e) => ({ item: itemOut(serving, shop, shop.indexOf(e.itemId)), type: e.type, query: e.query, ts: e.ts }));
    return { id, historyLength: shop.history(id).length, recent };
  });
  app.post('/v1/events', { schema: { summary: "Append a behaviour event: the user's next requests see it", body: EventBody, response: { 200: EventOut, 201: EventOut, ...errors } } }, async (request, reply) => {
    const body = request.body as EventBody;
    const result = shop.appendEvent(body);
    return reply.status(result.added ? 201 : 200).send({ ...result, userId: body.userId });
  });
  app.post('/v1/admin/reload', { schema: { summary: 'Load a model fully, then swap it in atomically (in-flight requests finish on the old one)', body: ReloadBody } }, async (request) => {
    const body = (request.body ?? {}) as ReloadBody;
    const previous = modelOut(slot.serving);
    const serving = await slot.swap(() => options.loadModel(body.name ?? previous.name));
    metrics.swaps.inc();
    showModel(metrics, serving);
    request.log.info({ previous: previous.version, model: serving.version, name: serving.name }, 'model swapped');
    return { model: modelOut(serving), previous, swaps: slot.swaps };
  });
  app.get('/healthz', { schema: { summary: 'Liveness and what is served' } }, async () => ({
    status: 'ok',
    dataset: shop.dataset,
    items: shop.items.length,
    users: shop.userCount,
    baselines: shop.baselines,
    model: modelOut(slot.serving),
    photo: photos ? photoModelOut(photos.value) : null,
  }));
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    const text = await metrics.registry.metrics();
    return reply.type(metrics.registry.contentType).send(text);
  });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}

/** One ranking request: history from the body or the user, then the model or a baseline. */
interface Ranking {
  shop: Shop;
  slot: ModelSlot;
  metrics: ServeMetrics;
  batcher: DecodeBatcher;
}

async function rank({ shop, slot, metrics, batcher }: Ranking, task: Task, body: RecommendBody, query: string | null): Promise<z.infer<typeof RankOut>> {
  const start = performance.now();
  const stored = body.userId !== undefined ? shop.history(body.userId) : null; // an unknown user is a 404 even with a history
  const history = body.history ? shop.itemIndices(body.history) : (stored ?? new Int32Array(0));
  return slot.use(async (serving) => {
    let list: RankedList;
    const exclude = body.excludeHistory ? history : undefined;
    if (body.system === 'generative') {
      const priors = serving.model.cfg.itemHead ? shop.priorsOf(history, query) : undefined;
      list = await batcher.rank(serving, history, query, { k: body.k, beam: body.beam, exclude, priors, itemVectors: shop.itemVectors });
    }
    else list = await shop.rankBaseline(body.system, history, query, body.k, exclude);
    const seconds = (performance.now() - start) / 1000;
    metrics.rankSeconds.observe({ system: body.system, task }, seconds);
    const items = Array.from(list.items.subarray(0, body.k), (item, i) => ({ ...itemOut(serving, shop, item), score: list.scores[i] }));
    return { system: body.system, query, userId: body.userId ?? null, historyLength: history.length, model: modelOut(serving), latencyMs: seconds * 1000, items };
  });
}

function itemOut(serving: ServingModel, shop: Shop, index: number): z.infer<typeof ItemOut> {
  const it = shop.items[index];
  const w = serving.model.cfg.sidSizes.length;
  const tokens = serving.model.pack.itemSids.subarray(index * w, (index + 1) * w);
  return {
    id: it.id,
    title: it.title,
    brand: it.brand,
    category: it.categories[0]?.join(' > ') ?? '',
    price: it.price,
    sid: Array.from(tokens, (t) => tokenName(serving.layout, t)).join(''),
  };
}

function modelOut(s: ServingModel): z.infer<typeof ModelOut> {
  return { name: s.name, version: s.version, sidBuild: s.sidBuild, loadedAt: s.loadedAt };
}

function showModel(metrics: ServeMetrics, s: ServingModel): void {
  metrics.model.reset();
  metrics.model.set({ name: s.name, version: s.version }, 1);
}

/** An HTTP error that is not one of the project's error codes (413, 415). */
class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

interface Upload {
  image: Buffer;
  fields: Record<string, string>;
}

/** The one photo and the text fields of a multipart upload; a photo over the limit is a 413 with the limit in it. */
async function readUpload(parts: AsyncIterableIterator<Multipart>, limit: number): Promise<Upload> {
  let image: Buffer | null = null;
  const fields: Record<string, string> = {};
  try {
    for await (const part of parts) {
      if (part.type === 'file') {
        if (part.fieldname !== 'image') throw badInput(`unexpected file field "${part.fieldname}": send the photo in the file field "image"`);
        image = await part.toBuffer();
      } else fields[part.fieldname] = String(part.value);
    }
  } catch (error) {
    if (error instanceof GensearchError) throw error;
    const { code, statusCode } = error as { code?: string; statusCode?: number };
    if (code === 'FST_REQ_FILE_TOO_LARGE') throw new HttpError(413, `the photo is larger than the upload limit of ${(limit / 1024 / 1024).toFixed(1)} MiB (serve --photo-max-mb)`);
    if (code === 'FST_FILES_LIMIT') throw new HttpError(413, 'one photo per request: the form holds more than one file');
    if (statusCode && statusCode < 500) throw error;
    // The form parser's own errors (a form cut off, a bad boundary) are the client's.
    throw badInput(`the multipart form is damaged: ${(error as Error).message}`);
  }
  if (!image) throw badInput('no photo: send it in a multipart file field "image" (curl -F image=@photo.png)');
  return { image, fields };
}

/** A user's history in the photo model's items; only where the photo catalog is the served one. */
function photoHistory(shop: Shop, photo: ServingPhoto, userId: string): Int32Array {
  if (photo.dataset !== shop.dataset) {
    throw new GensearchError('CONFLICT', `the photo model searches dataset "${photo.dataset}" and the users belong to "${shop.dataset}": leave out userId`);
  }
  const history = Array.from(shop.history(userId), (i) => photo.indexOf.get(shop.items[i].id) ?? -1);
  return Int32Array.from(history.filter((i) => i >= 0));
}

function photoModelOut(p: ServingPhoto): z.infer<typeof PhotoModelOut> {
  return { name: p.name, dataset: p.dataset, version: p.version, loadedAt: p.loadedAt, generative: p.search.generative !== null };
}

/** "body.k: expected int, received string; ..." from a zod error. */
function zodMessage(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.length ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
}

const PHRASES: Record<number, string> = { 400: 'Bad Request', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 415: 'Unsupported Media Type', 500: 'Internal Server Error' };

function reasonPhrase(status: number): string {
  return PHRASES[status] ?? (status < 500 ? 'Client Error' : 'Server Error');
}

/** The route's zod schemas as JSON Schema, for the OpenAPI document. */
function jsonSchemas(schema: Record<string, unknown> | undefined): Record<string, unknown> {
  const toJson = (s: unknown, io: 'input' | 'output') => (s instanceof z.ZodType ? z.toJSONSchema(s, { target: 'openapi-3.0', io, unrepresentable: 'any' }) : s);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema ?? {})) {
    if (key === 'multipart') out.body = toJson(value, 'input');
    else if (key === 'response') {
      out.response = Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([code, s]) => [code, toJson(s, 'output')]));
    } else out[key] = ['body', 'querystring', 'params', 'headers'].includes(key) ? toJson(value, 'input') : value;
  }
  return out;
}
