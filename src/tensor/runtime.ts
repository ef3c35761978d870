import { createRequire } from 'node:module';
import { dirname } from 'node:path';
// The umbrella package, not tfjs-core alone: only its bundle registers the gradients.
import * as tf from '@tensorflow/tfjs';

export type TensorBackend = 'wasm' | 'tensorflow';

export interface RuntimeOptions {
  /**
   * 'wasm' (default): @tensorflow/tfjs-backend-wasm with SIMD, installs everywhere.
   * 'tensorflow': @tensorflow/tfjs-node(-gpu) where it installs (not here: its install script
   * downloads libtensorflow); the same model code runs on it unchanged.
   */
  backend?: TensorBackend;
}

export type Tf = typeof tf;

/**
 * Starts TensorFlow.js on the chosen backend and installs our gradient fixes. Safe to call more
 * than once per thread (tfjs keeps its registries per thread; re-registering is idempotent).
 */
export async function initTensorRuntime(options: RuntimeOptions = {}): Promise<Tf> {
  const backend = options.backend ?? (process.env.GENSEARCH_TF_BACKEND as TensorBackend | undefined) ?? 'wasm';
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'))}/`);
  } else {
    // Optional dependency: the import registers the 'tensorflow' backend when the package is present.
    const nodeBackend = '@tensorflow/tfjs-node';
    await import(nodeBackend).catch(() => {
      throw new Error(`backend 'tensorflow' needs ${nodeBackend} (npm install ${nodeBackend}); it is not installed`);
    });
  }
  if (tf.getBackend() !== backend && !(await tf.setBackend(backend))) {
    throw new Error(`TensorFlow.js backend '${backend}' failed to start`);
  }
  await tf.ready();
  registerGradientFixes();
  return tf;
}

/** Moves the last two axes: [..., m, n] -> [..., n, m]. */
export function transposeLast2(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(x, perm);
}

/** a @ b^T through an explicit transpose: on wasm the transposeB flag is 10-40x slower. */
export function matMulT(a: tf.Tensor, b: tf.Tensor): tf.Tensor {
  return tf.matMul(a, transposeLast2(b));
}

/** Sums a broadcast gradient back to the shape of the input it flows to. */
function reduceToShape(grad: tf.Tensor, shape: number[]): tf.Tensor {
  if (grad.shape.length === shape.length && grad.shape.every((d, i) => d === shape[i])) return grad;
  const lead = grad.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < grad.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && grad.shape[i] !== 1)) axes.push(i);
  }
  return tf.reshape(tf.sum(grad, axes), shape);
}

function registerGradientFixes(): void {
  // BatchMatMul: the stock gradient multiplies with transpose flags, slow on wasm.
  tf.registerGradient({
    kernelName: tf.BatchMatMul,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved, attrs) => {
      const [a, b] = saved;
      const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
      const g = dy as tf.Tensor;
      const t = transposeLast2;
      let da: tf.Tensor;
      let db: tf.Tensor;
      if (!transposeA && !transposeB) {
        da = tf.matMul(g, t(b));
        db = tf.matMul(t(a), g);
      } else if (!transposeA && transposeB) {
        da = tf.matMul(g, b);
        db = tf.matMul(t(g), a);
      } else if (transposeA && !transposeB) {
        da = tf.matMul(b, t(g));
        db = tf.matMul(a, g);
      } else {
        da = tf.matMul(t(b), t(g));
        db = tf.matMul(t(g), t(a));
      }
      return { a: () => reduceToShape(da, a.shape), b: () => reduceToShape(db, b.shape) };
    },
  });
  // GatherV2 (embedding lookup): the stock gradient needs UnsortedSegmentSum, which wasm lacks.
  // ScatterNd sums rows at repeated indices, which is exactly the gradient of a gather.
  tf.registerGradient({
    kernelName: tf.GatherV2,
    inputsToSave: ['x', 'indices'],
    gradFunc: (dy, saved, attrs) => {
      const [x, indices] = saved;
      const { axis, batchDims } = attrs as unknown as { axis: number; batchDims: number };
      if ((axis !== 0 && axis !== -x.rank) || batchDims !== 0) {
        throw new Error(`gather gradient supports axis 0 without batch dims; got axis ${axis}, batchDims ${batchDims}`);
      }
      return {
        x: () => {
          const rows = tf.reshape(indices, [-1, 1]);
          const upd = tf.reshape(dy as tf.Tensor, [rows.shape[0], ...x.shape.slice(1)]);
          return tf.scatterND(rows, upd, x.shape);
        },
        indices: () => tf.zerosLike(indices),
      };
    },
  });
}
