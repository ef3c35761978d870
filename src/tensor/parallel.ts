import { Worker } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { GensearchError } from '../errors.js';
import { flattenParams, type Params, paramSpecs } from '../model/params.js';
import type { WorkerInit, WorkerReply, WorkerStep } from './grad-worker.js';
import type { HostBatch, ObjectiveSpec } from './objective.js';
import { refuseWorkersOnGpu, type TensorBackend } from './runtime.js';
import { request } from './worker-request.js';

/** The compiled worker sits next to this file (dist/src/tensor/grad-worker.js). */
const WORKER_URL = new URL('./grad-worker.js', import.meta.url);

/**
 * Data-parallel gradients over worker threads: every worker holds the parameters (read from one
 * SharedArrayBuffer), computes the gradient of its shard of the batch, and writes it into its
 * own shared buffer; the main thread sums them and applies the update. Shards divide their summed
 * loss by the whole batch's term count, so the sum of shard gradients is the batch gradient.
 */
export class GradientWorkers {
  private version = 0;

  private constructor(
    private readonly workers: Worker[],
    private readonly paramView: Float32Array,
    private readonly gradViews: Float32Array[],
    private readonly sizes: number[],
  ) {}

  static async start(spec: ObjectiveSpec, template: Params, count: number, backend?: TensorBackend): Promise<GradientWorkers> {
    if (!Number.isInteger(count) || count < 1) throw new GensearchError('BAD_INPUT', `workers must be a positive integer; got ${count}`);
    refuseWorkersOnGpu('gradient worker threads');
    const specs = paramSpecs(template);
    const sizes = specs.map((s) => s.shape.reduce((a, b) => a * b, 1));
    const total = sizes.reduce((a, b) => a + b, 0);
    const paramBuffer = new SharedArrayBuffer(total * 4);
    const workers: Worker[] = [];
    const gradViews: Float32Array[] = [];
    try {
      await Promise.all(
        Array.from({ length: count }, async () => {
          const gradBuffer = new SharedArrayBuffer(total * 4);
          const worker = new Worker(WORKER_URL);
          workers.push(worker);
          gradViews.push(new Float32Array(gradBuffer));
          const init: WorkerInit = { type: 'init', spec, params: specs, paramBuffer, gradBuffer, backend };
          await request<WorkerReply>(worker, init, 'gradient worker');
        }),
      );
    } catch (e) {
      for (const w of workers) await w.terminate();
      throw e;
    }
    return new GradientWorkers(workers, new Float32Array(paramBuffer), gradViews, sizes);
  }

  get size(): number {
    return this.workers.length;
  }

  /**
   * Gradients (flatten order, summed over shards) and the summed loss of `shards` at `params`.
   * At most one shard per worker.
   */
  async compute(params: Params, shards: HostBatch[], denominator: number, seeds: number[]): Promise<{ lossSum: number; grads: tf.Tensor[] }> {
    if (shards.length > this.workers.length) {
      throw new GensearchError('INTERNAL', `${shards.length} shards for ${this.workers.length} workers`);
    }
    let offset = 0;
    for (const [, t] of flattenParams(params)) {
      this.paramView.set(t.dataSync() as Float32Array, offset);
      offset += t.size;
    }
    this.version++;
    const replies = await Promise.all(
      shards.map((batch, i) => {
        const step: WorkerStep = { type: 'step', batch, denominator, seed: seeds[i], version: this.version };
        return request<WorkerReply>(this.workers[i], step, 'gradient worker');
      }),
    );
    let lossSum = 0;
    for (const r of replies) if (r.type === 'done') lossSum += r.lossSum;
    const sum = new Float32Array(this.paramView.length);
    for (let w = 0; w < shards.length; w++) {
      const g = this.gradViews[w];
      for (let i = 0; i < sum.length; i++) sum[i] += g[i];
    }
    const grads: tf.Tensor[] = [];
    offset = 0;
    const shapes = flattenParams(params).map(([, t]) => t.shape);
    this.sizes.forEach((size, i) => {
      grads.push(tf.tensor(sum.subarray(offset, offset + size), shapes[i], 'float32'));
      offset += size;
    });
    return { lossSum, grads };
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
