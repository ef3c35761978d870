import { badInput } from '../errors.js';
import type { RankedList } from '../eval/types.js';
import { type GenerativeConfig, type GenerativeParams, SidDecoder } from '../model/generative.js';
import type { SidTrie } from '../sids/trie.js';
import { type PackContext, packPrompts, type Prompt } from '../tasks/prompt.js';
import { type BeamSearchStats, constrainedBeamSearch, type DecodedSid, type DecodeSession, sidsToItems } from './beam-search.js';

/** The generative model's incremental decoder as the beam search sees it. */
export class GenerativeSession implements DecodeSession {
  constructor(private readonly decoder: SidDecoder) {}

  next(parents: Int32Array, tokens: Int32Array): Promise<Float32Array> {
    return this.decoder.step(parents, tokens);
  }

  dispose(): void {
    this.decoder.dispose();
  }
}

export interface GenerateOptions {
  /** Beams per request (the paper serves with 512). */
  beam: number;
  /** Items to return per request (SIDs shared by several items give several items). */
  k: number;
  /** Dynamic pruning margin in nats (Infinity = off); see `BeamSearchOptions`. */
  pruneMargin?: number;
  /** Most beam rows decoded at once: requests are batched so requests x beam stays below it. */
  maxRows?: number;
  /** Items each prompt's list must not hold (by prompt index), left out during the search. */
  exclude?: readonly (ArrayLike<number> | undefined)[];
}

export interface GenerateResult {
  lists: RankedList[];
  /** The SIDs each beam search finished, best first (what the lists were read from). */
  decoded: DecodedSid[][];
  stats: BeamSearchStats;
}

/**
 * Top-k items for each prompt: the prompts are encoded once per batch, then SIDs are generated
 * by trie-constrained beam search and mapped to items (shared SIDs in collision-rank order).
 */
export async function generateItems(
  model: { params: GenerativeParams; cfg: GenerativeConfig },
  pack: PackContext,
  trie: SidTrie,
  prompts: readonly Prompt[],
  options: GenerateOptions,
): Promise<GenerateResult> {
  const { beam, k } = options;
  if (!Number.isInteger(k) || k < 1) throw badInput(`k must be a positive integer; got ${k}`);
  if (trie.width !== model.cfg.sidSizes.length) {
    throw badInput(`the SID trie has width ${trie.width}; the model writes SIDs of ${model.cfg.sidSizes.length} tokens`);
  }
  const perBatch = Math.max(1, Math.floor((options.maxRows ?? 4096) / beam));
  const lists: RankedList[] = [];
  const decodedAll: DecodedSid[][] = [];
  const stats: BeamSearchStats = { beamRowsScored: 0, pruned: 0 };
  const decoder = new SidDecoder(model.params, model.cfg);
  for (let from = 0; from < prompts.length; from += perBatch) {
    const chunk = prompts.slice(from, from + perBatch);
    const exclude = options.exclude?.slice(from, from + perBatch);
    decoder.start(packPrompts(chunk, pack));
    const { results, stats: s } = await constrainedBeamSearch(new GenerativeSession(decoder), trie, chunk.length, pack.layout.sidVocab, {
      beam,
      pruneMargin: options.pruneMargin,
      exclude,
    });
    stats.beamRowsScored += s.beamRowsScored;
    stats.pruned += s.pruned;
    results.forEach((decoded, i) => {
      lists.push(sidsToItems(trie, decoded, k, exclude?.[i]));
      decodedAll.push(decoded);
    });
  }
  return { lists, decoded: decodedAll, stats };
}
