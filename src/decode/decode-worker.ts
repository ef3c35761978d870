import { parentPort } from 'node:worker_threads';
import type { GenerativeConfig, GenerativeParams } from '../model/generative.js';
import { type ParamSpec, paramsFromPacked } from '../model/params.js';
import { SidTrie } from '../sids/trie.js';
import { packContext, type Prompt } from '../tasks/prompt.js';
import { initTensorRuntime, type TensorBackend } from '../tensor/runtime.js';
import { replyError, type WorkerError } from '../tensor/worker-request.js';
import { type GenerateOptions, type GenerateResult, generateItems } from './generate.js';

/**
 * Worker thread of parallel decoding (compiled to dist/src/decode/decode-worker.js and started
 * by `DecodeWorkers`): it holds its own copy of one model and runs the constrained beam search
 * on the prompts it is sent. Each thread has its own tfjs runtime, so it initialises one.
 */
export interface DecodeInit {
  type: 'init';
  cfg: GenerativeConfig;
  specs: ParamSpec[];
  /** Parameter values in flatten order (`packParams`). */
  params: Float32Array;
  /** nItems x W SID tokens: the trie and the prompt packing are rebuilt from it. */
  itemSids: Int32Array;
  backend?: TensorBackend;
}

export interface DecodeRequest {
  type: 'generate';
  prompts: Prompt[];
  options: GenerateOptions;
}

export type DecodeReply = { type: 'ready' } | { type: 'generated'; result: GenerateResult } | WorkerError;

const port = parentPort;
if (!port) throw new Error('decode-worker.js must run as a worker thread');

let model: Parameters<typeof generateItems>[0] & { pack: ReturnType<typeof packContext>; trie: SidTrie };

port.on('message', async (msg: DecodeInit | DecodeRequest) => {
  try {
    if (msg.type === 'init') {
      await initTensorRuntime({ backend: msg.backend });
      const { params } = paramsFromPacked(msg.specs, msg.params);
      model = { params: params as GenerativeParams, cfg: msg.cfg, pack: packContext(msg.cfg, msg.itemSids), trie: new SidTrie(msg.itemSids, msg.cfg.sidSizes.length) };
      port.postMessage({ type: 'ready' } satisfies DecodeReply);
      return;
    }
    const result = await generateItems(model, model.pack, model.trie, msg.prompts, msg.options);
    port.postMessage({ type: 'generated', result } satisfies DecodeReply);
  } catch (e) {
    port.postMessage(replyError(e));
  }
});
