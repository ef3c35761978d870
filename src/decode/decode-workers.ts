import { Worker } from 'node:worker_threads';
import { badInput } from '../errors.js';
import type { GenerativeConfig, GenerativeParams } from '../model/generative.js';
import { packParams, paramSpecs } from '../model/params.js';
import type { PackContext, Prompt } from '../tasks/prompt.js';
import { refuseWorkersOnGpu, type TensorBackend } from '../tensor/runtime.js';
import { request } from '../tensor/worker-request.js';
import type { DecodeInit, DecodeReply, DecodeRequest } from './decode-worker.js';
import type { GenerateOptions, GenerateResult } from './generate.js';

/** The compiled worker sits next to this file (dist/src/decode/decode-worker.js). */
const WORKER_URL = new URL('./decode-worker.js', import.meta.url);

/**
 * Constrained beam search over worker threads: each worker holds a copy of the model, and a
 * call splits its prompts into one contiguous part per worker, so evaluation and preference
 * mining use every core while the main thread is free. Beam search treats prompts
 * independently, so the lists are the ones `generateItems` gives on the main thread.
 * Idle workers do not keep the process alive.
 */
export class DecodeWorkers {
  private constructor(private readonly workers: Worker[]) {}

  static async start(model: { params: GenerativeParams; cfg: GenerativeConfig; pack: PackContext }, count: number, backend?: TensorBackend): Promise<DecodeWorkers> {
    if (!Number.isInteger(count) || count < 1) throw badInput(`decode workers must be a positive integer; got ${count}`);
    refuseWorkersOnGpu('decode worker threads');
    const init: DecodeInit = { type: 'init', cfg: model.cfg, specs: paramSpecs(model.params), params: packParams(model.params), itemSids: model.pack.itemSids, backend };
    const workers: Worker[] = [];
    try {
      await Promise.all(
        Array.from({ length: count }, async () => {
          const worker = new Worker(WORKER_URL);
          workers.push(worker);
          await ask(worker, init);
        }),
      );
    } catch (e) {
      await Promise.all(workers.map((w) => w.terminate()));
      throw e;
    }
    return new DecodeWorkers(workers);
  }

  get size(): number {
    return this.workers.length;
  }

  /** `generateItems` for `prompts`, split over the workers; results in prompt order. */
  async generate(prompts: readonly Prompt[], options: GenerateOptions): Promise<GenerateResult> {
    const part = Math.ceil(prompts.length / this.workers.length);
    const replies = await Promise.all(
      this.workers
        .map((worker, w) => ({ worker, from: w * part }))
        .filter(({ from }) => from < prompts.length)
        .map(({ worker, from }) => {
          const exclude = options.exclude?.slice(from, from + part).map((e) => (e ? Int32Array.from(e) : undefined));
          const priors = options.priors?.slice(from, from + part);
          const msg: DecodeRequest = { type: 'generate', prompts: prompts.slice(from, from + part).map(compact), options: { ...options, exclude, priors } };
          return ask(worker, msg);
        }),
    );
    const out: GenerateResult = { lists: [], decoded: [], stats: { beamRowsScored: 0, pruned: 0 }, ...(options.scoreParts ? { parts: [] } : {}) };
    for (const reply of replies) {
      if (reply.type !== 'generated') continue;
      out.lists.push(...reply.result.lists);
      out.decoded.push(...reply.result.decoded);
      if (reply.result.parts) out.parts?.push(...reply.result.parts);
      out.stats.beamRowsScored += reply.result.stats.beamRowsScored;
      out.stats.pruned += reply.result.stats.pruned;
    }
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/**
 * A prompt whose arrays own their memory: posting a view of a large buffer (histories are
 * often views of one table) would copy the whole buffer.
 */
function compact(p: Prompt): Prompt {
  const out: Prompt = { task: p.task, text: p.text.slice(), sid: p.sid.slice(), history: p.history.slice() };
  if (p.visual) out.visual = p.visual.slice();
  return out;
}

/** One request; the worker holds the process open only while it works. */
async function ask(worker: Worker, msg: DecodeInit | DecodeRequest): Promise<DecodeReply> {
  worker.ref();
  try {
    return await request<DecodeReply>(worker, msg, 'decode worker');
  } finally {
    worker.unref();
  }
}
