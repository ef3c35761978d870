import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { badInput } from '../errors.js';
import type { EvalCase, TrainData } from '../eval/types.js';
import { progress } from '../progress.js';
import { ADAM_DEFAULTS } from '../tensor/adam.js';
import type { ExampleSource } from '../tensor/batching.js';
import { Rng } from '../tensor/rng.js';
import { initTensorRuntime } from '../tensor/runtime.js';
import { type TrainResult, train as trainLoop } from '../tensor/trainer.js';
import { spaced } from '../tasks/train.js';
import { trainingFingerprint } from '../baselines/sasrec.js';
import { CandidateGenerator, type Candidates, CHANNELS, type Channel, FEATURES, N_FEATURES, type PrerankWeights, prerankScore, reprerank } from './candidates.js';
import type { AlignedEmbeddings } from './embeddings.js';
import { type CascadeKnobs, candidateOptions, prerankOf, rankerConfig } from './knobs.js';
import { calibration, collateRankInputs, type RankerConfig, type RankerParams, type RankInput, rankerSpec, scoreRankInputs } from './ranker.js';

/** Recall and pre-rank generation runs in chunks of this many cases (bounded dense rows). */
const CHUNK = 128;

/** Candidates of many cases, in chunks, with a progress bar. */
export function generateAll(gen: CandidateGenerator, cases: readonly EvalCase[], label: string, keep: (c: Candidates, i: number) => void): void {
  const bar = progress(label, cases.length, 'cases');
  for (let from = 0; from < cases.length; from += CHUNK) {
    const part = cases.slice(from, from + CHUNK);
    gen.generate(part).forEach((c, i) => keep(c, from + i));
    bar.tick(part.length);
  }
  bar.stop();
}

/**
 * The ranker's own training cases, one per user: the last item of the training prefix is the
 * target, the items before it the history. The features come from a recall fitted on the
 * prefix without that item (`view`), so ItemCF and popularity never saw the pair they score,
 * as at evaluation time.
 */
export function stepBack(train: TrainData): { view: TrainData; cases: EvalCase[] } {
  const cases: EvalCase[] = [];
  const sequences = train.sequences.map((s, user) => {
    if (s.length < 2) return s;
    const target = s[s.length - 1];
    cases.push({ user, history: s.slice(0, -1), query: train.itemQueries[target], targets: Int32Array.of(target) });
    return s.slice(0, -1);
  });
  return { view: { ...train, sequences }, cases };
}

/**
 * A labelled training (or held-out) case: the target and negatives drawn from its candidates:
 * `hard` uniformly from the pre-rank cut (the items the ranker faces when serving, so their
 * features are distributed as there: taking only the best pre-ranked ones would teach it that
 * a high pre-rank score means "not bought"), then `random` from the rest of the recalled set.
 * Only cases whose target survives the pre-rank cut qualify: the ranker never sees the others.
 */
export function labelledInput(c: Candidates, history: Int32Array, target: number, k: CascadeKnobs, rng: Rng): RankInput | undefined {
  const at = c.items.indexOf(target);
  const cut = Math.min(k.prerankSize, c.items.length);
  if (at < 0 || at >= cut) return undefined;
  const draw = (from: number, to: number, n: number): number[] => {
    const pool: number[] = [];
    for (let i = from; i < to; i++) if (i !== at) pool.push(i);
    return rng.shuffle(pool).slice(0, n);
  };
  const picked = [at, ...draw(0, cut, k.hardNegatives), ...draw(cut, c.items.length, k.randomNegatives)];
  const features = new Float32Array(picked.length * N_FEATURES);
  picked.forEach((i, j) => features.set(c.features.subarray(i * N_FEATURES, (i + 1) * N_FEATURES), j * N_FEATURES));
  const labels = new Float32Array(picked.length);
  labels[0] = 1;
  return { history, query: c.query, items: Int32Array.from(picked, (i) => c.items[i]), features, labels };
}

/** The ranker's input for serving: the top `size` pre-ranked candidates. */
export function servingInput(c: Candidates, history: Int32Array, size: number): RankInput {
  const n = Math.min(size, c.items.length);
  return { history, query: c.query, items: c.items.subarray(0, n), features: c.features.subarray(0, n * N_FEATURES) };
}

/** Recall of every channel at its quota, of the merged set at its size, and of the pre-rank cut. */
export interface RecallStats {
  cases: number;
  channels: Record<Channel, { recall: number; meanSize: number }>;
  merged: { recall: number; meanSize: number };
  prerank: { recall: number; size: number };
}

export class RecallCounter {
  private n = 0;
  private readonly hits: Record<Channel | 'merged' | 'prerank', number> = { bm25: 0, ann: 0, itemcf: 0, merged: 0, prerank: 0 };
  private readonly sizes: Record<Channel | 'merged', number> = { bm25: 0, ann: 0, itemcf: 0, merged: 0 };

  constructor(private readonly prerankSize: number) {}

  add(c: Candidates, target: number): void {
    this.n++;
    for (const ch of CHANNELS) {
      if (c.channelItems[ch].includes(target)) this.hits[ch]++;
      this.sizes[ch] += c.channelItems[ch].length;
    }
    const at = c.items.indexOf(target);
    if (at >= 0) this.hits.merged++;
    if (at >= 0 && at < this.prerankSize) this.hits.prerank++;
    this.sizes.merged += c.items.length;
  }

  stats(): RecallStats {
    const n = Math.max(1, this.n);
    const of = (k: Channel | 'merged') => ({ recall: this.hits[k] / n, meanSize: this.sizes[k] / n });
    return {
      cases: this.n,
      channels: { bm25: of('bm25'), ann: of('ann'), itemcf: of('itemcf') },
      merged: of('merged'),
      prerank: { recall: this.hits.prerank / n, size: this.prerankSize },
    };
  }
}

const PRERANK_GRID: Record<keyof PrerankWeights, number[]> = {
  user: [0, 0.25, 0.5, 1, 2],
  bm25: [0, 0.25, 0.5, 1, 2],
  itemcf: [0, 0.5, 1, 2, 4, 8],
};

/**
 * Coordinate search of the pre-rank weights (two rounds over PRERANK_GRID) maximising the
 * share of cases whose target the pre-rank keeps in its top `size`; ties keep the current value.
 */
export function tunePrerank(cands: readonly Candidates[], targets: readonly number[], start: PrerankWeights, size: number): { weights: PrerankWeights; recall: number; startRecall: number } {
  const recall = (w: PrerankWeights): number => {
    let kept = 0;
    cands.forEach((c, i) => {
      const at = c.items.indexOf(targets[i]);
      if (at < 0) return;
      const f = (j: number) => c.features.subarray(j * N_FEATURES, (j + 1) * N_FEATURES);
      const mine = prerankScore(f(at), w);
      let above = 0;
      for (let j = 0; j < c.items.length && above < size; j++) {
        const s = prerankScore(f(j), w);
        if (s > mine || (s === mine && j < at)) above++;
      }
      if (above < size) kept++;
    });
    return kept / Math.max(1, cands.length);
  };
  let best = { ...start };
  const startRecall = recall(best);
  let bestRecall = startRecall;
  for (let round = 0; round < 2; round++) {
    for (const key of Object.keys(PRERANK_GRID) as (keyof PrerankWeights)[]) {
      for (const value of PRERANK_GRID[key]) {
        const w = { ...best, [key]: value };
        const r = recall(w);
        if (r > bestRecall) {
          best = w;
          bestRecall = r;
        }
      }
    }
  }
  return { weights: best, recall: bestRecall, startRecall };
}

/** Ranking metrics of the full cascade on held-out cases from the ranker's probabilities. */
export function rankedMetrics(scores: readonly Float32Array[], inputs: readonly RankInput[], targets: readonly number[]): Record<string, number> {
  let ndcg = 0;
  let hr = 0;
  let mrr = 0;
  inputs.forEach((x, i) => {
    const at = x.items.indexOf(targets[i]);
    if (at < 0) return;
    const s = scores[i];
    let rank = 1;
    for (let j = 0; j < s.length; j++) if (s[j] > s[at] || (s[j] === s[at] && j < at)) rank++;
    if (rank <= 10) {
      hr++;
      ndcg += 1 / Math.log2(rank + 1);
      mrr += 1 / rank;
    }
  });
  const n = Math.max(1, inputs.length);
  return { 'ndcg@10': ndcg / n, 'recall@10': hr / n, 'mrr@10': mrr / n };
}

export interface PrerankFile {
  weights: PrerankWeights;
  tuned: boolean;
  /** Validation cases the weights were chosen on, and the pre-rank recall before / after. */
  cases: number;
  recallBefore: number;
  recallAfter: number;
}

export const PRERANK_FILE = 'prerank.json';

export function readPrerank(dir: string): PrerankFile | undefined {
  const path = join(dir, PRERANK_FILE);
  if (!existsSync(path)) return undefined;
  const p = JSON.parse(readFileSync(path, 'utf8')) as PrerankFile;
  if (!p?.weights || !['user', 'bm25', 'itemcf'].every((k) => typeof (p.weights as unknown as Record<string, unknown>)[k] === 'number')) {
    throw badInput(`${path} lacks pre-rank weights user, bm25, itemcf; retrain with \`gensearch train-baseline cascade\``);
  }
  return p;
}

export interface CascadeTrainOptions {
  knobs: CascadeKnobs;
  emb: AlignedEmbeddings;
  /** Validation cases (search protocol): pre-rank tuning, early stopping, calibration. */
  valid: readonly EvalCase[];
  outDir: string;
  resume?: boolean;
  checkpointEverySteps?: number;
  maxSteps?: number;
  log?: (message: string) => void;
}

export interface CascadeTrainResult {
  params: RankerParams;
  cfg: RankerConfig;
  prerank: PrerankWeights;
  train: TrainResult;
  /** Training cases with the target in the pre-rank cut (the others cannot teach the ranker). */
  trainingCases: number;
  recall: RecallStats;
  prerankFile: PrerankFile;
  /** Log-loss and ECE of the best model on held-out validation pairs, sampled like training. */
  calibration: ReturnType<typeof calibration> & { pairs: number };
  validation: Record<string, number>;
}

/** The ranker's trained parameters with what it needs to serve. */
export interface TrainedRanker {
  params: RankerParams;
  cfg: RankerConfig;
}

/**
 * Trains the cascade on a training view: (1) recall + features for validation cases, (2) the
 * pre-rank weights tuned on them, (3) the ranker's training cases from the step-back view with
 * sampled negatives, (4) the ranker trained with the shared trainer (checkpoints, resume,
 * early stopping on validation NDCG@10 of the full cascade), (5) calibration on held-out pairs.
 */
export async function trainCascade(train: TrainData, options: CascadeTrainOptions): Promise<CascadeTrainResult> {
  await initTensorRuntime();
  const { knobs, emb } = options;
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const valid = knobs.validCases > 0 ? spaced(options.valid, knobs.validCases) : [...options.valid];
  if (valid.length === 0) throw badInput('cascade training needs validation cases (search protocol)');
  const validTargets = valid.map((c) => c.targets[0]);

  const gen = new CandidateGenerator(emb, candidateOptions(knobs));
  gen.fit(train);
  let validCands: Candidates[] = [];
  generateAll(gen, valid, 'recall (validation)', (c) => validCands.push(c));
  const start = prerankOf(knobs);
  const tuned = knobs.tune ? tunePrerank(validCands, validTargets, start, knobs.prerankSize) : undefined;
  const prerank = tuned?.weights ?? start;
  validCands = validCands.map((c) => reprerank(c, prerank));
  const recallCounter = new RecallCounter(knobs.prerankSize);
  validCands.forEach((c, i) => recallCounter.add(c, validTargets[i]));
  const prerankFile: PrerankFile = {
    weights: prerank,
    tuned: tuned !== undefined,
    cases: valid.length,
    recallBefore: tuned?.startRecall ?? recallCounter.stats().prerank.recall,
    recallAfter: recallCounter.stats().prerank.recall,
  };
  mkdirSync(options.outDir, { recursive: true });
  writeFileSync(join(options.outDir, PRERANK_FILE), `${JSON.stringify(prerankFile, null, 2)}\n`);
  log(`pre-rank weights ${JSON.stringify(prerank)}: recall@${knobs.prerankSize} ${prerankFile.recallBefore.toFixed(4)} -> ${prerankFile.recallAfter.toFixed(4)}`);

  const back = stepBack(train);
  const backGen = new CandidateGenerator(emb, candidateOptions(knobs, prerank));
  backGen.fit(back.view);
  const rng = new Rng(knobs.seed);
  const examples: RankInput[] = [];
  generateAll(backGen, back.cases, 'recall (training cases)', (c, i) => {
    const x = labelledInput(c, back.cases[i].history, back.cases[i].targets[0], knobs, rng);
    if (x) examples.push(x);
  });
  if (examples.length === 0) throw badInput('no training case has its target among the pre-ranked candidates: the ranker has nothing to learn from');
  const held: RankInput[] = [];
  validCands.forEach((c, i) => {
    const x = labelledInput(c, valid[i].history, validTargets[i], knobs, rng);
    if (x) held.push(x);
  });
  const serving = validCands.map((c, i) => servingInput(c, valid[i].history, knobs.prerankSize));
  const cfg = rankerConfig(knobs, emb.dim, N_FEATURES);
  const data: ExampleSource = {
    size: examples.length,
    collate: (indices) => collateRankInputs(Array.from(indices, (i) => examples[i]), cfg, emb.items),
  };
  const result = await trainLoop({
    spec: rankerSpec(cfg),
    data,
    config: {
      epochs: knobs.epochs,
      batchSize: knobs.batchSize,
      lr: knobs.lr,
      warmupSteps: 50,
      schedule: 'constant',
      adam: ADAM_DEFAULTS,
      seed: knobs.seed,
      patience: knobs.patience,
      bucketByLength: false,
    },
    outDir: options.outDir,
    resume: options.resume,
    identity: { dataset: train.dataset, fingerprint: trainingFingerprint(train), encoder: emb.version, prerank, features: FEATURES, knobs },
    checkpointEverySteps: options.checkpointEverySteps,
    maxSteps: options.maxSteps,
    log,
    monitor: 'ndcg@10',
    validate: (params) => {
      const p = params as RankerParams;
      const metrics = rankedMetrics(scoreRankInputs(p, cfg, serving, emb.items), serving, validTargets);
      const cal = heldOutCalibration(p, cfg, held, emb.items);
      return { ...metrics, logLoss: cal.logLoss, ece: cal.ece };
    },
  });
  const params = result.params as RankerParams;
  return {
    params,
    cfg,
    prerank,
    train: result,
    trainingCases: examples.length,
    recall: recallCounter.stats(),
    prerankFile,
    calibration: { ...heldOutCalibration(params, cfg, held, emb.items), pairs: held.reduce((n, x) => n + x.items.length, 0) },
    validation: result.state.best?.metrics ?? {},
  };
}

function heldOutCalibration(p: RankerParams, cfg: RankerConfig, held: readonly RankInput[], itemRows: Float32Array): ReturnType<typeof calibration> {
  const scores = scoreRankInputs(p, cfg, held, itemRows);
  const probs: number[] = [];
  const labels: number[] = [];
  held.forEach((x, i) => {
    for (let j = 0; j < x.items.length; j++) {
      probs.push(scores[i][j]);
      labels.push(x.labels![j]);
    }
  });
  return calibration(probs, labels);
}
