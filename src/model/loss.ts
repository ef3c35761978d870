import * as tf from '@tensorflow/tfjs';
import { transposeLast2 } from '../tensor/runtime.js';
import { gatherRows } from './layers.js';

/**
 * Log-probabilities over the last axis. wasm has no LogSoftmax kernel; x - logSumExp(x) runs
 * on kernels it has (Max, Exp, Sum, Log). For decoding (no gradient needed).
 */
export function logSoftmax(logits: tf.Tensor): tf.Tensor {
  return tf.sub(logits, tf.logSumExp(logits, -1, true));
}

/** Probabilities below this count as this when taking the log (float32 softmax underflows). */
const MIN_PROB = 1e-30;

/** Elements of one chunk of the N x V probability matrix: a few MB, so it stays in cache. */
const CHUNK_ELEMENTS = 1 << 21;

/**
 * Softmax cross-entropy of an output layer, summed over rows: hidden states h [N, d], output
 * table w [V, d] (logits = h w^T: tied item/token embeddings, or any output matrix), targets
 * int32 [N] -> scalar sum_i -log softmax(h_i w^T)[target_i].
 *
 * Returns the sum, not the mean, so gradients of shards of a batch add up to the gradient of the
 * whole batch (data-parallel training divides by the batch's total count once).
 *
 * The N x V matrix (N target positions x all items) is by far the largest tensor of a
 * full-softmax model, and on wasm every pass over it costs about as much as a matmul. So the
 * op walks it in chunks of rows that fit in cache and, while recording gradients, computes the
 * gradient in the same walk: with P the probabilities and Y the one-hot targets,
 * dh = P w - w[targets] and dw = sum over chunks of P^T h - scatter(targets, h); the backward pass
 * only scales these by dy. The full N x V matrix, the one-hot matrix and P - Y never exist.
 * The loss takes log(max(p, 1e-30)): a target whose probability underflows reads as 69 instead
 * of Infinity; the gradient does not go through the log and is exact.
 */
export function softmaxCrossEntropy(h: tf.Tensor, w: tf.Tensor, targets: tf.Tensor, chunkRows?: number): tf.Scalar {
  const withGrad = tf.engine().isTapeOn();
  const op = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [hIn, wIn] = inputs as tf.Tensor[];
    const [n, d] = hIn.shape as [number, number];
    const v = wIn.shape[0] as number;
    const rows = chunkRows ?? Math.max(8, Math.floor(CHUNK_ELEMENTS / v));
    const t = tf.cast(targets, 'int32');
    const wT = transposeLast2(wIn); // one tensor for all chunks: the GEMM packs it once
    const losses: tf.Tensor[] = [];
    const dhs: tf.Tensor[] = [];
    let dw = withGrad ? tf.neg(tf.scatterND(tf.reshape(t, [-1, 1]), hIn, [v, d])) : undefined;
    for (let from = 0; from < n; from += rows) {
      const size = Math.min(rows, n - from);
      const [loss, dh, dwPart] = tf.tidy(() => {
        const hc = tf.slice(hIn, [from, 0], [size, d]);
        const tc = tf.slice(t, [from], [size]);
        const p = tf.softmax(tf.matMul(hc, wT));
        const picked = tf.gatherND(p, tf.stack([tf.range(0, size, 1, 'int32'), tc], 1));
        const loss = tf.neg(tf.sum(tf.log(tf.maximum(picked, MIN_PROB))));
        if (!withGrad) return [loss];
        // P^T h through an explicit transpose of the cached chunk: as fast as h^T P and its GEMM
        // packs the small h instead of the chunk.
        return [loss, tf.sub(tf.matMul(p, wIn), gatherRows(wIn, tc)), tf.matMul(transposeLast2(p), hc)];
      });
      losses.push(loss);
      if (dh) dhs.push(dh);
      if (dw && dwPart) {
        const next = tf.add(dw, dwPart);
        dw.dispose();
        dwPart.dispose();
        dw = next;
      }
    }
    const value = tf.addN(losses) as tf.Scalar;
    if (dw) (inputs[2] as tf.GradSaveFunc)([tf.concat(dhs, 0), dw]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, [dhAll, dwAll]: tf.Tensor[]) => [tf.mul(dhAll, dy), tf.mul(dwAll, dy)],
    };
  });
  return op(h, w) as tf.Scalar;
}

/**
 * The same loss from logits [N, V] (when the logits are not a plain h w^T, e.g. they carry a
 * bias or a mask): the gradient is (P - Y) dy, one multiply and one scatter into the N target
 * cells; still no one-hot matrix.
 */
export function crossEntropySum(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  const op = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const { probs, rows, picked, value } = softmaxTargets(inputs[0] as tf.Tensor, targets);
    (inputs[1] as tf.GradSaveFunc)([probs, rows.cells, picked]);
    return {
      value,
      gradFunc: (dy: tf.Tensor, [p, c, pt]: tf.Tensor[]) => [tf.tensorScatterUpdate(tf.mul(p, dy), c, tf.mul(tf.sub(pt, 1), dy))],
    };
  });
  return op(logits) as tf.Scalar;
}

/** Softmax of logits [N, V], the target cells ([i, t_i] and t_i as [N, 1]), their probabilities and the summed loss. */
function softmaxTargets(logits: tf.Tensor, targets: tf.Tensor) {
  const n = logits.shape[0] as number;
  const items = tf.reshape(tf.cast(targets, 'int32'), [-1, 1]);
  const cells = tf.concat([tf.reshape(tf.range(0, n, 1, 'int32'), [-1, 1]), items], 1);
  const probs = tf.softmax(logits);
  const picked = tf.gatherND(probs, cells);
  return { probs, rows: { items, cells }, picked, value: tf.neg(tf.sum(tf.log(tf.maximum(picked, MIN_PROB)))) as tf.Scalar };
}
