import { createRequire } from 'node:module';
import { dirname } from 'node:path';
// The umbrella package, not tfjs-core alone: only its bundle registers the gradients.
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors.js';

export const TENSOR_BACKENDS = ['wasm', 'webgpu', 'tensorflow'] as const;
export type TensorBackend = (typeof TENSOR_BACKENDS)[number];

export interface RuntimeOptions {
  /**
   * 'wasm' (default): @tensorflow/tfjs-backend-wasm with SIMD, installs everywhere.
   * 'webgpu': @tensorflow/tfjs-backend-webgpu on a GPU through Dawn (the optional package
   * `webgpu`, whose npm tarball carries the prebuilt binary: nothing is downloaded at install).
   * It needs a Vulkan, Metal or D3D12 driver; one device per process, so run it with 0 workers.
   * 'tensorflow': @tensorflow/tfjs-node(-gpu) where it installs (not here: its install script
   * downloads libtensorflow). The same model code runs on each unchanged.
   */
  backend?: TensorBackend;
}

/** Checks a backend name given on a command line or in the environment. */
export function parseTensorBackend(name: string, source: string): TensorBackend {
  if (!(TENSOR_BACKENDS as readonly string[]).includes(name)) throw badInput(`${source} expects ${TENSOR_BACKENDS.join(', ')}; got "${name}"`);
  return name as TensorBackend;
}

/** Imports an optional package that registers a backend, or says how to install it. */
async function importOptional(name: string, backend: TensorBackend): Promise<Record<string, unknown>> {
  return (await import(name).catch((e: unknown) => {
    throw new Error(`backend '${backend}' needs ${name} (npm install ${name}): ${(e as Error).message}`);
  })) as Record<string, unknown>;
}

/**
 * Gives this thread `navigator.gpu` from Dawn. Node 21+ has a `navigator` of its own, which
 * gets the property; Node 20 has none, so one is made.
 */
async function installWebGpu(): Promise<void> {
  const dawn = (await importOptional('webgpu', 'webgpu')) as { create(flags: string[]): unknown; globals: Record<string, unknown> };
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (g.navigator?.gpu) return;
  Object.assign(globalThis, dawn.globals);
  const gpu = dawn.create([]);
  if (g.navigator) Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true });
  else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
}

export type Tf = typeof tf;

/**
 * Starts TensorFlow.js on the chosen backend and installs our gradient fixes. Safe to call more
 * than once per thread (tfjs keeps its registries per thread; re-registering is idempotent).
 */
export async function initTensorRuntime(options: RuntimeOptions = {}): Promise<Tf> {
  const fromEnv = process.env.GENSEARCH_TF_BACKEND;
  const backend = options.backend ?? (fromEnv ? parseTensorBackend(fromEnv, 'GENSEARCH_TF_BACKEND') : 'wasm');
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    wasm.setWasmPaths(`${dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm'))}/`);
  } else if (backend === 'webgpu') {
    await installWebGpu();
    await importOptional('@tensorflow/tfjs-backend-webgpu', backend);
  } else {
    // The import registers the 'tensorflow' backend.
    await importOptional('@tensorflow/tfjs-node', backend);
  }
  if (tf.getBackend() !== backend && !(await tf.setBackend(backend))) {
    throw new Error(`TensorFlow.js backend '${backend}' failed to start${backend === 'webgpu' ? ' (no GPU adapter: is there a Vulkan, Metal or D3D12 driver?)' : ''}`);
  }
  await tf.ready();
  registerGradientFixes();
  if (backend === 'wasm') registerFastGather();
  if (backend === 'webgpu') {
    failOnGpuErrors();
    // One storage buffer per input plus the output; tfjs asks the device for the default 8.
    const limits = (tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }).device.limits;
    registerChunkedAddN('webgpu', limits.maxStorageBuffersPerShaderStage - 1);
  }
  return tf;
}

/**
 * A command the GPU rejects (a buffer over the device's limits, say) is otherwise skipped in
 * silence and its outputs read as zeros: a wrong model, not an error. Stop the process instead,
 * with the GPU's own message.
 */
function failOnGpuErrors(): void {
  const device = (tf.backend() as unknown as { device?: { onuncapturederror: ((ev: { error: { message: string } }) => void) | null } }).device;
  if (!device || device.onuncapturederror) return;
  device.onuncapturederror = (ev) => {
    process.stderr.write(`webgpu: the GPU rejected a command, so results would be wrong: ${ev.error.message}\n`);
    process.exit(70);
  };
}

/** The matmul rate probe's size: a GPU needs a larger product than a CPU thread to reach its rate. */
export function matmulProbeSize(backend: string): number {
  return backend === 'webgpu' ? 4096 : 512;
}

/** Single-thread matmul rate of the current backend (a size^3 product, best of 5), GFLOP/s. */
export async function measureMatmulGflops(size = matmulProbeSize(tf.getBackend())): Promise<number> {
  const a = tf.randomNormal([size, size], 0, 1, 'float32', 1);
  const b = tf.randomNormal([size, size], 0, 1, 'float32', 2);
  let best = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    const c = tf.matMul(a, b);
    await c.data(); // waits for the device on a GPU backend
    const dt = performance.now() - t0;
    c.dispose();
    if (i > 0) best = Math.min(best, dt); // the first call warms up
  }
  a.dispose();
  b.dispose();
  return (2 * size ** 3) / (best / 1000) / 1e9;
}

/**
 * Worker threads compute on wasm; a GPU backend is one device per process, used from the main
 * thread. Called where worker pools start.
 */
export function refuseWorkersOnGpu(what: string): void {
  if (tf.getBackend() === 'webgpu') throw badInput(`${what} do not run on webgpu (one GPU device per process, on the main thread): use 0 workers`);
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
  // Conv2D: wasm has no Conv2DBackpropFilter kernel. The filter gradient is itself a
  // convolution (the input with batch and channels swapped, convolved with dy as the filter) and
  // the input gradient a transposed convolution; both run on wasm's fast (XNNPACK) kernels.
  // Stride 1 and no dilation: the image encoder pools rather than strides.
  tf.registerGradient({
    kernelName: tf.Conv2D,
    inputsToSave: ['x', 'filter'],
    gradFunc: (dy, saved, attrs) => {
      const [x, filter] = saved as [tf.Tensor4D, tf.Tensor4D];
      const { strides, pad, dilations, dataFormat } = attrs as unknown as { strides: number | number[]; pad: unknown; dilations: number | number[]; dataFormat: string };
      const ones = (v: number | number[]) => [v].flat().every((s) => s === 1);
      if (!ones(strides) || !ones(dilations) || (pad !== 'same' && pad !== 'valid') || dataFormat !== 'NHWC') {
        throw new Error(`conv2d gradient supports stride 1, dilation 1, NHWC, 'same'/'valid' padding; got strides ${String(strides)}, pad ${String(pad)}`);
      }
      const g = dy as tf.Tensor4D;
      const [kh, kw] = filter.shape;
      return {
        x: () => tf.conv2dTranspose(g, filter, x.shape, 1, pad),
        filter: () => {
          const top = pad === 'same' ? Math.floor((kh - 1) / 2) : 0;
          const left = pad === 'same' ? Math.floor((kw - 1) / 2) : 0;
          const padded = pad === 'same' ? tf.pad(x, [[0, 0], [top, kh - 1 - top], [left, kw - 1 - left], [0, 0]]) : x;
          const xt = tf.transpose(padded, [3, 1, 2, 0]); // [C, H', W', B]
          const dyt = tf.transpose(g, [1, 2, 0, 3]); // [H, W, B, Cout]
          return tf.transpose(tf.conv2d(xt, dyt, 1, 'valid'), [1, 2, 0, 3]); // [kh, kw, C, Cout]
        },
      };
    },
  });
}

const CHUNKED = Symbol('gensearch.chunkedAddN');

/**
 * AddN in rounds of at most `maxInputs` inputs. webgpu's kernel binds every input as its own
 * storage buffer and the device allows 8 per shader, but gradient accumulation sums 10 to 50+
 * tensors (measured on an H200: 53 at batch 1024). Intermediate sums are freed as it goes.
 */
export function registerChunkedAddN(backendName: string, maxInputs: number): void {
  const stock = tf.getKernel(tf.AddN, backendName);
  if (!stock || (stock.kernelFunc as unknown as Record<symbol, boolean>)[CHUNKED]) return;
  if (!(maxInputs >= 2)) throw new Error(`AddN needs at least 2 inputs per round; got ${maxInputs}`);
  const kernelFunc = ((args: { inputs: tf.NamedTensorInfoMap; backend: { disposeData(id: object): unknown }; attrs?: tf.NamedAttrMap }) => {
    const run = (inputs: tf.TensorInfo[]) => stock.kernelFunc({ ...args, inputs: inputs as unknown as tf.NamedTensorInfoMap } as Parameters<tf.KernelFunc>[0]) as tf.TensorInfo;
    let level = Array.from(args.inputs as unknown as tf.TensorInfo[]);
    const temporary: tf.TensorInfo[] = [];
    while (level.length > maxInputs) {
      const next: tf.TensorInfo[] = [];
      for (let i = 0; i < level.length; i += maxInputs) {
        const chunk = level.slice(i, i + maxInputs);
        if (chunk.length === 1) next.push(chunk[0]);
        else {
          const sum = run(chunk);
          temporary.push(sum);
          next.push(sum);
        }
      }
      level = next;
    }
    const out = run(level);
    for (const t of temporary) args.backend.disposeData(t.dataId);
    return out;
  }) as unknown as tf.KernelFunc;
  (kernelFunc as unknown as Record<symbol, boolean>)[CHUNKED] = true;
  tf.unregisterKernel(tf.AddN, backendName);
  tf.registerKernel({ kernelName: tf.AddN, backendName, kernelFunc });
}

/** What a wasm kernel sees of the backend (the parts the fast gather uses). */
interface WasmBackendView {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
}

const FAST = Symbol('gensearch.fastGather');

/**
 * wasm's GatherV2 kernel copies element by element: about 150 ns per element, measured (a
 * 20,000-row embedding lookup of width 64 takes ~185 ms). This one copies each gathered slice
 * with one TypedArray.set on the wasm heap (~3 ms for the same lookup); strings fall back to
 * the stock kernel. Embedding lookups and beam reordering are gathers, so this matters.
 */
function registerFastGather(): void {
  const stock = tf.getKernel(tf.GatherV2, 'wasm');
  if (!stock || (stock.kernelFunc as unknown as Record<symbol, boolean>)[FAST]) return;
  const kernelFunc = ((args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }) => {
    const x = args.inputs.x as tf.TensorInfo;
    const indices = args.inputs.indices as tf.TensorInfo;
    if (x.dtype === 'string') return stock.kernelFunc(args as Parameters<tf.KernelFunc>[0]);
    const backend = args.backend as WasmBackendView;
    const { axis, batchDims } = args.attrs as unknown as { axis: number; batchDims: number };
    const parsedAxis = tf.util.parseAxisParam(axis, x.shape)[0];
    const info = tf.backend_util.segment_util.collectGatherOpShapeInfo(x as tf.Tensor, indices as tf.Tensor, parsedAxis, batchDims);
    const idx = backend.readSync(indices.dataId);
    const { batchSize, outerSize, dimSize, sliceSize } = info;
    for (let i = 0; i < idx.length; i++) {
      if (!(idx[i] >= 0 && idx[i] < dimSize)) throw new Error(`GatherV2: the index value ${idx[i]} is not in [0, ${dimSize - 1}]`);
    }
    const out = backend.makeOutput(info.outputShape, x.dtype);
    if (out.shape.reduce((a, b) => a * b, 1) === 0) return out;
    // Views after makeOutput: allocating may grow (and move) the heap.
    const src = backend.typedArrayFromHeap(x);
    const dst = backend.typedArrayFromHeap(out);
    const perBatch = idx.length / batchSize;
    let o = 0;
    for (let b = 0; b < batchSize; b++) {
      for (let outer = 0; outer < outerSize; outer++) {
        const base = (b * outerSize + outer) * dimSize;
        for (let i = 0; i < perBatch; i++) {
          const from = (base + idx[b * perBatch + i]) * sliceSize;
          if (sliceSize === 1) dst[o] = src[from];
          else dst.set(src.subarray(from, from + sliceSize), o);
          o += sliceSize;
        }
      }
    }
    return out;
  }) as unknown as tf.KernelFunc;
  (kernelFunc as unknown as Record<symbol, boolean>)[FAST] = true;
  tf.unregisterKernel(tf.GatherV2, 'wasm');
  tf.registerKernel({ kernelName: tf.GatherV2, backendName: 'wasm', kernelFunc });
}
