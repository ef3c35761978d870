import { trainingCounts } from '../eval/popularity.js';
import type { DenseScorer, EvalCase, TrainData } from '../eval/types.js';

/** How often each item occurs in the training sequences, as the scorers' floats. */
export function itemCounts(train: TrainData): Float32Array {
  return Float32Array.from(trainingCounts(train));
}

/** Most popular items first, the same list for everyone (ties by lower item index). */
export class Popular implements DenseScorer {
  readonly name = 'popular';
  private counts: Float32Array = new Float32Array(0);

  fit(train: TrainData): void {
    this.counts = itemCounts(train);
  }

  params(): Record<string, unknown> {
    return {};
  }

  scoreBatch(cases: readonly EvalCase[], out: Float32Array): void {
    const n = this.counts.length;
    for (let b = 0; b < cases.length; b++) out.set(this.counts, b * n);
  }
}
