import { setTimeout as sleep } from 'node:timers/promises';
import { requestPrompt } from '../decode/ranker.js';
import { generateItems } from '../decode/generate.js';
import type { PromptPriors } from '../decode/priors.js';
import type { RankedList } from '../eval/types.js';
import type { ServingModel } from './model-slot.js';

interface Pending {
  serving: ServingModel;
  history: Int32Array;
  query: string | null;
  k: number;
  beam: number;
  /** Items the list must not hold (the history, when the request leaves it out). */
  exclude?: Int32Array;
  /** What the history and query say about the items: the head's priors. */
  priors?: PromptPriors;
  /** The aligned item vectors the priors' query and user vectors are scored against (one table per shop). */
  itemVectors?: Float32Array;
  resolve: (list: RankedList) => void;
  reject: (error: unknown) => void;
}

/**
 * Dynamic batching of generative requests. Decoding runs on the one event loop, so concurrent
 * requests would otherwise take turns; instead the requests that arrive while a batch decodes
 * wait, and the next batch decodes them together (one encoder pass and one beam search over
 * all their rows, which the matmuls do at a better rate). A request that finds the decoder
 * idle waits `waitMs` for company first (a request takes several event-loop turns from socket
 * to handler). A batch holds requests of one model and one beam width only: a request never
 * decodes on a model other than the one it acquired.
 */
export class DecodeBatcher {
  private readonly queue: Pending[] = [];
  private draining = false;

  constructor(
    private readonly maxBatch: number,
    private readonly waitMs: number,
    /** Called with the size of every batch decoded (metrics). */
    private readonly onBatch: (size: number) => void = () => {},
  ) {}

  rank(
    serving: ServingModel,
    history: Int32Array,
    query: string | null,
    options: { k: number; beam: number; exclude?: Int32Array; priors?: PromptPriors; itemVectors?: Float32Array },
  ): Promise<RankedList> {
    return new Promise((resolve, reject) => {
      this.queue.push({ serving, history, query, ...options, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queue.length > 0) {
        if (this.queue.length < this.maxBatch) await sleep(this.waitMs);
        const head = this.queue[0];
        const batch: Pending[] = [];
        for (let i = 0; i < this.queue.length && batch.length < this.maxBatch; ) {
          const p = this.queue[i];
          if (p.serving === head.serving && p.beam === head.beam) {
            batch.push(p);
            this.queue.splice(i, 1);
          } else i++;
        }
        this.onBatch(batch.length);
        await this.decode(batch);
      }
    } finally {
      this.draining = false;
    }
  }

  private async decode(batch: Pending[]): Promise<void> {
    const { serving, beam } = batch[0];
    const model = serving.model;
    try {
      const prompts = batch.map((p) => requestPrompt(model, p.history, p.query));
      const k = Math.max(...batch.map((p) => p.k));
      const exclude = batch.map((p) => p.exclude);
      const priors = batch.map((p) => p.priors);
      const itemVectors = batch.find((p) => p.itemVectors)?.itemVectors;
      const { lists } = await generateItems(model, model.pack, model.trie, prompts, { beam, k, exclude, priors, itemVectors, itemLogCounts: model.itemLogCounts });
      batch.forEach((p, i) => p.resolve({ items: lists[i].items.subarray(0, p.k), scores: lists[i].scores.subarray(0, p.k) }));
    } catch (error) {
      for (const p of batch) p.reject(error);
    }
  }
}
