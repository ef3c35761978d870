import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { badInput } from '../errors.js';
import type { Interactions } from '../store/interactions.js';
import { evaluateSystem, type HistoryMode } from './evaluate.js';
import { renderHtml } from './html.js';
import { DEFAULT_KS } from './metrics.js';
import { caseBuckets, popularityBreakdown, trainingCounts } from './popularity.js';
import { buildEvalData } from './protocol.js';
import {
  compareToReference,
  type EvalReport,
  gitCommit,
  REPORT_FILES,
  type RunRecord,
  runKey,
  renderMarkdown,
  type StoredRanks,
  writeReportData,
} from './report.js';
import type { Protocol, RankingSystem, Split } from './types.js';

/** A system to evaluate: a fresh instance is made and fitted for every (protocol, split). */
export interface SystemEntry {
  name: string;
  create(): RankingSystem;
}

export interface RunOptions {
  protocols: readonly Protocol[];
  splits: readonly Split[];
  systems: readonly SystemEntry[];
  ks?: readonly number[];
  excludeHistory?: HistoryMode;
  /** System the others are tested against; default the first. */
  reference?: string;
  /** Sign flips of the randomization test (default 10,000). */
  iterations?: number;
  seed?: number;
  /** The command line, recorded in the report. */
  command?: string;
  batchSize?: number;
}

/**
 * Evaluates every system on every (protocol, split) of `inter`, both history variants by
 * default, and tests each against the reference. Systems that do not serve a protocol (BM25
 * without queries) are left out of that protocol's tables.
 */
export async function runEvaluation(inter: Interactions, options: RunOptions): Promise<EvalReport> {
  const start = performance.now();
  const date = new Date().toISOString();
  const ks = [...(options.ks ?? DEFAULT_KS)];
  const names = options.systems.map((s) => s.name);
  if (names.length === 0) throw badInput('no system to evaluate: pass --system popular,itemcf,...');
  const reference = options.reference ?? names[0];
  if (!names.includes(reference)) throw badInput(`reference "${reference}" is not among the systems: ${names.join(', ')}`);
  const runs: RunRecord[] = [];
  const ranks = new Map<string, StoredRanks>();
  for (const protocol of options.protocols) {
    for (const split of options.splits) {
      const { train, cases } = buildEvalData(inter, protocol, split);
      const users = Int32Array.from(cases, (c) => c.user);
      const buckets = caseBuckets(cases, trainingCounts(train));
      for (const entry of options.systems) {
        const system = entry.create();
        if (system.protocols && !system.protocols.includes(protocol)) continue;
        const fitStart = performance.now();
        await system.fit(train);
        const fitSeconds = (performance.now() - fitStart) / 1000;
        const result = await evaluateSystem(system, cases, {
          nItems: train.nItems,
          ks,
          excludeHistory: options.excludeHistory,
          batchSize: options.batchSize,
          label: `${protocol}/${split} ${entry.name}`,
        });
        for (const v of result.variants) {
          const run: RunRecord = {
            protocol,
            split,
            excludeHistory: v.excludeHistory,
            system: entry.name,
            params: system.params?.() ?? {},
            nCases: cases.length,
            fitSeconds,
            rankSeconds: result.rankSeconds,
            metrics: v.means,
            byPopularity: popularityBreakdown(buckets, v.perCase),
          };
          runs.push(run);
          ranks.set(runKey(run), { ...v.ranks, users });
        }
      }
    }
  }
  const report: EvalReport = {
    meta: {
      dataset: inter.dataset,
      command: options.command ?? '(library call)',
      seed: options.seed ?? 1,
      date,
      gitCommit: gitCommit(),
      wallSeconds: 0,
      ks,
      reference,
      iterations: options.iterations ?? 10_000,
      nItems: inter.items.length,
      nUsers: inter.userIds.length,
      node: process.versions.node,
    },
    runs,
    ranks,
  };
  compareToReference(report);
  report.meta.wallSeconds = (performance.now() - start) / 1000;
  return report;
}

/** Writes report.json, ranks.json, report.md and report.html into `dir`; returns their paths. */
export function writeReport(dir: string, report: EvalReport): string[] {
  writeReportData(dir, report);
  writeFileSync(join(dir, REPORT_FILES.markdown), renderMarkdown(report));
  writeFileSync(join(dir, REPORT_FILES.html), renderHtml(report));
  return Object.values(REPORT_FILES).map((f) => join(dir, f));
}
