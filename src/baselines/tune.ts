import { badInput } from '../errors.js';
import { evaluateSystem } from '../eval/evaluate.js';
import { parseMetric } from '../eval/metrics.js';
import { buildEvalData } from '../eval/protocol.js';
import type { Protocol } from '../eval/types.js';
import type { Interactions } from '../store/interactions.js';
import type { BaselineSpec, Params, SystemContext } from './registry.js';

export interface TuneOptions {
  protocol: Protocol;
  /** What to maximise, e.g. "ndcg@10" (default). */
  metric?: string;
  /** Select on the variant with the user's history excluded (default) or kept. */
  excludeHistory?: boolean;
  /** Starting point; default the spec's defaults. */
  start?: Params;
  /** Values to try per knob; default the spec's grid. */
  grid?: Record<string, number[]>;
  /** Rounds of coordinate search (default 2). */
  passes?: number;
  /** Called with a line per trial. */
  log?: (line: string) => void;
  /** Where systems keep what they build (the CLI's home). */
  context?: SystemContext;
}

export interface TuneResult {
  best: Params;
  score: number;
  metric: string;
  trials: { params: Params; score: number }[];
}

/**
 * Coordinate search on the VALIDATION split only: knob by knob, try each grid value with the
 * others held, keep the best; repeat. The test split is never looked at, so test numbers of
 * the tuned settings are honest.
 */
export async function tuneBaseline(inter: Interactions, spec: BaselineSpec, options: TuneOptions): Promise<TuneResult> {
  const metric = parseMetric(options.metric ?? 'ndcg@10');
  const k = Number(metric.split('@')[1]);
  const excludeHistory = options.excludeHistory ?? true;
  const grid = options.grid ?? spec.grid;
  for (const knob of Object.keys(grid)) {
    if (!(knob in spec.defaults)) throw badInput(`${spec.name} has no knob "${knob}"; its knobs: ${Object.keys(spec.defaults).join(', ')}`);
  }
  const { train, cases } = buildEvalData(inter, options.protocol, 'valid');
  const cache = new Map<string, number>();
  const trials: TuneResult['trials'] = [];
  const score = async (params: Params): Promise<number> => {
    const key = JSON.stringify(params);
    const known = cache.get(key);
    if (known !== undefined) return known;
    const system = spec.create(params, options.context);
    await system.fit(train);
    const result = await evaluateSystem(system, cases, {
      nItems: train.nItems,
      ks: [k],
      excludeHistory: excludeHistory ? 'yes' : 'no',
      label: `tune ${spec.name}`,
    });
    const value = result.variants[0].means[metric];
    cache.set(key, value);
    trials.push({ params, score: value });
    options.log?.(`${metric}=${value.toFixed(5)} ${JSON.stringify(params)}`);
    return value;
  };
  let best: Params = { ...spec.defaults, ...options.start };
  let bestScore = await score(best);
  for (let pass = 0; pass < (options.passes ?? 2); pass++) {
    let improved = false;
    for (const [knob, values] of Object.entries(grid)) {
      for (const v of values) {
        const candidate = { ...best, [knob]: v };
        const s = await score(candidate);
        if (s > bestScore) {
          best = candidate;
          bestScore = s;
          improved = true;
        }
      }
    }
    if (!improved) break;
  }
  return { best, score: bestScore, metric, trials };
}
