import * as tf from '@tensorflow/tfjs';
import { GensearchError } from '../errors.js';
import { flattenParams, type Params, rebuildParams } from '../model/params.js';

export interface AdamConfig {
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled weight decay (AdamW), applied to matrices only (rank >= 2), not biases or LayerNorm. */
  weightDecay: number;
  /** Clip the global gradient norm to this value; 0 = no clipping. */
  clipNorm: number;
}

export const ADAM_DEFAULTS: AdamConfig = { beta1: 0.9, beta2: 0.98, eps: 1e-8, weightDecay: 0, clipNorm: 1 };

/** Everything needed to continue exactly: the step count and both moments, in flatten order. */
export interface AdamState {
  step: number;
  m: Float32Array[];
  v: Float32Array[];
}

/**
 * Adam with decoupled weight decay over a parameter tree. The moments live on the tensor
 * backend (no host round trip per step); `state()` / `fromState` copy them out and back in for
 * checkpoints, and a restored optimizer continues bit for bit.
 */
export class AdamW {
  private m: tf.Tensor[];
  private v: tf.Tensor[];
  private step: number;

  constructor(
    readonly config: AdamConfig,
    template: Params,
    state?: AdamState,
  ) {
    const leaves = flattenParams(template);
    if (state) {
      if (state.m.length !== leaves.length || state.v.length !== leaves.length) {
        throw new GensearchError('CONFLICT', `optimizer state has ${state.m.length} moments for ${leaves.length} parameters`);
      }
      this.m = leaves.map(([, t], i) => tf.tensor(state.m[i], t.shape));
      this.v = leaves.map(([, t], i) => tf.tensor(state.v[i], t.shape));
      this.step = state.step;
    } else {
      this.m = leaves.map(([, t]) => tf.zerosLike(t));
      this.v = leaves.map(([, t]) => tf.zerosLike(t));
      this.step = 0;
    }
  }

  get steps(): number {
    return this.step;
  }

  /**
   * One update with gradients in flatten order; returns the new tree and the gradient norm
   * before clipping. Disposes the old parameter tensors (not the gradients).
   */
  async apply<P extends Params>(params: P, grads: readonly tf.Tensor[], lr: number): Promise<{ params: P; gradNorm: number }> {
    const leaves = flattenParams(params);
    if (grads.length !== leaves.length) {
      throw new GensearchError('INTERNAL', `AdamW.apply: ${grads.length} gradients for ${leaves.length} parameters`);
    }
    const { beta1, beta2, eps, weightDecay, clipNorm } = this.config;
    this.step++;
    const t = this.step;
    const stepSize = (lr * Math.sqrt(1 - beta2 ** t)) / (1 - beta1 ** t);
    const normT = tf.tidy(() => tf.sqrt(tf.addN(grads.map((g) => tf.sum(tf.square(g))))));
    const gradNorm = (await normT.data())[0];
    normT.dispose();
    // A non-finite norm means a diverged step: refuse it rather than poison the moments.
    if (!Number.isFinite(gradNorm)) {
      throw new GensearchError('CONFLICT', `gradient norm is ${gradNorm} at step ${t}; lower the learning rate or check the data`);
    }
    const scale = clipNorm > 0 && gradNorm > clipNorm ? clipNorm / gradNorm : 1;
    const next: tf.Tensor[] = [];
    for (let i = 0; i < leaves.length; i++) {
      const p = leaves[i][1];
      const [m, v, np] = tf.tidy(() => {
        const g = scale === 1 ? grads[i] : tf.mul(grads[i], scale);
        const m = tf.add(tf.mul(this.m[i], beta1), tf.mul(g, 1 - beta1));
        const v = tf.add(tf.mul(this.v[i], beta2), tf.mul(tf.square(g), 1 - beta2));
        let update = tf.mul(tf.div(m, tf.add(tf.sqrt(v), eps)), stepSize);
        if (weightDecay > 0 && p.rank >= 2) update = tf.add(update, tf.mul(p, lr * weightDecay));
        return [m, v, tf.sub(p, update)];
      });
      this.m[i].dispose();
      this.v[i].dispose();
      p.dispose();
      this.m[i] = m;
      this.v[i] = v;
      next.push(np);
    }
    return { params: rebuildParams(params, next), gradNorm };
  }

  async state(): Promise<AdamState> {
    const read = (ts: tf.Tensor[]) => Promise.all(ts.map(async (t) => (await t.data<'float32'>()).slice()));
    return { step: this.step, m: await read(this.m), v: await read(this.v) };
  }

  dispose(): void {
    for (const t of [...this.m, ...this.v]) t.dispose();
  }
}
