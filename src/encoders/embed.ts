import { join } from 'node:path';
import { evaluateSystem } from '../eval/evaluate.js';
import { buildEvalData } from '../eval/protocol.js';
import type { Protocol, Split } from '../eval/types.js';
import type { Interactions } from '../store/interactions.js';
import { writeEmbeddings, writeJsonFile } from './embfile.js';
import type { TextEncoder } from './model.js';
import { EmbeddingScorer } from './scorer.js';
import { itemText } from './text.js';
import { type TrainEncoderOptions, type TrainReport, trainTextEncoder } from './train.js';

/** Where `embed` puts its artifacts for a dataset. */
export function encoderDir(home: string, dataset: string): string {
  return join(home, dataset, 'encoder');
}

export const ITEM_EMBEDDINGS = 'items.json';
export const QUERY_EMBEDDINGS = 'queries.json';

export interface EmbedOptions extends Partial<TrainEncoderOptions> {
  /** Output folder (encoder, item and query embeddings). */
  dir: string;
  /** Also evaluate on these splits (search: q2i, rec: i2i); see `evaluateEncoder`. */
  evaluate?: readonly Split[];
  /** Weights of the user's last item in the personalised search row (0 always included). */
  historyWeights?: number[];
}

export interface EmbedResult {
  encoder: TextEncoder;
  report: TrainReport;
  files: string[];
  evaluation?: EncoderEvaluation[];
}

/**
 * Trains the encoder on the training view of `inter` (each user's sequence without its last
 * two items, shared by the validation and test splits), saves it, and writes item embeddings
 * (ids = item ids) and query embeddings for the distinct HEM queries of the catalog.
 */
export async function embedDataset(inter: Interactions, options: EmbedOptions): Promise<EmbedResult> {
  const { dir, evaluate, historyWeights, ...trainOptions } = options;
  const { train } = buildEvalData(inter, 'search', 'valid');
  const { encoder, report } = await trainTextEncoder(train, trainOptions);
  encoder.save(dir);
  const modelVersion = encoder.version;
  const items = writeEmbeddings(
    join(dir, ITEM_EMBEDDINGS),
    { ids: inter.items.map((it) => it.id), dim: encoder.dim, data: encoder.encode(inter.items.map(itemText)) },
    { modelVersion },
  );
  const queryTexts = [...new Set(train.itemQueries)].filter((q) => q.length > 0);
  const queries = writeEmbeddings(
    join(dir, QUERY_EMBEDDINGS),
    { ids: queryTexts, dim: encoder.dim, data: encoder.encode(queryTexts) },
    { modelVersion },
  );
  const files = [join(dir, 'encoder.json'), items, queries];
  if (!evaluate?.length) return { encoder, report, files };
  const evaluation: EncoderEvaluation[] = [];
  for (const split of evaluate) evaluation.push(...(await evaluateEncoder(encoder, inter, split, historyWeights)));
  const evalPath = join(dir, 'eval.json');
  writeJsonFile(evalPath, { encoder: modelVersion, training: report, evaluation });
  return { encoder, report, files: [...files, evalPath], evaluation };
}

export interface EncoderEvaluation {
  protocol: Protocol;
  split: Split;
  /** What the case vector is: the query, the query plus w x the last item, or the last item. */
  system: string;
  historyWeight: number;
  nCases: number;
  /** Metrics with the user's history items kept in the ranking, then excluded. */
  kept: Record<string, number>;
  excluded: Record<string, number>;
}

/**
 * Metrics on one split: search (HEM protocol) ranks by e(query) . e(item), and, for each
 * positive weight w, by (e(query) + w e(last item)) . e(item); recommendation ranks by
 * e(last item) . e(item) (i2i). Both history variants are reported. The encoder must have been
 * trained on the training view only (as `embedDataset` does), which both splits share.
 */
export async function evaluateEncoder(
  encoder: TextEncoder,
  inter: Interactions,
  split: Split,
  historyWeights: readonly number[] = [],
): Promise<EncoderEvaluation[]> {
  const out: EncoderEvaluation[] = [];
  const runs: { protocol: Protocol; weight: number }[] = [
    { protocol: 'search', weight: 0 },
    ...historyWeights.filter((w) => w > 0).map((weight) => ({ protocol: 'search' as const, weight })),
    { protocol: 'rec', weight: 0 },
  ];
  for (const { protocol, weight } of runs) {
    const { train, cases } = buildEvalData(inter, protocol, split);
    const system =
      protocol === 'rec' ? 'i2i: last item' : weight > 0 ? `q2i: query + ${weight} x last item` : 'q2i: query';
    const scorer = new EmbeddingScorer(encoder, { name: system, historyWeight: weight });
    await scorer.fit(train);
    const result = await evaluateSystem(scorer, cases, { nItems: train.nItems, label: `${protocol}/${split} ${system}` });
    const variant = (excluded: boolean) => result.variants.find((v) => v.excludeHistory === excluded)!.means;
    out.push({ protocol, split, system, historyWeight: weight, nCases: cases.length, kept: variant(false), excluded: variant(true) });
  }
  return out;
}
