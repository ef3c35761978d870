import { badInput } from '../errors.js';
import type { DenseScorer, EvalCase, Protocol, TrainData } from '../eval/types.js';

export interface BlendPart {
  system: DenseScorer;
  weight: number;
}

/**
 * A weighted sum of dense scorers, each row scaled by its maximum first so weights compare
 * systems rather than score units: score(j) = sum_c w_c * s_c(j) / max_j' s_c(j').
 * BM25 + w * ItemCF is the personalised search baseline.
 */
export class Blend implements DenseScorer {
  readonly protocols?: readonly Protocol[];
  private buffer: Float32Array = new Float32Array(0);

  constructor(
    readonly name: string,
    private readonly parts: readonly BlendPart[],
  ) {
    if (parts.length === 0) throw badInput(`blend "${name}" needs at least one part`);
    // Serves a protocol only if every part does.
    const sets = parts.map((p) => p.system.protocols).filter((p): p is readonly Protocol[] => p !== undefined);
    if (sets.length) this.protocols = sets.reduce((a, b) => a.filter((x) => b.includes(x)));
  }

  params(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const { system, weight } of this.parts) {
      out[`${system.name}.weight`] = weight;
      for (const [k, v] of Object.entries(system.params?.() ?? {})) out[`${system.name}.${k}`] = v;
    }
    return out;
  }

  async fit(train: TrainData): Promise<void> {
    for (const { system } of this.parts) await system.fit(train);
  }

  async scoreBatch(cases: readonly EvalCase[], out: Float32Array): Promise<void> {
    const n = out.length / cases.length;
    if (this.buffer.length < out.length) this.buffer = new Float32Array(out.length);
    const part = this.buffer.subarray(0, out.length);
    for (const { system, weight } of this.parts) {
      if (weight === 0) continue;
      part.fill(0);
      await system.scoreBatch(cases, part);
      for (let b = 0; b < cases.length; b++) {
        const from = b * n;
        let max = 0;
        for (let j = from; j < from + n; j++) if (part[j] > max) max = part[j];
        if (max <= 0) continue;
        const scale = weight / max;
        for (let j = from; j < from + n; j++) out[j] += scale * part[j];
      }
    }
  }
}
