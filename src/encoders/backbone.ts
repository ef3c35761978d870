import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { badInput } from '../errors.js';

/**
 * A pretrained image backbone: the MobileNetV2 that ships inside the `nsfwjs` package (MIT),
 * read from the package's own files (no network). Its top was fine-tuned for another task, so
 * we cut the graph at an inner block and average-pool that block's map into a feature vector;
 * the graph is fully convolutional up to there, so it runs at any input side (COIL photos are
 * 128 x 128: no upsampling to the 224 it was trained at).
 */
export interface BackboneConfig {
  /** Layer of the Keras MobileNetV2 whose output is average-pooled, e.g. block_13_expand_relu (576-d). */
  layer: string;
  /** Input side in pixels; a multiple of 32. */
  size: number;
}

export const BACKBONE_DEFAULTS: BackboneConfig = { layer: 'block_13_expand_relu', size: 128 };

interface KerasLayer {
  class_name: string;
  config: { name: string; batch_input_shape?: (number | null)[] };
}

interface BundledModel {
  modelTopology: { model_config: { config: { layers: KerasLayer[]; output_layers: [string, number, number][] } } };
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
}

/** The package's model files, as its own loader finds them (CommonJS bundles of the JSON and the base64 weights). */
function bundledMobilenet(): { model: BundledModel; weights: Buffer } {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('nsfwjs')), '..', 'models', 'mobilenet_v2');
  const model = require(join(dir, 'model.min.js')) as BundledModel;
  const shard = require(join(dir, 'group1-shard1of1.min.js')) as string;
  return { model, weights: Buffer.from(shard, 'base64') };
}

/**
 * The topology cut after `layer`, with a free input side. Layers after the cut (and their
 * weights) are dropped; the cut must keep every layer it needs, which holds for MobileNetV2's
 * sequential block order.
 */
function truncatedTopology(model: BundledModel, cfg: BackboneConfig): BundledModel['modelTopology'] {
  const topology = structuredClone(model.modelTopology);
  const layers = topology.model_config.config.layers;
  const cut = layers.findIndex((l) => l.config.name === cfg.layer);
  if (cut < 0) {
    const names = layers.filter((l) => /relu$|add$/.test(l.config.name)).map((l) => l.config.name);
    throw badInput(`MobileNetV2 has no layer "${cfg.layer}"; feature layers: ${names.join(', ')}`);
  }
  if (!Number.isInteger(cfg.size / 32) || cfg.size < 32) throw badInput(`backbone input side must be a multiple of 32 (>= 32); got ${cfg.size}`);
  layers[0].config.batch_input_shape = [null, cfg.size, cfg.size, 3];
  topology.model_config.config.layers = layers.slice(0, cut + 1);
  topology.model_config.config.output_layers = [[cfg.layer, 0, 0]];
  return topology;
}

export class Backbone {
  readonly dim: number;
  /**
   * With `memo`: features by content hash of the input pixels, for training and evaluation runs
   * that embed the same views again and again (it grows with every new picture: not for serving).
   */
  private readonly memo: Map<string, Float32Array> | null;

  constructor(
    readonly cfg: BackboneConfig,
    private readonly model: tf.LayersModel,
    memo = false,
  ) {
    this.memo = memo ? new Map() : null;
    const shape = model.outputs[0].shape;
    this.dim = shape[shape.length - 1] as number;
  }

  /** Average-pooled features [n, dim] of images [size, size, 3] in [0, 1] (the input range nsfwjs feeds it). */
  features(images: readonly Float32Array[], batch = 16): Float32Array {
    const { size } = this.cfg;
    const per = size * size * 3;
    for (const img of images) if (img.length !== per) throw badInput(`an image holds ${img.length} values; the backbone takes ${size} x ${size} x 3`);
    const out = new Float32Array(images.length * this.dim);
    const memo = this.memo;
    const keys = memo ? images.map((img) => createHash('sha1').update(new Uint8Array(img.buffer, img.byteOffset, img.byteLength)).digest('base64')) : null;
    const todo = images.flatMap((_, i) => (keys && memo!.has(keys[i]) ? [] : [i]));
    for (let from = 0; from < todo.length; from += batch) {
      const chunk = todo.slice(from, from + batch);
      const x = new Float32Array(chunk.length * per);
      chunk.forEach((i, j) => x.set(images[i], j * per));
      const pooled = tf.tidy(() => tf.mean(this.model.predict(tf.tensor4d(x, [chunk.length, size, size, 3])) as tf.Tensor, [1, 2]));
      const data = pooled.dataSync() as Float32Array;
      pooled.dispose();
      chunk.forEach((i, j) => {
        const row = data.subarray(j * this.dim, (j + 1) * this.dim);
        out.set(row, i * this.dim);
        if (keys) memo!.set(keys[i], row.slice());
      });
    }
    if (keys) keys.forEach((k, i) => out.set(memo!.get(k)!, i * this.dim));
    return out;
  }

  dispose(): void {
    this.model.dispose();
    this.memo?.clear();
  }
}

/**
 * Loads the bundled MobileNetV2 cut at `cfg.layer` (the tensor runtime must be started);
 * `memo` keeps the features of every picture it sees (see `Backbone`).
 */
export async function loadBackbone(cfg: BackboneConfig = BACKBONE_DEFAULTS, memo = false): Promise<Backbone> {
  const { model, weights } = bundledMobilenet();
  const topology = truncatedTopology(model, cfg);
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: topology as unknown as tf.io.ModelArtifacts['modelTopology'],
    weightSpecs: model.weightsManifest.flatMap((g) => g.weights),
    weightData: new Uint8Array(weights).buffer,
  };
  // strict false: the weights of the dropped top layers have no layer to go to.
  const layers = await tf.loadLayersModel(tf.io.fromMemory(artifacts), { strict: false });
  return new Backbone(cfg, layers, memo);
}
