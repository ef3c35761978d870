import { join } from 'node:path';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { GensearchError } from '../errors.js';
import { repoRoot } from '../paths.js';
import { SqliteStore } from '../store/sqlite.js';
import { initTensorRuntime } from '../tensor/runtime.js';
import { buildApp } from './app.js';
import { loadServingModel, ModelSlot } from './model-slot.js';
import { loadServingPhoto, openPhotoSlot, type PhotoModelChoice, type ServingPhoto } from './photo.js';
import { type ServedBaseline, Shop } from './shop.js';

export interface ServeOptions {
  home: string;
  dataset: string;
  /** Model name (`gensearch train --name`). */
  name: string;
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  logger?: FastifyServerOptions['logger'];
  baselines?: readonly ServedBaseline[];
  /** Built web page; default dist/web of the checkout. */
  webDir?: string | null;
  /** Most generative requests decoded in one batch (default 16; 1 = one at a time). */
  maxBatch?: number;
  /**
   * Photo model to serve (`gensearch train-image`); default: model "default" of the served
   * dataset when it exists (photo search answers 409 without one). Named here, it must exist.
   */
  photo?: { dataset?: string; name?: string };
  /** Largest uploaded photo in bytes (default 5 MiB). */
  photoLimit?: number;
}

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  shop: Shop;
  slot: ModelSlot;
  /** The photo model served at start (null: none). */
  photo: ServingPhoto | null;
  close(): Promise<void>;
}

/** Where `npm run build` puts the web page (Vite). */
export function webDir(): string {
  return join(repoRoot(), 'dist', 'web');
}

/** Opens the store, loads the model and the shop, and listens (127.0.0.1 unless told otherwise). */
export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const tf = await initTensorRuntime();
  const store = new SqliteStore(join(options.home, 'store.sqlite'));
  try {
    const load = (name: string) => loadServingModel(tf, options.home, options.dataset, name);
    const slot = new ModelSlot(await load(options.name));
    const photoChoice: PhotoModelChoice = {
      dataset: options.photo?.dataset ?? options.dataset,
      name: options.photo?.name ?? 'default',
      required: options.photo?.dataset !== undefined || options.photo?.name !== undefined,
    };
    const photoSlot = await openPhotoSlot(options.home, photoChoice).catch(async (error: unknown) => {
        await slot.close();
        throw error;
      });
    const shop = await Shop.open(store, options.dataset, { baselines: options.baselines, home: options.home });
    if (slot.serving.model.cfg.nItems !== shop.items.length) {
      await slot.close();
      await photoSlot?.close();
      throw new GensearchError('CONFLICT', `model "${options.name}" was trained on ${slot.serving.model.cfg.nItems} items; dataset "${options.dataset}" has ${shop.items.length}: train it again`);
    }
    const app = await buildApp({
      shop,
      slot,
      loadModel: load,
      photoSlot,
      loadPhoto: (name) => loadServingPhoto(options.home, photoChoice.dataset, name),
      photoLimit: options.photoLimit,
      logger: options.logger,
      maxBatch: options.maxBatch,
      webDir: options.webDir === undefined ? webDir() : options.webDir,
    });
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? 8080;
    const address = await app.listen({ host, port }).catch(async (error: NodeJS.ErrnoException) => {
      await app.close();
      await slot.close();
      if (error.code === 'EADDRINUSE') throw new GensearchError('CONFLICT', `port ${port} on ${host} is in use: pass another --port (0 picks a free one)`);
      throw error;
    });
    return {
      app,
      url: address,
      shop,
      slot,
      photo: photoSlot?.value ?? null,
      async close() {
        await app.close();
        await slot.close();
        store.close();
      },
    };
  } catch (error) {
    store.close();
    throw error;
  }
}
