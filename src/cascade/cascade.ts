import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { trainingFingerprint } from '../baselines/sasrec.js';
import { notFound } from '../errors.js';
import type { EvalCase, Protocol, RankedList, TopKRanker, TrainData } from '../eval/types.js';
import { configHash } from '../model/config.js';
import { disposeParams } from '../model/params.js';
import { initTensorRuntime } from '../tensor/runtime.js';
import { loadTrainedParams } from '../tensor/trainer.js';
import { CandidateGenerator, type Candidates, N_FEATURES, type PrerankWeights } from './candidates.js';
import { type AlignedEmbeddings, loadAlignedEmbeddings } from './embeddings.js';
import { type CascadeKnobs, candidateOptions, prerankOf, rankerConfig } from './knobs.js';
import { type RankerParams, rankerObjective, scoreRankInputs } from './ranker.js';
import { readPrerank, servingInput, type TrainedRanker } from './train.js';

/**
 * Where the cascade trained on this training view, encoder and recipe lives. The knobs that
 * only tune (validation size) are part of the recipe too: they change what is kept.
 */
export function cascadeModelDir(home: string, train: Pick<TrainData, 'dataset' | 'nItems' | 'sequences'>, knobs: CascadeKnobs, encoderVersion: string): string {
  return join(home, 'models', 'cascade', `${train.dataset}-${trainingFingerprint(train)}-${configHash({ knobs, encoderVersion }).slice(0, 8)}`);
}

export interface CascadeOptions {
  /** Run the ranking stage (`cascade`), or stop after the pre-rank (`cascade-norank`). */
  rank: boolean;
  /** Aligned embeddings to use; default those `gensearch embed` wrote under the home. */
  embeddings?: AlignedEmbeddings;
  /** A trained ranker and pre-rank weights to use; default the model folder's. */
  model?: TrainedRanker & { prerank: PrerankWeights };
}

/**
 * The search cascade as a ranking system: recall (BM25, ANN, ItemCF) -> pre-rank (two towers
 * blended with the recall scores) -> rank (the DIN-style ranker over the top `prerankSize`).
 * The list is the ranked top (scores = the ranker's probabilities), then the rest of the
 * recalled candidates in pre-rank order (scores below 0, decreasing); items no channel recalled
 * are not listed. Without the ranking stage the whole list is in pre-rank order.
 */
export class Cascade implements TopKRanker {
  readonly protocols: readonly Protocol[] = ['search'];
  readonly batchSize = 64;
  private gen: CandidateGenerator | undefined;
  private ranker: TrainedRanker | undefined;
  private ownsRanker = false;
  private prerank: PrerankWeights;
  private modelDir = '';

  constructor(
    readonly name: string,
    readonly knobs: CascadeKnobs,
    private readonly home: string,
    private readonly options: CascadeOptions,
  ) {
    this.prerank = options.model?.prerank ?? prerankOf(knobs);
  }

  params(): Record<string, unknown> {
    return { ...this.knobs, prerankUser: this.prerank.user, prerankBm25: this.prerank.bm25, prerankItemcf: this.prerank.itemcf, model: this.modelDir };
  }

  async fit(train: TrainData): Promise<void> {
    const emb = this.options.embeddings ?? (await loadAlignedEmbeddings(this.home, train.dataset, train.items));
    this.modelDir = cascadeModelDir(this.home, train, this.knobs, emb.version);
    if (!this.options.model) {
      const stored = readPrerank(this.modelDir);
      if (stored) this.prerank = stored.weights;
    }
    this.gen = new CandidateGenerator(emb, candidateOptions(this.knobs, this.prerank));
    this.gen.fit(train);
    if (!this.options.rank) return;
    if (this.options.model) {
      this.ranker = this.options.model;
      return;
    }
    if (!existsSync(join(this.modelDir, 'best.json'))) {
      throw notFound(
        `a trained cascade ranker for dataset "${train.dataset}" with these knobs (${this.modelDir})`,
        `run \`gensearch train-baseline cascade --dataset ${train.dataset}\` with the same --set options first`,
      );
    }
    await initTensorRuntime();
    const cfg = rankerConfig(this.knobs, emb.dim, N_FEATURES);
    this.ranker = { params: loadTrainedParams(rankerObjective(cfg), this.modelDir).params as RankerParams, cfg };
    this.ownsRanker = true;
  }

  /** Recall and pre-rank: every case's candidates, best pre-rank first. */
  candidates(cases: readonly EvalCase[]): Candidates[] {
    if (!this.gen) throw notFound('fitted cascade', 'call fit() before ranking');
    return this.gen.generate(cases);
  }

  /** The generator (recall channels and pre-rank) for stage-by-stage use, e.g. benchmarks. */
  generator(): CandidateGenerator {
    if (!this.gen) throw notFound('fitted cascade', 'call fit() before ranking');
    return this.gen;
  }

  /** The ranking stage: probabilities of the top `prerankSize` candidates of each case. */
  rank(cases: readonly EvalCase[], cands: readonly Candidates[]): Float32Array[] {
    if (!this.ranker || !this.gen) throw notFound('trained cascade ranker', 'this cascade runs without its ranking stage');
    const inputs = cands.map((c, i) => servingInput(c, cases[i].history, this.knobs.prerankSize));
    return scoreRankInputs(this.ranker.params, this.ranker.cfg, inputs, this.gen.emb.items);
  }

  rankBatch(cases: readonly EvalCase[]): RankedList[] {
    const cands = this.candidates(cases);
    const probs = this.options.rank ? this.rank(cases, cands) : undefined;
    return cands.map((c, b) => {
      const n = c.items.length;
      const items = new Int32Array(n);
      const scores = new Float32Array(n);
      let head = 0;
      if (probs) {
        const p = probs[b];
        head = p.length;
        const order = Array.from(p.keys()).sort((x, y) => p[y] - p[x] || x - y);
        order.forEach((from, to) => {
          items[to] = c.items[from];
          scores[to] = p[from];
        });
      }
      for (let i = head; i < n; i++) {
        items[i] = c.items[i];
        scores[i] = -(i + 1) / (n + 1);
      }
      return { items, scores };
    });
  }

  dispose(): void {
    if (this.ranker && this.ownsRanker) disposeParams(this.ranker.params);
    this.ranker = undefined;
  }
}
