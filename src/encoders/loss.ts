/**
 * Symmetric InfoNCE over in-batch negatives, in plain JS: on the wasm backend a 512 x 512
 * log-sum-exp with its gradient costs ~70 ms per direction (elementwise kernels are slow
 * there), these loops a few ms. The tensor side computes the logits and takes this gradient.
 */
export interface InfoNceResult {
  /** Mean of the a->b and b->a cross-entropies. */
  loss: number;
  /** d loss / d logits, n x n row-major. */
  grad: Float32Array;
}

/**
 * `logits[i*n+j]` scores pair i's a-side against pair j's b-side (the positive is the
 * diagonal). a->b: row i is a softmax over candidates b_j; b->a: column j over a_i. A
 * candidate with the same text as the positive is left out (it is not a negative, and its
 * logit equals the positive's), and so is one with the same text as the anchor itself: in
 * q2q and i2i both sides are the same kind of text, and a text matching itself would always
 * win. With `logFrequency` each candidate's logit is lowered by the log of how often it is
 * drawn (the logQ correction).
 */
export function symmetricInfoNce(
  logits: Float32Array,
  a: Int32Array,
  b: Int32Array,
  logFrequency?: Float32Array,
): InfoNceResult {
  const n = a.length;
  const grad = new Float32Array(n * n);
  // exp(l - lf) = exp(l - max) * exp(-lf): one exp per logit serves both directions.
  let max = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < n * n; k++) if (logits[k] > max) max = logits[k];
  const e = new Float64Array(n * n);
  for (let k = 0; k < n * n; k++) e[k] = Math.exp(logits[k] - max);
  const lfA = Float64Array.from(a, (t) => (logFrequency ? logFrequency[t] : 0));
  const lfB = Float64Array.from(b, (t) => (logFrequency ? logFrequency[t] : 0));
  const wA = lfA.map((x) => Math.exp(-x));
  const wB = lfB.map((x) => Math.exp(-x));
  const scale = 1 / (2 * n);
  const p = new Float64Array(n);
  let loss = 0;
  // Direction 0: a_i against every b_j (row i). Direction 1: b_j against every a_i (column j).
  for (let dir = 0; dir < 2; dir++) {
    const self = dir === 0 ? b : a;
    const anchor = dir === 0 ? a : b;
    const w = dir === 0 ? wB : wA;
    const lf = dir === 0 ? lfB : lfA;
    const rowStride = dir === 0 ? n : 1;
    const colStride = dir === 0 ? 1 : n;
    for (let i = 0; i < n; i++) {
      let sum = 0;
      for (let j = 0, at = i * rowStride; j < n; j++, at += colStride) {
        const masked = j !== i && (self[j] === self[i] || self[j] === anchor[i]);
        const v = masked ? 0 : e[at] * w[j];
        p[j] = v;
        sum += v;
      }
      // log sum_j exp(l_ij - lf_j) - (l_ii - lf_i), with the max taken out of the sum.
      loss += Math.log(sum) + max - (logits[i * n + i] - lf[i]);
      const norm = scale / sum;
      for (let j = 0, at = i * rowStride; j < n; j++, at += colStride) grad[at] += norm * p[j];
      grad[i * n + i] -= scale;
    }
  }
  return { loss: loss * scale, grad };
}
