import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { queryAssigner } from '../decode/query-sid.js';
import { type GenerativeModel, rankRequest } from '../decode/ranker.js';
import { GensearchError } from '../errors.js';
import { disposeParams } from '../model/params.js';
import type { SidLayout } from '../sids/layout.js';
import { generativeDir, loadGenerative } from '../tasks/train.js';
import type { Tf } from '../tensor/runtime.js';

/** One loaded model, immutable once built: what a request ranks with from start to end. */
export interface ServingModel {
  /** Model name (`gensearch train --name`). */
  name: string;
  /** Content hash of the model folder's bundle and SID table: changes with every training or SID build. */
  version: string;
  dataset: string;
  sidBuild: string;
  layout: SidLayout;
  model: GenerativeModel;
  loadedAt: string;
}

/** Files whose bytes define a model version (the checkpoint is named by the bundle's summary). */
const VERSION_FILES = ['generative.json', 'sid-table.json'];

/** Loads a trained model folder fully (params, tokenizer, trie, query encoder) and warms it up before anyone sees it. */
export async function loadServingModel(tf: Tf, home: string, dataset: string, name: string): Promise<ServingModel> {
  const dir = generativeDir(home, dataset, name);
  if (!existsSync(join(dir, 'generative.json'))) {
    throw new GensearchError('NOT_FOUND', `no generative model "${name}" for dataset "${dataset}" in ${dir}: run \`gensearch train --dataset ${dataset} --name ${name}\` first`);
  }
  const hash = createHash('sha256');
  for (const f of VERSION_FILES) hash.update(readFileSync(join(dir, f)));
  const loaded = loadGenerative(dir);
  if (loaded.dataset !== dataset) throw new GensearchError('CONFLICT', `${dir} holds a model of dataset "${loaded.dataset}", not "${dataset}"`);
  const model = loaded.model;
  model.assignQuery = await queryAssigner(tf, home, dataset, loaded.sids.build);
  // One decode before anyone sees the model: the first real request would otherwise pay for
  // the backend's first calls at these shapes (about a second on the demo model).
  await rankRequest(model, new Int32Array(0), 'warm up', { k: 1, beam: 20 });
  return {
    name,
    version: hash.digest('hex').slice(0, 12),
    dataset,
    sidBuild: loaded.sids.build,
    layout: loaded.sids.layout,
    model,
    loadedAt: new Date().toISOString(),
  };
}

interface Entry<T> {
  value: T;
  /** Requests using this value right now. */
  inFlight: number;
  retired: boolean;
  disposed: boolean;
}

/**
 * A live, swappable value behind one reference (a model and its tensors). A swap loads the
 * new value completely, then replaces the reference in one assignment; a request holds the
 * entry it acquired until it releases it, so it finishes on the value it started with, and a
 * retired value is disposed only when its last request is done.
 */
export class SwapSlot<T> {
  private current: Entry<T>;
  private swapping: Promise<unknown> = Promise.resolve();
  private swapCount = 0;

  /** `check` may refuse a loaded value (throw) before it is swapped in; it is disposed then. */
  constructor(
    initial: T,
    private readonly dispose: (value: T) => void,
    private readonly check: (next: T, current: T) => void = () => {},
  ) {
    this.current = { value: initial, inFlight: 0, retired: false, disposed: false };
  }

  get value(): T {
    return this.current.value;
  }

  /** Values swapped in since start. */
  get swaps(): number {
    return this.swapCount;
  }

  /** Runs `fn` with the value live at the call, keeping it alive until `fn` settles. */
  async use<R>(fn: (value: T) => Promise<R> | R): Promise<R> {
    const entry = this.current;
    entry.inFlight++;
    try {
      return await fn(entry.value);
    } finally {
      entry.inFlight--;
      this.disposeIfDone(entry);
    }
  }

  /** Loads a value with `load` and swaps it in; swaps run one after another. */
  swap(load: () => Promise<T>): Promise<T> {
    const next = this.swapping.then(async () => {
      const value = await load();
      try {
        this.check(value, this.current.value);
      } catch (error) {
        this.dispose(value);
        throw error;
      }
      const old = this.current;
      this.current = { value, inFlight: 0, retired: false, disposed: false };
      this.swapCount++;
      old.retired = true;
      this.disposeIfDone(old);
      return value;
    });
    this.swapping = next.catch(() => undefined);
    return next;
  }

  /** Frees the live value (server shutdown); waits for a swap in progress first. */
  async close(): Promise<void> {
    await this.swapping;
    this.current.retired = true;
    this.disposeIfDone(this.current);
  }

  private disposeIfDone(entry: Entry<T>): void {
    if (!entry.retired || entry.inFlight > 0 || entry.disposed) return;
    entry.disposed = true;
    this.dispose(entry.value);
  }
}

/** The served generative model: a swap keeps the catalog size (the shop's items are fixed). */
export class ModelSlot extends SwapSlot<ServingModel> {
  constructor(initial: ServingModel) {
    super(
      initial,
      (s) => disposeParams(s.model.params),
      (next, current) => {
        if (next.model.cfg.nItems !== current.model.cfg.nItems) {
          throw new GensearchError(
            'CONFLICT',
            `model "${next.name}" was trained on ${next.model.cfg.nItems} items; the served catalog has ${current.model.cfg.nItems}: retrain it on this dataset`,
          );
        }
      },
    );
  }

  get serving(): ServingModel {
    return this.value;
  }
}
