import type { Worker } from 'node:worker_threads';
import { GensearchError } from '../errors.js';

/** What a worker thread answers when a request throws. */
export interface WorkerError {
  type: 'error';
  message: string;
  stack?: string;
}

export function replyError(e: unknown): WorkerError {
  const err = e as Error;
  return { type: 'error', message: err.message, stack: err.stack };
}

/**
 * Posts one message and waits for the worker's reply (workers answer one message at a time);
 * an error reply, a crash or an exit becomes a rejection naming the worker's `role`.
 */
export function request<Reply extends { type: string }>(worker: Worker, msg: unknown, role: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      worker.off('message', onMessage);
      worker.off('error', onError);
      worker.off('exit', onExit);
    };
    const onMessage = (reply: Reply | WorkerError) => {
      cleanup();
      if (reply.type === 'error') {
        const { message, stack } = reply as WorkerError;
        reject(new GensearchError('INTERNAL', `${role} failed: ${message}\n${stack ?? ''}`));
      } else resolve(reply as Reply);
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new GensearchError('INTERNAL', `${role} crashed: ${e.message}`));
    };
    const onExit = (code: number) => {
      cleanup();
      reject(new GensearchError('INTERNAL', `${role} exited with code ${code}`));
    };
    worker.on('message', onMessage);
    worker.on('error', onError);
    worker.on('exit', onExit);
    worker.postMessage(msg);
  });
}
