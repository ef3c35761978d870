import type { Tensor } from '@tensorflow/tfjs';
import { badInput } from '../errors.js';
import type { DenseScorer, EvalCase, TrainData } from '../eval/types.js';
import { initTensorRuntime, matMulT, type Tf } from '../tensor/runtime.js';
import type { TextEncoder } from './model.js';
import { itemText } from './text.js';

export interface EmbeddingScorerOptions {
  name?: string;
  /**
   * Weight of the user's last history item in the case vector. Search: e(query) + w * e(last
   * item) (0 = the query alone); recommendation always uses e(last item).
   */
  historyWeight?: number;
}

/**
 * Ranks items by dot product with the encoder's vectors: e(query) . e(item) for search,
 * e(last history item) . e(item) for recommendation (a case with no history scores 0 for all).
 * Item vectors are encoded once in `fit`; query vectors are cached by text.
 */
export class EmbeddingScorer implements DenseScorer {
  readonly name: string;
  readonly batchSize = 256;
  private readonly historyWeight: number;
  private tf: Tf | undefined;
  private items: Tensor | undefined;
  private itemRows: Float32Array = new Float32Array(0);
  private readonly queryCache = new Map<string, Float32Array>();

  constructor(
    private readonly encoder: TextEncoder,
    options: EmbeddingScorerOptions = {},
  ) {
    this.name = options.name ?? 'encoder';
    this.historyWeight = options.historyWeight ?? 0;
    if (!(this.historyWeight >= 0)) throw badInput(`historyWeight must be >= 0, got ${options.historyWeight}`);
  }

  params(): Record<string, unknown> {
    return { encoder: this.encoder.version, dim: this.encoder.dim, historyWeight: this.historyWeight };
  }

  async fit(train: TrainData): Promise<void> {
    this.tf = await initTensorRuntime();
    this.itemRows = this.encoder.encode(train.items.map(itemText));
    this.items?.dispose();
    this.items = this.tf.tensor2d(this.itemRows, [train.nItems, this.encoder.dim]);
  }

  scoreBatch(cases: readonly EvalCase[], out: Float32Array): void {
    const { tf, items } = this;
    if (!tf || !items) throw badInput('EmbeddingScorer.scoreBatch called before fit');
    const dim = this.encoder.dim;
    const vectors = new Float32Array(cases.length * dim);
    const missing = [...new Set(cases.map((c) => c.query).filter((q): q is string => q !== null && !this.queryCache.has(q)))];
    if (missing.length) {
      const rows = this.encoder.encode(missing);
      missing.forEach((q, i) => {
        this.queryCache.set(q, rows.slice(i * dim, (i + 1) * dim));
      });
    }
    cases.forEach((c, b) => {
      const v = vectors.subarray(b * dim, (b + 1) * dim);
      const last = c.history.length ? c.history[c.history.length - 1] : -1;
      const lastRow = last >= 0 ? this.itemRows.subarray(last * dim, (last + 1) * dim) : undefined;
      if (c.query !== null) {
        v.set(this.queryCache.get(c.query)!);
        if (lastRow && this.historyWeight > 0) for (let j = 0; j < dim; j++) v[j] += this.historyWeight * lastRow[j];
      } else if (lastRow) {
        v.set(lastRow);
      }
    });
    const scores = tf.tidy(() => matMulT(tf.tensor2d(vectors, [cases.length, dim]), items));
    out.set(scores.dataSync() as Float32Array);
    scores.dispose();
  }
}
