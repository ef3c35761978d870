import { badInput } from '../errors.js';

export const METRIC_NAMES = ['recall', 'ndcg', 'mrr'] as const;
export type MetricName = (typeof METRIC_NAMES)[number];
export const DEFAULT_KS: readonly number[] = [5, 10, 50, 350];

/** "recall@10", the key metrics are stored and printed under. */
export type MetricKey = `${MetricName}@${number}`;
export const metricKey = (name: MetricName, k: number): MetricKey => `${name}@${k}`;

/** Short labels for tables: R@10, N@10, MRR@10. */
export function metricLabel(key: string): string {
  const [name, k] = key.split('@');
  return `${name === 'recall' ? 'R' : name === 'ndcg' ? 'N' : 'MRR'}@${k}`;
}

/**
 * Where each case's targets landed: `ranks[offsets[c] .. offsets[c+1])` are the 1-based
 * positions of case c's targets in its ranked list, 0 where a target is not in the list.
 * Every metric at every K is a function of these, so they are what reports keep.
 */
export interface CaseRanks {
  offsets: Int32Array;
  ranks: Int32Array;
}

/** Per-case values (Float32Array, one entry per case) of every metric at every K. */
export type PerCaseMetrics = Map<MetricKey, Float32Array>;

/** The metric keys in display order: per K, recall, ndcg, mrr. */
export function metricKeys(ks: readonly number[]): MetricKey[] {
  return ks.flatMap((k) => METRIC_NAMES.map((m) => metricKey(m, k)));
}

/** A metric key from text such as "ndcg@10" (what a tuner maximises). */
export function parseMetric(text: string): MetricKey {
  if (!/^(recall|ndcg|mrr)@[1-9]\d*$/.test(text)) throw badInput(`--metric expects recall@K, ndcg@K or mrr@K (e.g. ndcg@10); got "${text}"`);
  return text as MetricKey;
}

export function parseKs(text: string): number[] {
  const ks = text.split(',').map((s) => Number(s.trim()));
  if (ks.length === 0 || ks.some((k) => !Number.isInteger(k) || k < 1)) {
    throw badInput(`--k expects positive integers separated by commas (e.g. 5,10,50,350); got "${text}"`);
  }
  return [...new Set(ks)].sort((a, b) => a - b);
}

/**
 * Recall@K = targets ranked <= K / targets (HR@K with one target); NDCG@K = sum over targets
 * ranked <= K of 1/log2(rank+1), over the ideal DCG of min(targets, K) targets at the top;
 * MRR@K = 1/(best target rank) if that rank <= K, else 0.
 */
export function perCaseMetrics(caseRanks: CaseRanks, ks: readonly number[]): PerCaseMetrics {
  const { offsets, ranks } = caseRanks;
  const nCases = offsets.length - 1;
  const out: PerCaseMetrics = new Map();
  for (const k of ks) {
    const recall = new Float32Array(nCases);
    const ndcg = new Float32Array(nCases);
    const mrr = new Float32Array(nCases);
    for (let c = 0; c < nCases; c++) {
      const from = offsets[c];
      const nTargets = offsets[c + 1] - from;
      if (nTargets === 0) continue;
      let hits = 0;
      let dcg = 0;
      let best = Number.POSITIVE_INFINITY;
      for (let t = from; t < from + nTargets; t++) {
        const r = ranks[t];
        if (r < 1 || r > k) continue;
        hits++;
        dcg += 1 / Math.log2(r + 1);
        if (r < best) best = r;
      }
      let idcg = 0;
      for (let r = 1; r <= Math.min(nTargets, k); r++) idcg += 1 / Math.log2(r + 1);
      recall[c] = hits / nTargets;
      ndcg[c] = dcg / idcg;
      mrr[c] = hits > 0 ? 1 / best : 0;
    }
    out.set(metricKey('recall', k), recall);
    out.set(metricKey('ndcg', k), ndcg);
    out.set(metricKey('mrr', k), mrr);
  }
  return out;
}

/** Mean over cases, accumulated in double precision. */
export function mean(values: Float32Array): number {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += values[i];
  return values.length ? s / values.length : 0;
}

export function meanMetrics(perCase: PerCaseMetrics): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [key, values] of perCase) out[key] = mean(values);
  return out;
}
