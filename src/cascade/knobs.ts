import { badInput } from '../errors.js';
import type { HnswParams } from './ann.js';
import type { CandidateOptions, PrerankWeights } from './candidates.js';
import type { RankerConfig } from './ranker.js';

/** Every knob of the cascade, as numbers (so `--set cascade.knob=value` can carry them). */
export interface CascadeKnobs {
  /** Recall: candidates per channel before dedup. */
  quotaBm25: number;
  quotaAnn: number;
  quotaItemcf: number;
  /** HNSW graph of the ANN channel. */
  connectivity: number;
  expansionAdd: number;
  expansionSearch: number;
  /** User tower: last items read, and recency decay of their weights. */
  userHistory: number;
  userRecency: number;
  /** Pre-rank blend weights (training tunes them on validation and keeps the tuned ones). */
  prerankUser: number;
  prerankBm25: number;
  prerankItemcf: number;
  /** Candidates the pre-rank passes to the ranker. */
  prerankSize: number;
  /** Ranker: history items attended to, attention and MLP widths, dropout. */
  historyLen: number;
  attnDim: number;
  hidden: number;
  dropout: number;
  /** Negatives per training case: drawn from the pre-rank cut, and from the rest of the recalled set. */
  hardNegatives: number;
  randomNegatives: number;
  lr: number;
  /** Cases per optimizer step (each with 1 + hardNegatives + randomNegatives pairs). */
  batchSize: number;
  epochs: number;
  patience: number;
  seed: number;
  /** Validation cases used for pre-rank tuning, early stopping and calibration (0 = all). */
  validCases: number;
  /** 1: tune the pre-rank weights on validation before training the ranker; 0: keep the knobs. */
  tune: number;
}

export const CASCADE_DEFAULTS: CascadeKnobs = {
  quotaBm25: 200,
  quotaAnn: 200,
  quotaItemcf: 200,
  connectivity: 16,
  expansionAdd: 128,
  expansionSearch: 256,
  userHistory: 10,
  userRecency: 0.7,
  prerankUser: 0.5,
  prerankBm25: 0.5,
  prerankItemcf: 1,
  prerankSize: 100,
  historyLen: 20,
  attnDim: 32,
  hidden: 64,
  dropout: 0.1,
  hardNegatives: 20,
  randomNegatives: 4,
  lr: 1e-3,
  batchSize: 32,
  epochs: 20,
  patience: 3,
  seed: 1,
  validCases: 4000,
  tune: 1,
};

const INTEGERS: readonly (keyof CascadeKnobs)[] = [
  'quotaBm25',
  'quotaAnn',
  'quotaItemcf',
  'connectivity',
  'expansionAdd',
  'expansionSearch',
  'userHistory',
  'prerankSize',
  'historyLen',
  'attnDim',
  'hidden',
  'hardNegatives',
  'randomNegatives',
  'batchSize',
  'epochs',
  'patience',
  'seed',
  'validCases',
];

/** Knobs from settings over the defaults, checked. */
export function cascadeKnobs(settings: Record<string, number> = {}): CascadeKnobs {
  const knobs = { ...CASCADE_DEFAULTS };
  for (const [key, value] of Object.entries(settings)) {
    if (!(key in knobs)) throw badInput(`cascade has no knob "${key}"; its knobs: ${Object.keys(CASCADE_DEFAULTS).join(', ')}`);
    (knobs as Record<string, number>)[key] = value;
  }
  for (const key of INTEGERS) {
    if (!Number.isInteger(knobs[key]) || knobs[key] < 0) throw badInput(`cascade.${key} must be an integer >= 0; got ${knobs[key]}`);
  }
  for (const key of ['prerankSize', 'historyLen', 'attnDim', 'hidden', 'batchSize', 'epochs', 'userHistory'] as const) {
    if (knobs[key] < 1) throw badInput(`cascade.${key} must be at least 1; got ${knobs[key]}`);
  }
  if (knobs.hardNegatives + knobs.randomNegatives < 1) throw badInput('cascade needs at least one negative per training case (hardNegatives + randomNegatives)');
  if (!(knobs.lr > 0)) throw badInput(`cascade.lr must be positive; got ${knobs.lr}`);
  if (!(knobs.dropout >= 0 && knobs.dropout < 1)) throw badInput(`cascade.dropout must be in [0, 1); got ${knobs.dropout}`);
  if (knobs.tune !== 0 && knobs.tune !== 1) throw badInput(`cascade.tune must be 0 or 1; got ${knobs.tune}`);
  for (const key of ['prerankUser', 'prerankBm25', 'prerankItemcf'] as const) {
    if (!(knobs[key] >= 0)) throw badInput(`cascade.${key} must be >= 0; got ${knobs[key]}`);
  }
  return knobs;
}

export function hnswOf(k: CascadeKnobs): HnswParams {
  return { connectivity: k.connectivity, expansionAdd: k.expansionAdd, expansionSearch: k.expansionSearch };
}

export function prerankOf(k: CascadeKnobs): PrerankWeights {
  return { user: k.prerankUser, bm25: k.prerankBm25, itemcf: k.prerankItemcf };
}

export function candidateOptions(k: CascadeKnobs, prerank: PrerankWeights = prerankOf(k)): CandidateOptions {
  return {
    quotas: { bm25: k.quotaBm25, ann: k.quotaAnn, itemcf: k.quotaItemcf },
    hnsw: hnswOf(k),
    userTower: { history: k.userHistory, recency: k.userRecency },
    prerank,
  };
}

export function rankerConfig(k: CascadeKnobs, dim: number, features: number): RankerConfig {
  return { dim, features, historyLen: k.historyLen, attnDim: k.attnDim, hidden: k.hidden, dropout: k.dropout };
}
