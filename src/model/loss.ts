import * as tf from '@tensorflow/tfjs';

/**
 * Log-probabilities over the last axis. wasm has no LogSoftmax kernel; x - logSumExp(x) runs
 * on kernels it has (Max, Exp, Sum, Log). For decoding (no gradient needed).
 */
export function logSoftmax(logits: tf.Tensor): tf.Tensor {
  return tf.sub(logits, tf.logSumExp(logits, -1, true));
}

/**
 * Softmax cross-entropy summed over rows: logits [N, V], targets int32 [N] -> scalar
 * sum_i (logSumExp(logits_i) - logits_i[target_i]).
 *
 * Returns the sum, not the mean, so gradients of shards of a batch add up to the gradient of the
 * whole batch (data-parallel training divides by the batch's total count once).
 *
 * The gradient is written by hand, (softmax(logits) - onehot(target)) * dy: autodiff through
 * logSumExp would also differentiate the max it subtracts for stability, a few more full passes
 * over the N x V matrix, which is the largest tensor of a full-softmax model.
 */
export function crossEntropySum(logits: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  const [n, v] = logits.shape as [number, number];
  const op = tf.customGrad((...inputs: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const x = inputs[0] as tf.Tensor;
    const t = tf.cast(targets, 'int32');
    // Only saved tensors outlive the forward pass; the closure's `targets` may be gone by then.
    (inputs[1] as tf.GradSaveFunc)([x, t]);
    const lse = tf.logSumExp(x, -1);
    // The target logit of row i sits at i * V + target_i in the flat matrix.
    const flatIdx = tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(v, 'int32')), t);
    const picked = tf.gather(tf.reshape(x, [-1]), flatIdx);
    return {
      value: tf.sum(tf.sub(lse, picked)),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => [
        tf.mul(tf.sub(tf.softmax(saved[0]), tf.oneHot(saved[1], v)), dy),
      ],
    };
  });
  return op(logits) as tf.Scalar;
}
