import type { Tf } from '../tensor/runtime.js';
import { SID_DEFAULTS, type SidConfig } from './build.js';
import type { CodebookReport, PairSharing } from './codebook-metrics.js';
import { type QueryAgreement, runSidBuild, type SidInputs, type TextEmbedder } from './pipeline.js';

export interface SidVariant {
  name: string;
  config: SidConfig;
}

/**
 * The ablations of OneSearch's KHQE table on one base config: RQ alone, RQ + OPQ, balancing
 * the last RQ level only (the paper's choice), balancing every level, and the same without
 * keyword enhancement.
 */
export function standardVariants(base: SidConfig): SidVariant[] {
  const L = base.levels.length;
  const all = base.levels.map((_, i) => i + 1);
  // With RQ-only IDs as the base, the OPQ rows use sub-codebooks as large as the last RQ level.
  const opq = base.opq ?? { k: base.levels[L - 1], subspaces: SID_DEFAULTS.subspaces };
  return [
    { name: 'RQ only', config: { ...base, opq: null, balancedLevels: [] } },
    { name: 'RQ + OPQ', config: { ...base, opq, balancedLevels: [] } },
    { name: `RQ + OPQ, level ${L} balanced`, config: { ...base, opq, balancedLevels: [L] } },
    { name: 'RQ + OPQ, all levels balanced', config: { ...base, opq, balancedLevels: all } },
    { name: `RQ + OPQ, level ${L} balanced, no keywords`, config: { ...base, opq, balancedLevels: [L], keywords: null } },
  ];
}

/** The base config with other codebook sizes: `levels` lists RQ sizes, `opq` OPQ sizes. */
export function sizeVariants(base: SidConfig, levels: number[][], opq: number[]): SidVariant[] {
  const out: SidVariant[] = [];
  for (const lv of levels) {
    for (const k of opq) {
      const config = { ...base, levels: lv, opq: base.opq && { ...base.opq, k }, balancedLevels: base.balancedLevels.filter((l) => l <= lv.length) };
      out.push({ name: `${lv.join('-')} + OPQ ${config.opq ? `${config.opq.subspaces}x${k}` : 'none'}`, config });
    }
  }
  return out;
}

/** The base config with co-occurrence smoothing at each weight, from RQ level `fromLevel` on. */
export function cooccurrenceVariants(base: SidConfig, weights: number[], fromLevel = 1): SidVariant[] {
  const from = fromLevel > 1 ? ` from level ${fromLevel}` : '';
  return weights.map((weight) => ({ name: `co-occurrence weight ${weight}${from}`, config: { ...base, cooccurrence: { weight, fromLevel } } }));
}

export interface VariantResult {
  name: string;
  config: SidConfig;
  report: CodebookReport;
  queryAgreement: QueryAgreement | null;
  seconds: number;
}

/** Builds every variant on the same inputs (nothing is stored) and collects their reports. */
export function compareSidVariants(
  tf: Tf,
  inputs: SidInputs,
  variants: readonly SidVariant[],
  encoder?: TextEmbedder,
  onVariant?: (result: VariantResult) => void,
): VariantResult[] {
  return variants.map((v) => {
    const run = runSidBuild(tf, inputs, v.config, v.config.keywords ? encoder : undefined);
    const result: VariantResult = {
      name: v.name,
      config: v.config,
      report: run.build.report,
      queryAgreement: run.queryAgreement,
      seconds: run.build.stats.seconds.total,
    };
    onVariant?.(result);
    return result;
  });
}

const pct = (x: number | undefined) => (x === undefined || Number.isNaN(x) ? 'n/a' : `${(100 * x).toFixed(2)}%`);

/** One Markdown table: codebook use, uniqueness, and whether the codes carry meaning. */
export function comparisonTable(results: readonly VariantResult[]): string {
  const head = [
    'variant',
    'CUR_L1',
    'CUR_L1xL2',
    'CUR_total',
    'ICR (RQ codes)',
    'ICR (full SID)',
    'max items/SID',
    'leaf-category purity L1 / L2 / L3',
    'co-purchase pairs sharing L1 / L1-2 (random pairs)',
    'item shares L1 with its query',
    'held-out pairs sharing L1 / L1-2 (random pairs)',
    'held-out neighbour R@10: embeddings / quantized',
    'build s',
  ];
  const rows = results.map((r) => {
    const p = r.report.purity;
    const sharing = (c: PairSharing | null) =>
      c ? `${pct(c.shared[0])} / ${pct(c.shared[1])} (${pct(c.random[0])} / ${pct(c.random[1])})` : 'n/a';
    return [
      r.name,
      pct(r.report.curL1),
      pct(r.report.curL1xL2),
      pct(r.report.curTotal),
      pct(r.report.icrRq),
      pct(r.report.icr),
      String(r.report.itemsPerSid.max),
      p.length >= 3 ? `${pct(p[0].leaf)} / ${pct(p[1].leaf)} / ${pct(p[2].leaf)}` : 'n/a',
      sharing(r.report.coPurchase),
      pct(r.queryAgreement?.itemQueryPrefix[0]),
      sharing(r.report.heldOut),
      r.report.neighbours ? `${pct(r.report.neighbours.embedding)} / ${pct(r.report.neighbours.quantized)}` : 'n/a',
      r.seconds.toFixed(1),
    ];
  });
  return [head, head.map(() => '---'), ...rows].map((cells) => `| ${cells.join(' | ')} |`).join('\n');
}
