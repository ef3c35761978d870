import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { badInput, notFound } from '../errors.js';
import { repoRoot } from '../paths.js';
import { historyLabel } from './evaluate.js';
import { type CaseRanks, metricKeys, metricLabel, perCaseMetrics } from './metrics.js';
import { type PairedTest, pairedTest } from './significance.js';
import type { PopularityBucket } from './popularity.js';
import type { Protocol, Split } from './types.js';

/** How a report was produced: enough to rerun it. */
export interface RunMeta {
  dataset: string;
  command: string;
  seed: number;
  /** ISO date-time the run started. */
  date: string;
  gitCommit: string;
  wallSeconds: number;
  ks: number[];
  /** The system every other one is tested against. */
  reference: string;
  /** Sign flips of the randomization test. */
  iterations: number;
  nItems: number;
  nUsers: number;
  node: string;
}

/** One system on one (protocol, split, history variant). */
export interface RunRecord {
  protocol: Protocol;
  split: Split;
  excludeHistory: boolean;
  system: string;
  params: Record<string, unknown>;
  nCases: number;
  fitSeconds: number;
  rankSeconds: number;
  /** Means over cases, keyed "recall@10", "ndcg@10", "mrr@10", ... */
  metrics: Record<string, number>;
  /** Against the reference system on the same cases, per metric (absent for the reference). */
  significance?: Record<string, PairedTest>;
  /** The metrics by how often the target was bought in the training view (absent in older reports). */
  byPopularity?: PopularityBucket[];
}

/** Target ranks of one run, with the user of each case, so later runs can be paired with it. */
export interface StoredRanks extends CaseRanks {
  users: Int32Array;
}

export interface EvalReport {
  meta: RunMeta;
  runs: RunRecord[];
  /** By `runKey`; written to ranks.json beside report.json. */
  ranks: Map<string, StoredRanks>;
}

export const sectionKey = (r: Pick<RunRecord, 'protocol' | 'split' | 'excludeHistory'>): string =>
  `${r.protocol}/${r.split}/${r.excludeHistory ? 'exclude-history' : 'keep-history'}`;
export const runKey = (r: RunRecord): string => `${sectionKey(r)}/${r.system}`;

/**
 * Fills `significance` of every run against the reference system's run on the same section:
 * paired randomization and t-tests over the per-case values rebuilt from the stored ranks.
 */
export function compareToReference(report: EvalReport, reference = report.meta.reference): void {
  report.meta.reference = reference;
  for (const run of report.runs) {
    delete run.significance;
    if (run.system === reference) continue;
    const ref = report.runs.find((r) => r.system === reference && sectionKey(r) === sectionKey(run));
    if (!ref) continue;
    const a = report.ranks.get(runKey(run));
    const b = report.ranks.get(runKey(ref));
    if (!a || !b) continue;
    if (a.users.length !== b.users.length || a.users.some((u, i) => u !== b.users[i])) {
      throw badInput(
        `${runKey(run)} and ${runKey(ref)} were evaluated on different cases; pair only runs on the same dataset and protocol`,
      );
    }
    const pa = perCaseMetrics(a, report.meta.ks);
    const pb = perCaseMetrics(b, report.meta.ks);
    run.significance = {};
    for (const key of metricKeys(report.meta.ks)) {
      run.significance[key] = pairedTest(pa.get(key)!, pb.get(key)!, report.meta.iterations, report.meta.seed);
    }
  }
}

/**
 * Renames the systems of a report, so that two runs of one system (e.g. two generative models)
 * can be merged and tested against each other: a report of one system takes `label` as its
 * name, one of several systems names each `<system>@<label>`.
 */
export function labelReport(report: EvalReport, label: string): EvalReport {
  const systems = new Set(report.runs.map((r) => r.system));
  const rename = (system: string) => (systems.size === 1 ? label : `${system}@${label}`);
  const ranks = new Map<string, StoredRanks>();
  const runs = report.runs.map((run) => {
    const renamed = { ...run, system: rename(run.system) };
    const stored = report.ranks.get(runKey(run));
    if (stored) ranks.set(runKey(renamed), stored);
    return renamed;
  });
  const reference = systems.has(report.meta.reference) ? rename(report.meta.reference) : report.meta.reference;
  return { meta: { ...report.meta, reference }, runs, ranks };
}

/** Merges reports (e.g. a new model's run with stored baselines) into one; same dataset and K. */
export function mergeReports(reports: readonly EvalReport[]): EvalReport {
  if (reports.length === 0) throw badInput('report needs at least one --in folder');
  const [first] = reports;
  const runs: RunRecord[] = [];
  const ranks = new Map<string, StoredRanks>();
  for (const r of reports) {
    if (r.meta.dataset !== first.meta.dataset || r.meta.ks.join() !== first.meta.ks.join()) {
      throw badInput(
        `cannot merge reports of ${r.meta.dataset} @ K=${r.meta.ks} and ${first.meta.dataset} @ K=${first.meta.ks}: dataset and --k must match`,
      );
    }
    for (const run of r.runs) {
      const at = runs.findIndex((x) => runKey(x) === runKey(run));
      if (at >= 0) runs.splice(at, 1); // a later report replaces an earlier run of the same system
      runs.push(run);
      const stored = r.ranks.get(runKey(run));
      if (stored) ranks.set(runKey(run), stored);
    }
  }
  const commands = [...new Set(reports.map((r) => r.meta.command))];
  const meta: RunMeta = {
    ...first.meta,
    command: commands.join(' ; '),
    wallSeconds: reports.reduce((s, r) => s + r.meta.wallSeconds, 0),
  };
  return { meta, runs, ranks };
}

/** `git rev-parse HEAD`, with "+dirty" when the working tree has changes; "unknown" outside git. */
export function gitCommit(): string {
  try {
    const cwd = repoRoot();
    const sha = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], {
      cwd,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

const toBase64 = (a: Int32Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function fromBase64(s: string): Int32Array {
  const buf = Buffer.from(s, 'base64');
  const out = new Int32Array(buf.byteLength / 4);
  new Uint8Array(out.buffer).set(buf);
  return out;
}

export const REPORT_FILES = { json: 'report.json', ranks: 'ranks.json', markdown: 'report.md', html: 'report.html' };

/** Writes report.json (metrics), ranks.json (per-case ranks, base64 Int32 little-endian). */
export function writeReportData(dir: string, report: EvalReport): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, REPORT_FILES.json), JSON.stringify({ meta: report.meta, runs: report.runs }, null, 1) + '\n');
  const ranks: Record<string, { users: string; offsets: string; ranks: string }> = {};
  for (const [key, r] of report.ranks) {
    ranks[key] = { users: toBase64(r.users), offsets: toBase64(r.offsets), ranks: toBase64(r.ranks) };
  }
  writeFileSync(join(dir, REPORT_FILES.ranks), JSON.stringify(ranks) + '\n');
}

export function readReport(dir: string): EvalReport {
  let parsed: { meta: RunMeta; runs: RunRecord[] };
  let rawRanks: Record<string, { users: string; offsets: string; ranks: string }>;
  try {
    parsed = JSON.parse(readFileSync(join(dir, REPORT_FILES.json), 'utf8'));
    rawRanks = JSON.parse(readFileSync(join(dir, REPORT_FILES.ranks), 'utf8'));
  } catch (error) {
    throw notFound(`evaluation report in ${dir}`, `expected ${REPORT_FILES.json} and ${REPORT_FILES.ranks} written by \`gensearch eval --out ${dir}\` (${(error as Error).message})`);
  }
  if (!parsed?.meta || !Array.isArray(parsed.runs)) {
    throw badInput(`${join(dir, REPORT_FILES.json)} is not an evaluation report: expected {meta, runs}`);
  }
  const ranks = new Map<string, StoredRanks>();
  for (const [key, r] of Object.entries(rawRanks)) {
    ranks.set(key, { users: fromBase64(r.users), offsets: fromBase64(r.offsets), ranks: fromBase64(r.ranks) });
  }
  return { meta: parsed.meta, runs: parsed.runs, ranks };
}

/** Groups runs by section, keeping the order they were run in. */
export function sections(report: EvalReport): { key: string; runs: RunRecord[] }[] {
  const out: { key: string; runs: RunRecord[] }[] = [];
  for (const run of report.runs) {
    const key = sectionKey(run);
    const s = out.find((x) => x.key === key);
    if (s) s.runs.push(run);
    else out.push({ key, runs: [run] });
  }
  return out;
}

export function sectionTitle(run: RunRecord): string {
  const protocol = run.protocol === 'rec' ? 'next-item recommendation' : 'personalised search (HEM queries)';
  return `${protocol}, ${run.split} split, ${historyLabel(run.excludeHistory)}`;
}

/** "*" for p < 0.05 and "**" for p < 0.01 by the randomization test. */
export function stars(test: PairedTest | undefined): string {
  if (!test) return '';
  return test.pRandomization < 0.01 ? '**' : test.pRandomization < 0.05 ? '*' : '';
}

export const formatP = (p: number): string => (p < 1e-4 ? p.toExponential(1) : p.toFixed(4));

/**
 * The section's runs by the target's training purchases: the focus metric and the recall at its
 * K per bucket (none when no run has the breakdown).
 */
function popularityTable(runs: readonly RunRecord[], focus: string): string[] {
  const withBuckets = runs.filter((r) => r.byPopularity);
  if (withBuckets.length === 0) return [];
  const recall = `recall@${focus.split('@')[1]}`;
  const buckets = withBuckets[0].byPopularity!;
  return [
    `By how often the target was bought in the training view (${metricLabel(focus)} / ${metricLabel(recall)}; cases per bucket in the header):`,
    '',
    `| system | ${buckets.map((b) => `${b.label} (${b.cases})`).join(' | ')} |`,
    `|---|${buckets.map(() => '---:').join('|')}|`,
    ...withBuckets.map((r) => `| ${r.system} | ${r.byPopularity!.map((b) => `${(b.metrics[focus] ?? 0).toFixed(4)} / ${(b.metrics[recall] ?? 0).toFixed(4)}`).join(' | ')} |`),
    '',
  ];
}

/** Markdown: one table per section, each row a system, significance against the reference. */
export function renderMarkdown(report: EvalReport, focus = 'ndcg@10'): string {
  const { meta } = report;
  const keys = metricKeys(meta.ks);
  const lines = [
    `# Evaluation on ${meta.dataset}`,
    '',
    `- command: \`${meta.command}\``,
    `- date: ${meta.date}; git commit: ${meta.gitCommit}; seed: ${meta.seed}; wall time: ${meta.wallSeconds.toFixed(1)} s; Node ${meta.node}`,
    `- ${meta.nUsers} users, ${meta.nItems} items; full ranking over all items`,
    `- significance: paired randomization test (${meta.iterations} sign flips) and paired t-test against **${meta.reference}**; * p < 0.05, ** p < 0.01 (randomization)`,
    '',
  ];
  for (const section of sections(report)) {
    lines.push(`## ${sectionTitle(section.runs[0])}`, '');
    lines.push(
      `| system | cases | ${keys.map(metricLabel).join(' | ')} | Δ${metricLabel(focus)} vs ${meta.reference} | p rand | p t |`,
    );
    lines.push(`|---|---:|${keys.map(() => '---:').join('|')}|---:|---:|---:|`);
    for (const run of section.runs) {
      const cells = keys.map((k) => `${run.metrics[k].toFixed(4)}${stars(run.significance?.[k])}`);
      const s = run.significance?.[focus];
      const sig = s ? [s.delta.toFixed(4), formatP(s.pRandomization), formatP(s.pTTest)] : ['', '', ''];
      lines.push(`| ${run.system} | ${run.nCases} | ${cells.join(' | ')} | ${sig.join(' | ')} |`);
    }
    lines.push('');
    lines.push(...popularityTable(section.runs, focus));
  }
  lines.push('## Systems', '');
  const seen = new Set<string>();
  for (const run of report.runs) {
    if (seen.has(run.system)) continue;
    seen.add(run.system);
    lines.push(`- **${run.system}**: ${JSON.stringify(run.params)}`);
  }
  return lines.join('\n') + '\n';
}
