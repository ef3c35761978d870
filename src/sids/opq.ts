import type { Tensor2D } from '@tensorflow/tfjs';
import { Matrix as MlMatrix, QrDecomposition, SingularValueDecomposition } from 'ml-matrix';
import { badInput } from '../errors.js';
import { Rng } from '../tensor/rng.js';
import type { Tf } from '../tensor/runtime.js';
import { assignNearest, kmeans } from './kmeans.js';
import { columns, type Matrix } from './matrix.js';
import type { Tick } from './rq.js';
import { gaussian } from './synthetic.js';

export interface OpqConfig {
  /** Codebook size of every sub-quantizer. */
  k: number;
  /** Sub-quantizers (default 2: the paper's <d_m><d_n>). */
  subspaces?: number;
  /** Alternations of (PQ codebooks, rotation) (default 8). */
  iterations?: number;
  /** Lloyd iterations per sub-quantizer per alternation (default 6; warm-started). */
  innerIterations?: number;
  seed?: number;
}

export interface OpqModel {
  /** d x d orthogonal: the rotated vector is y = x R (row vectors). */
  rotation: Matrix;
  /** First column of each subspace of y, plus d at the end: subspace m is [bounds[m], bounds[m+1]). */
  bounds: number[];
  /** One k x (subspace width) codebook per subspace. */
  codebooks: Matrix[];
}

export interface OpqResult {
  model: OpqModel;
  /** n x subspaces codes, row-major. */
  codes: Int32Array;
  /** Quantization error sum ||y - q(y)||^2 after each alternation (non-increasing up to k-means noise). */
  distortion: number[];
  flops: number;
}

/** Near-equal contiguous splits of d columns into m subspaces. */
function subspaceBounds(d: number, m: number): number[] {
  return Array.from({ length: m + 1 }, (_, i) => Math.round((i * d) / m));
}

export function checkOpqConfig(config: OpqConfig, dim: number): void {
  const m = config.subspaces ?? 2;
  if (!Number.isInteger(config.k) || config.k < 2) throw badInput(`OPQ codebook size must be an integer >= 2; got ${config.k}`);
  if (!Number.isInteger(m) || m < 1 || m > dim) {
    throw badInput(`OPQ sub-quantizers must be an integer in 1..${dim} (the vector dimension); got ${m}`);
  }
}

/**
 * Optimized product quantization (Ge et al., CVPR 2013, non-parametric): alternate between
 * (1) k-means codebooks per subspace of the rotated data y = x R and (2) the orthogonal
 * Procrustes rotation R = U V^T from the SVD of X^T Y^, which best maps x onto its current
 * reconstruction Y^. Starts from a seeded random rotation (spreads variance over subspaces).
 * The d x d SVD runs in ml-matrix; the n-sized products run on the tensor backend.
 */
export function trainOpq(tf: Tf, data: Matrix, config: OpqConfig, tick?: Tick): OpqResult {
  checkOpqConfig(config, data.cols);
  const d = data.cols;
  const m = config.subspaces ?? 2;
  const outer = config.iterations ?? 8;
  const inner = config.innerIterations ?? 6;
  const rng = new Rng(config.seed ?? 0);
  const bounds = subspaceBounds(d, m);
  let rotation = randomRotation(d, rng);
  let codebooks: Matrix[] = [];
  let codes = new Int32Array(data.rows * m);
  const distortion: number[] = [];
  let flops = 0;
  const x = tf.tensor2d(data.data, [data.rows, d]);
  const xt = tf.transpose(x) as Tensor2D;
  try {
    // The final pass (it === outer) only refits the codebooks to the last rotation: codes and
    // codebooks must belong to the rotation that is saved.
    for (let it = 0; it <= outer; it++) {
      const y = rotate(tf, x, rotation);
      flops += 2 * data.rows * d * d;
      const recon = new Float32Array(data.rows * d);
      let err = 0;
      codebooks = bounds.slice(0, m).map((from, s) => {
        const to = bounds[s + 1];
        const r = kmeans(tf, columns(y, from, to), {
          k: config.k,
          iterations: inner,
          init: codebooks[s],
          seed: rng.seed(),
          what: `OPQ sub-quantizer ${s + 1}`,
        });
        flops += r.flops;
        err += r.inertia;
        const w = to - from;
        for (let i = 0; i < data.rows; i++) {
          codes[i * m + s] = r.assignment[i];
          recon.set(r.centroids.data.subarray(r.assignment[i] * w, (r.assignment[i] + 1) * w), i * d + from);
        }
        return r.centroids;
      });
      distortion.push(err);
      tick?.(1, `OPQ ${it}/${outer} distortion ${err.toPrecision(4)}`);
      if (it === outer) break;
      const cross = tf.tidy(() => tf.matMul(xt, tf.tensor2d(recon, [data.rows, d])));
      const crossData = cross.dataSync() as Float32Array;
      cross.dispose();
      flops += 2 * data.rows * d * d;
      rotation = procrustes(crossData, d);
    }
  } finally {
    x.dispose();
    xt.dispose();
  }
  codes = codes.slice();
  return { model: { rotation, bounds, codebooks }, codes, distortion, flops };
}

/** OPQ codes of new vectors: rotate, then the nearest centroid in each subspace. */
export function encodeOpq(tf: Tf, model: OpqModel, data: Matrix): Int32Array {
  const d = model.rotation.rows;
  if (data.cols !== d) throw badInput(`vectors have dimension ${data.cols}; the OPQ rotation is ${d}x${d}`);
  const m = model.codebooks.length;
  const x = tf.tensor2d(data.data, [data.rows, d]);
  const y = rotate(tf, x, model.rotation);
  x.dispose();
  const codes = new Int32Array(data.rows * m);
  model.codebooks.forEach((cb, s) => {
    const { index } = assignNearest(tf, columns(y, model.bounds[s], model.bounds[s + 1]), cb);
    for (let i = 0; i < data.rows; i++) codes[i * m + s] = index[i];
  });
  return codes;
}

function rotate(tf: Tf, x: Tensor2D, rotation: Matrix): Matrix {
  const y = tf.tidy(() => tf.matMul(x, tf.tensor2d(rotation.data, [rotation.rows, rotation.cols])));
  const data = y.dataSync() as Float32Array;
  y.dispose();
  return { data, rows: x.shape[0], cols: rotation.cols };
}

/** argmax_R tr(R^T M) over orthogonal R: R = U V^T where M = U S V^T. */
export function procrustes(m: Float32Array, d: number): Matrix {
  const M = new MlMatrix(d, d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) M.set(i, j, m[i * d + j]);
  const svd = new SingularValueDecomposition(M, { autoTranspose: false });
  const r = svd.leftSingularVectors.mmul(svd.rightSingularVectors.transpose());
  return { data: Float32Array.from(r.to1DArray()), rows: d, cols: d };
}

/** A seeded random orthogonal matrix: Q of the QR of a Gaussian matrix, signs fixed by R's diagonal. */
function randomRotation(d: number, rng: Rng): Matrix {
  const g = new MlMatrix(d, d);
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) g.set(i, j, gaussian(rng));
  const qr = new QrDecomposition(g);
  const q = qr.orthogonalMatrix;
  const r = qr.upperTriangularMatrix;
  for (let j = 0; j < d; j++) {
    if (r.get(j, j) < 0) for (let i = 0; i < d; i++) q.set(i, j, -q.get(i, j));
  }
  return { data: Float32Array.from(q.to1DArray()), rows: d, cols: d };
}
