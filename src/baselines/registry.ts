import { badInput } from '../errors.js';
import { defaultHome } from '../paths.js';
import type { RankingSystem } from '../eval/types.js';
import { Cascade } from '../cascade/cascade.js';
import { CASCADE_DEFAULTS, cascadeKnobs } from '../cascade/knobs.js';
import { GENERATIVE_SYSTEM_DEFAULTS, generativeSystem } from '../tasks/train.js';
import { BM25, BM25_DEFAULTS } from './bm25.js';
import { Blend } from './blend.js';
import { ITEMCF_DEFAULTS, ItemCF } from './itemcf.js';
import { Popular } from './popular.js';
import { SWING_DEFAULTS, Swing } from './swing.js';
import { SASREC_DEFAULTS, Sasrec, sasrecKnobs } from './sasrec.js';

export type Params = Record<string, number>;

/** A baseline by name: its knobs with defaults, a small grid to tune them, and a factory. */
export interface BaselineSpec {
  name: string;
  description: string;
  defaults: Params;
  /** Values `tune` tries per knob (coordinate search on the validation split). */
  grid: Record<string, number[]>;
  create(params: Params, context?: SystemContext): RankingSystem;
}

/** Where a system may keep what it builds (trained models); default the CLI's home. */
export interface SystemContext {
  home: string;
  /** The generative model to rank with (`gensearch train --name`); default "default". */
  generativeName?: string;
}

const ITEMCF_GRID = {
  recency: [0.3, 0.5, 0.7, 0.85, 1],
  distanceDecay: [0.5, 0.65, 0.8, 0.9, 1],
  backward: [0, 0.25, 0.5, 0.75, 1],
  alpha: [0.3, 0.5, 0.7, 0.85, 1],
  iuf: [0, 1],
};
const BM25_GRID = { k1: [0.6, 1.2, 2], b: [0.3, 0.75, 1], titleWeight: [0.5, 1, 2], categoryWeight: [1, 2, 4] };

/** Default of BM25 + w * ItemCF, tuned on Beauty validation (search protocol): docs/RESULTS.md. */
export const PERSONAL_WEIGHT = 0.5;

export const BASELINES: readonly BaselineSpec[] = [
  {
    name: 'popular',
    description: 'most popular training items first, the same list for everyone',
    defaults: {},
    grid: {},
    create: () => new Popular(),
  },
  {
    name: 'itemcf',
    description: 'item-to-item co-occurrence with recency weighting of the history (ignores the query)',
    defaults: { ...ITEMCF_DEFAULTS },
    grid: ITEMCF_GRID,
    create: (p) => new ItemCF(p),
  },
  {
    name: 'swing',
    description: 'Swing item-to-item similarity (user pairs who share few other items) with recency weighting',
    defaults: { ...SWING_DEFAULTS },
    grid: { recency: [0.3, 0.5, 0.7, 1], smoothing: [0.5, 1, 5, 20], userPower: [0, 0.35, 0.7] },
    create: (p) => new Swing(p),
  },
  {
    name: 'bm25',
    description: 'BM25 of the query over title, brand and category path (search only)',
    defaults: { ...BM25_DEFAULTS },
    grid: BM25_GRID,
    create: (p) => new BM25(p),
  },
  {
    name: 'bm25-personal',
    description: 'BM25 + weight * ItemCF of the user history, each scaled by its row maximum (search only)',
    defaults: { weight: PERSONAL_WEIGHT, ...BM25_DEFAULTS, ...ITEMCF_DEFAULTS },
    grid: { weight: [0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1, 1.5, 2] },
    create: (p) =>
      new Blend('bm25-personal', [
        { system: new BM25(pick(p, BM25_DEFAULTS)), weight: 1 },
        { system: new ItemCF(pick(p, ITEMCF_DEFAULTS)), weight: p.weight ?? PERSONAL_WEIGHT },
      ]),
  },
  {
    name: 'sasrec',
    description:
      'causal transformer over the item sequence, full-softmax cross-entropy (rec only); uses the model `train-baseline sasrec` trained, or trains one',
    defaults: { ...SASREC_DEFAULTS },
    grid: {},
    create: (p, context) => new Sasrec(sasrecKnobs(p), context?.home ?? defaultHome()),
  },
  {
    name: 'cascade',
    description:
      'search cascade: recall (BM25, HNSW over the aligned embeddings, ItemCF) -> two-tower pre-rank -> DIN-style ranker (search only); uses the model `train-baseline cascade` trained',
    defaults: { ...CASCADE_DEFAULTS },
    grid: {},
    create: (p, context) => new Cascade('cascade', cascadeKnobs(p), context?.home ?? defaultHome(), { rank: true }),
  },
  {
    name: 'cascade-norank',
    description: 'the search cascade without its ranking stage: recalled candidates in pre-rank order (search only)',
    defaults: { ...CASCADE_DEFAULTS },
    grid: {},
    create: (p, context) => new Cascade('cascade-norank', cascadeKnobs(p), context?.home ?? defaultHome(), { rank: false }),
  },
  {
    name: 'generative',
    description: 'the generative retriever: writes item SIDs by trie-constrained beam search (uses the model `gensearch train` saved)',
    defaults: { ...GENERATIVE_SYSTEM_DEFAULTS },
    grid: {},
    create: (p, context) => generativeSystem(context?.home ?? defaultHome(), p, context?.generativeName),
  },
];

function pick(params: Params, keysOf: object): Params {
  return Object.fromEntries(Object.keys(keysOf).filter((k) => k in params).map((k) => [k, params[k]]));
}

export function baseline(name: string): BaselineSpec {
  const spec = BASELINES.find((b) => b.name === name);
  if (!spec) throw badInput(`unknown system "${name}": expected one of ${BASELINES.map((b) => b.name).join(', ')}`);
  return spec;
}

/**
 * Parses knob settings `system.knob=value` (e.g. `itemcf.recency=0.6`) into per-system
 * params, checking each knob exists.
 */
export function parseSettings(settings: readonly string[]): Map<string, Params> {
  const out = new Map<string, Params>();
  for (const s of settings) {
    const m = /^([\w-]+)\.(\w+)=(.+)$/.exec(s.trim());
    if (!m) throw badInput(`--set expects system.knob=number (e.g. itemcf.recency=0.6); got "${s}"`);
    const [, system, knob, text] = m;
    const spec = baseline(system);
    if (!(knob in spec.defaults)) {
      const known = Object.keys(spec.defaults);
      throw badInput(`${system} has no knob "${knob}"; its knobs: ${known.length ? known.join(', ') : 'none'}`);
    }
    const value = Number(text);
    if (!Number.isFinite(value)) throw badInput(`--set ${system}.${knob} expects a number; got "${text}"`);
    out.set(system, { ...(out.get(system) ?? {}), [knob]: value });
  }
  return out;
}
