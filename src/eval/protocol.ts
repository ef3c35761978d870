import { badInput } from '../errors.js';
import type { Interactions } from '../store/interactions.js';
import type { ItemRecord } from '../store/types.js';
import { hemQuery } from './query.js';
import type { EvalCase, Protocol, Split, TrainData } from './types.js';

/** Items each user needs to get a case: a training item, the validation and the test target. */
export const MIN_SEQUENCE = 3;

/** The training view and the cases of one (protocol, split). */
export interface EvalData {
  train: TrainData;
  cases: EvalCase[];
}

/**
 * Leave-one-out as in SASRec / S3Rec / TIGER. Per user with n >= 3 items:
 * - training view (both splits): the first n-2 items. Systems are fitted once on it, so the
 *   numbers on 'valid' (where knobs are tuned) and on 'test' come from the same model.
 * - 'valid': target item n-2 (0-based), history = items 0..n-3.
 * - 'test': target item n-1, history = items 0..n-2, i.e. the validation item is part of the
 *   input at test time (as in those papers), but never part of training.
 * Users with fewer than 3 items get no case; their first n-2 items (if any) still train.
 * For 'search' each case also carries the HEM query of its target (see `hemQuery`).
 */
export function buildEvalData(inter: Interactions, protocol: Protocol, split: Split): EvalData {
  if (protocol !== 'rec' && protocol !== 'search') {
    throw badInput(`unknown protocol "${protocol}": expected "rec" or "search"`);
  }
  if (split !== 'valid' && split !== 'test') throw badInput(`unknown split "${split}": expected "valid" or "test"`);
  const itemQueries = inter.items.map(hemQuery);
  const sequences: Int32Array[] = [];
  const cases: EvalCase[] = [];
  for (let u = 0; u < inter.sequences.length; u++) {
    const seq = inter.sequences[u];
    const n = seq.length;
    sequences.push(seq.slice(0, Math.max(0, n - 2)));
    if (n < MIN_SEQUENCE) continue;
    const at = split === 'valid' ? n - 2 : n - 1;
    const target = seq[at];
    cases.push({
      user: u,
      history: seq.slice(0, at),
      query: protocol === 'search' ? itemQueries[target] : null,
      targets: Int32Array.of(target),
    });
  }
  if (cases.length === 0) {
    throw badInput(
      `dataset "${inter.dataset}" has no user with ${MIN_SEQUENCE}+ interactions, so leave-one-out has no case; import more behaviour`,
    );
  }
  const train: TrainData = {
    dataset: inter.dataset,
    protocol,
    split,
    items: inter.items,
    nItems: inter.items.length,
    sequences,
    itemQueries,
  };
  return { train, cases };
}

/**
 * Everything known as one training view: each user's whole history (serving and the CLI fit
 * on all behaviour, not on an evaluation's prefix).
 */
export function knownBehaviour(dataset: string, items: ItemRecord[], sequences: Int32Array[]): TrainData {
  return { dataset, protocol: 'search', split: 'test', items, nItems: items.length, sequences, itemQueries: items.map(hemQuery) };
}

/** One (query, item) training pair for search: a training interaction and its item's query. */
export interface SearchPair {
  user: number;
  item: number;
  query: string;
}

/** Every training interaction as a search pair, the query built as for the eval cases. */
export function* searchTrainingPairs(train: TrainData): Generator<SearchPair> {
  for (let user = 0; user < train.sequences.length; user++) {
    for (const item of train.sequences[user]) yield { user, item, query: train.itemQueries[item] };
  }
}
