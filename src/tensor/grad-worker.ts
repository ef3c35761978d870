import { parentPort } from 'node:worker_threads';
import type * as tf from '@tensorflow/tfjs';
import { type ParamSpec, paramsFromPacked } from '../model/params.js';
import { type HostBatch, loadObjective, lossAndGrads, type ObjectiveSpec } from './objective.js';
import { initTensorRuntime, type TensorBackend } from './runtime.js';
import { replyError, type WorkerError } from './worker-request.js';

/**
 * Worker thread of data-parallel training (compiled to dist/src/tensor/grad-worker.js and
 * started by `GradientWorkers`). It owns a copy of the parameters, read from shared memory the
 * main thread rewrites after each update, and writes the gradients of its shard into its own
 * shared buffer. Each thread has its own tfjs runtime, so it initialises one.
 */
export interface WorkerInit {
  type: 'init';
  spec: ObjectiveSpec;
  params: ParamSpec[];
  /** Float32 parameter values, flatten order; written by the main thread between steps. */
  paramBuffer: SharedArrayBuffer;
  /** Float32 gradients of this worker, flatten order. */
  gradBuffer: SharedArrayBuffer;
  backend?: TensorBackend;
}

export interface WorkerStep {
  type: 'step';
  batch: HostBatch;
  denominator: number;
  seed: number;
  /** Bumped by the main thread whenever the shared parameters changed. */
  version: number;
}

export type WorkerReply = { type: 'ready' } | { type: 'done'; lossSum: number } | WorkerError;

const port = parentPort;
if (!port) throw new Error('grad-worker.js must run as a worker thread');

let state: { init: WorkerInit; objective: Awaited<ReturnType<typeof loadObjective>>; version: number; params?: object; leaves: tf.Tensor[] };

port.on('message', async (msg: WorkerInit | WorkerStep) => {
  try {
    if (msg.type === 'init') {
      await initTensorRuntime({ backend: msg.backend });
      state = { init: msg, objective: await loadObjective(msg.spec), version: -1, leaves: [] };
      port.postMessage({ type: 'ready' } satisfies WorkerReply);
      return;
    }
    if (state.version !== msg.version) {
      for (const t of state.leaves) t.dispose();
      const { params, leaves } = paramsFromPacked(state.init.params, new Float32Array(state.init.paramBuffer));
      state.leaves = leaves;
      state.params = params;
      state.version = msg.version;
    }
    const { lossSum, grads } = await lossAndGrads(state.objective, state.params!, msg.batch, msg.denominator, msg.seed);
    const out = new Float32Array(state.init.gradBuffer);
    let offset = 0;
    for (const g of grads) {
      out.set(await g.data<'float32'>(), offset);
      offset += g.size;
      g.dispose();
    }
    port.postMessage({ type: 'done', lossSum } satisfies WorkerReply);
  } catch (e) {
    port.postMessage(replyError(e));
  }
});
