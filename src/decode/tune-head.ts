import { badInput } from '../errors.js';
import { mean, perCaseMetrics, type MetricKey } from '../eval/metrics.js';
import type { EvalCase } from '../eval/types.js';
import { progress } from '../progress.js';
import type { DecodeWorkers } from './decode-workers.js';
import { type GenerateOptions, generateItems, type HeadKnobs, headKnobsOf, POPULARITY_PENALTY, PRIOR_WEIGHTS, promptsPerBatch, type PriorWeight, priorLifts, type RequestKind, requestKind, type ScoreParts } from './generate.js';
import type { HeadPriors } from './priors.js';
import { type GenerativeModel, requestPrompt } from './ranker.js';

/** The knobs the tuner weighs; the number of proposals is fixed, since it re-ranks one decoding's candidates. */
export const TUNED_HEAD_KNOBS = ['itemWeight', ...PRIOR_WEIGHTS] as const;
export type TunedHeadKnob = (typeof TUNED_HEAD_KNOBS)[number];
export type TunedHeadKnobs = Record<TunedHeadKnob, number>;

export const HEAD_TUNE_GRID: Readonly<Record<TunedHeadKnob, readonly number[]>> = {
  itemWeight: [1, 2, 4, 8, 16, 32],
  coPurchaseWeight: [0, 0.25, 0.5, 1, 2, 4, 8, 16],
  textMatchWeight: [0, 4, 8, 16, 32],
  queryCosineWeight: [0, 0.1, 0.2, 0.4, 0.8],
  userCosineWeight: [0, 0.4, 0.8, 1.2, 1.6, 2.4],
  historyCosineWeight: [0, 0.4, 0.8, 1.2, 1.6, 2.4, 3.2],
};

export interface HeadTuneOptions {
  beam: number;
  /** The head's proposals in the one decoding: every trial re-ranks these candidates (default 150). */
  proposals?: number;
  /** What to maximise, e.g. "ndcg@10". */
  metric: MetricKey;
  /** Rounds of coordinate search (default 2). */
  passes?: number;
  /** Where the search starts (default the kind's `HEAD_DEFAULTS`); also the weights the proposals are chosen with. */
  start?: Partial<HeadKnobs>;
  popularityPenalty?: number;
  itemLogCounts?: Float32Array;
  /** Decode over these worker threads (default the main thread). */
  workers?: DecodeWorkers;
  /** Called with a line per improvement and per pass. */
  log?: (line: string) => void;
}

export interface HeadTuneResult {
  kind: RequestKind;
  metric: MetricKey;
  start: { knobs: TunedHeadKnobs; score: number };
  best: { knobs: TunedHeadKnobs; score: number };
  trials: { knobs: TunedHeadKnobs; score: number }[];
  /** Share of the cases whose first target is among the candidates: the most any knobs can reach. */
  candidateRecall: number;
}

/** One case's candidates and the parts of their scores (`ScoreParts` and `priorLifts`). */
interface CaseCandidates extends ScoreParts {
  lifts: Record<PriorWeight, Float32Array>;
}

/**
 * Tunes the item head's weight and its priors' weights for one request kind on `cases` (which
 * must be validation cases, all of that kind): the cases are decoded once with `proposals` head
 * proposals, keeping every candidate's score parts, and each trial of a coordinate search
 * re-ranks those candidates as `generateItems` would with its knobs. A trial costs a re-sort,
 * not a decoding, so the grid is searched in seconds; the proposals a trial's knobs would pick
 * are approximated by the many picked at the start, so confirm the result with `gensearch eval`.
 */
export async function tuneHeadKnobs(model: GenerativeModel, cases: readonly EvalCase[], priors: HeadPriors | undefined, options: HeadTuneOptions): Promise<HeadTuneResult> {
  if (!model.cfg.itemHead) throw badInput('tuning the head needs a model trained with an item head (itemHead > 0)');
  if (cases.length === 0) throw badInput('no cases to tune on');
  const prompts = cases.map((c) => requestPrompt(model, c.history, c.query));
  const kind = requestKind(prompts[0]);
  if (prompts.some((p) => requestKind(p) !== kind)) throw badInput('tune the head on cases of one kind: all searches or all recommendations');
  const k = Number(options.metric.split('@')[1]);
  const start = headKnobsOf(model.cfg, kind, options.start ?? {});
  const startKnobs = Object.fromEntries(TUNED_HEAD_KNOBS.map((key) => [key, start[key]])) as TunedHeadKnobs;
  const penalty = options.popularityPenalty ?? (options.itemLogCounts ? POPULARITY_PENALTY : 0);
  const candidates = await decodeCandidates(model, cases, prompts, priors, { ...start, beam: options.beam, k: 1, headCandidates: options.proposals ?? 150, popularityPenalty: penalty, itemLogCounts: options.itemLogCounts }, options.workers);
  const log = options.log ?? (() => {});
  // A prior no candidate has (a recommendation's text match, the cosines without embeddings) stays where it starts.
  const inert: TunedHeadKnob[] = PRIOR_WEIGHTS.filter((w) => candidates.every((c) => c.lifts[w].every((x) => x === 0)));
  const trials: HeadTuneResult['trials'] = [];
  const scores = new Map<string, number>();
  const evaluate = (knobs: TunedHeadKnobs): number => {
    const key = JSON.stringify(knobs);
    let score = scores.get(key);
    if (score === undefined) {
      score = metricOf(candidates, cases, knobs, options.metric, k);
      scores.set(key, score);
      trials.push({ knobs, score });
    }
    return score;
  };
  let best = { knobs: startKnobs, score: evaluate(startKnobs) };
  const startScore = best.score;
  log(`start ${format(startKnobs)}: ${options.metric} ${startScore.toFixed(5)}`);
  for (let pass = 0; pass < (options.passes ?? 2); pass++) {
    for (const key of TUNED_HEAD_KNOBS) {
      if (inert.includes(key)) continue;
      for (const value of HEAD_TUNE_GRID[key]) {
        if (value === best.knobs[key]) continue;
        const knobs = { ...best.knobs, [key]: value };
        const score = evaluate(knobs);
        if (score > best.score) {
          best = { knobs, score };
          log(`  ${format(knobs)}: ${options.metric} ${score.toFixed(5)}`);
        }
      }
    }
    log(`pass ${pass + 1}: ${format(best.knobs)}: ${options.metric} ${best.score.toFixed(5)}`);
  }
  const found = candidates.filter((c, i) => c.items.includes(cases[i].targets[0])).length;
  return { kind, metric: options.metric, start: { knobs: startKnobs, score: startScore }, best, trials, candidateRecall: found / cases.length };
}

/** The cases decoded once with the start knobs, each candidate with its score parts; the history is left out as in evaluation. */
async function decodeCandidates(
  model: GenerativeModel,
  cases: readonly EvalCase[],
  prompts: ReturnType<typeof requestPrompt>[],
  priors: HeadPriors | undefined,
  options: GenerateOptions,
  workers?: DecodeWorkers,
): Promise<CaseCandidates[]> {
  const n = model.cfg.nItems;
  const out: CaseCandidates[] = [];
  const batch = promptsPerBatch(options.beam, options.maxRows) * Math.max(1, workers?.size ?? 1);
  const bar = progress('decoding the tuning candidates', cases.length, 'cases');
  for (let from = 0; from < cases.length; from += batch) {
    const part = cases.slice(from, from + batch);
    const prior = priors && part.map((c) => priors.of(c.history, c.query));
    const request: GenerateOptions = { ...options, priors: prior, itemVectors: priors?.embeddings?.items, exclude: part.map((c) => c.history), scoreParts: true };
    const chunk = prompts.slice(from, from + batch);
    const { parts } = await (workers ? workers.generate(chunk, request) : generateItems(model, model.pack, model.trie, chunk, request));
    parts!.forEach((p, i) => out.push({ ...p, lifts: priorLifts(prior?.[i], p.items, n, request.itemVectors) }));
    bar.tick(part.length);
  }
  bar.stop();
  return out;
}

/** The metric's mean over the cases with the candidates ranked as `generateItems` ranks them at `knobs`. */
function metricOf(candidates: readonly CaseCandidates[], cases: readonly EvalCase[], knobs: TunedHeadKnobs, metric: MetricKey, k: number): number {
  const offsets = new Int32Array(cases.length + 1);
  cases.forEach((c, i) => (offsets[i + 1] = offsets[i] + c.targets.length));
  const ranks = new Int32Array(offsets[cases.length]);
  candidates.forEach((c, i) => {
    const score = Float32Array.from(c.items, (_, j) => {
      let head = c.head[j];
      for (const w of PRIOR_WEIGHTS) head += knobs[w] * c.lifts[w][j];
      return c.sid[j] + knobs.itemWeight * head;
    });
    // Rank = 1 + candidates scored higher, or equal and earlier (the list's stable sort).
    cases[i].targets.forEach((target, t) => {
      const at = c.items.indexOf(target);
      if (at < 0) return;
      let rank = 1;
      for (let j = 0; j < score.length; j++) if (score[j] > score[at] || (score[j] === score[at] && j < at)) rank++;
      ranks[offsets[i] + t] = rank;
    });
  });
  return mean(perCaseMetrics({ offsets, ranks }, [k]).get(metric)!);
}

function format(knobs: TunedHeadKnobs): string {
  return TUNED_HEAD_KNOBS.map((key) => `${key} ${knobs[key]}`).join(', ');
}
