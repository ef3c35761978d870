import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { encoderDir, ITEM_EMBEDDINGS, QUERY_EMBEDDINGS } from '../../encoders/embed.js';
import { loadTextEncoder, type TextEncoder } from '../../encoders/model.js';
import { itemText } from '../../encoders/text.js';
import { badInput } from '../../errors.js';
import { defaultSidConfig, SID_DEFAULTS, type SidBuildResult, type SidConfig } from '../../sids/build.js';
import { type CodebookReport, formatReport } from '../../sids/codebook-metrics.js';
import { comparisonTable, compareSidVariants, cooccurrenceVariants, sizeVariants, standardVariants } from '../../sids/compare.js';
import { DEFAULT_FUSION } from '../../sids/keywords/fusion.js';
import { KEYWORD_TYPES, type KeywordType, type Lexicon } from '../../sids/keywords/lexicon.js';
import { KEYWORD_DEFAULTS } from '../../sids/keywords/pool.js';
import {
  assignNewItems,
  buildDatasetSids,
  DEFAULT_SID_BUILD,
  formatBuildStats,
  loadSidInputs,
  loadSids,
  type QueryAgreement,
} from '../../sids/pipeline.js';
import type { Store } from '../../store/types.js';
import { initTensorRuntime } from '../../tensor/runtime.js';
import { type CliContext, cliContext, type GlobalOptions } from '../context.js';
import { parseInteger, parseList, parsePositive } from './eval.js';

interface ConfigOptions {
  dataset: string;
  levels?: string;
  opq?: string;
  opqSubspaces?: string;
  balanceLevels?: string;
  keywords: boolean;
  keywordWeight?: string;
  keywordTypes?: string;
  keywordLexicon?: string;
  keywordMinItems?: string;
  keywordMaxShare?: string;
  iterations?: string;
  opqIterations?: string;
  seed?: string;
  cooccurrence?: string;
  cooccurrenceFromLevel?: string;
  embeddings?: string;
  queries: string | boolean;
}

/** The options that shape a build, shared by `sids build` and `sids compare`. */
function withConfigOptions(cmd: Command): Command {
  return cmd
    .option('--dataset <name>', 'dataset in the store', 'beauty')
    .option('--levels <list>', 'RQ codebook sizes, coarse to fine (default: sized for the catalog, e.g. 64,64,64)')
    .option('--opq <k>', 'OPQ sub-codebook size, or "none" for RQ-only IDs (default: the RQ level size, e.g. 64; 256 from 65,536 items)')
    .option('--opq-subspaces <m>', `OPQ sub-codes per SID (default ${SID_DEFAULTS.subspaces})`)
    .option('--balance-levels <list>', 'RQ levels (1-based) trained with balanced k-means, or "none" (default: the last level)')
    .option('--no-keywords', 'quantize the raw embeddings (no keyword enhancement)')
    .option('--keyword-weight <w>', `weight of the mean keyword embedding in e'; the item embedding gets 1 - w (default ${DEFAULT_FUSION.keywords})`)
    .option('--keyword-types <list>', `keyword types in the pool (default all: ${KEYWORD_TYPES.join(', ')})`)
    .option('--keyword-lexicon <file>', 'JSON {"colour": [...], "material": [...], ...} replacing the built-in attribute words')
    .option('--keyword-min-items <n>', `keep keywords found in at least this many items (default ${KEYWORD_DEFAULTS.minItems})`)
    .option('--keyword-max-share <x>', `drop keywords found in more than this share of the items (default ${KEYWORD_DEFAULTS.maxShare})`)
    .option('--iterations <n>', `most Lloyd iterations per RQ level (default ${SID_DEFAULTS.iterations})`)
    .option('--opq-iterations <n>', `OPQ alternations, codebooks <-> rotation (default ${SID_DEFAULTS.opqIterations})`)
    .option('--seed <n>', `seed of k-means++ seeding and the OPQ start rotation (default ${SID_DEFAULTS.seed})`)
    .option('--cooccurrence <w>', 'pull each item toward its ItemCF neighbours of the training behaviour by weight w before quantizing (default off)')
    .option('--cooccurrence-from-level <l>', 'first RQ level that clusters the smoothed vectors; earlier levels cluster the plain ones (default 1)')
    .option('--embeddings <path>', 'item embeddings manifest (default <home>/<dataset>/encoder/items.json)')
    .option('--queries <path>', 'query embeddings manifest (default <home>/<dataset>/encoder/queries.json)')
    .option('--no-queries', 'give no SIDs to queries');
}

function parseFraction(text: string, option: string): number {
  const x = Number(text);
  if (!(x >= 0 && x <= 1)) throw badInput(`${option} expects a number in [0, 1]; got "${text}"`);
  return x;
}

function parseSizes(text: string, option: string): number[] {
  return text.split(',').map((s) => parseInteger(s.trim(), option, 2));
}

function readLexicon(path: string): Lexicon {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw badInput(`--keyword-lexicon ${path}: ${(error as Error).message}; expected a JSON object of word lists`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw badInput(`--keyword-lexicon ${path}: expected a JSON object`);
  for (const [type, words] of Object.entries(value)) {
    if (!KEYWORD_TYPES.includes(type as KeywordType) || type === 'brand' || type === 'category') {
      throw badInput(`--keyword-lexicon ${path}: "${type}" is not an attribute type; expected ${KEYWORD_TYPES.slice(2).join(', ')}`);
    }
    if (!Array.isArray(words) || words.some((w) => typeof w !== 'string')) {
      throw badInput(`--keyword-lexicon ${path}: "${type}" must be a list of strings`);
    }
  }
  return value as Lexicon;
}

function configFrom(opts: ConfigOptions, items: number): SidConfig {
  const base = defaultSidConfig(items);
  const levels = opts.levels ? parseSizes(opts.levels, '--levels') : base.levels;
  const subspaces = opts.opqSubspaces ? parseInteger(opts.opqSubspaces, '--opq-subspaces', 1) : SID_DEFAULTS.subspaces;
  const opq = opts.opq === 'none' ? null : { k: opts.opq ? parseInteger(opts.opq, '--opq', 2) : base.opq!.k, subspaces };
  const bal = opts.balanceLevels;
  const balancedLevels =
    bal === undefined ? [levels.length] : bal === 'none' ? [] : bal.split(',').map((s) => parseInteger(s.trim(), '--balance-levels', 1));
  const w = opts.keywordWeight ? parseFraction(opts.keywordWeight, '--keyword-weight') : DEFAULT_FUSION.keywords;
  return {
    levels,
    balancedLevels,
    opq,
    iterations: opts.iterations ? parseInteger(opts.iterations, '--iterations', 1) : base.iterations,
    opqIterations: opts.opqIterations ? parseInteger(opts.opqIterations, '--opq-iterations', 0) : base.opqIterations,
    seed: opts.seed ? parseInteger(opts.seed, '--seed') : base.seed,
    keywords: opts.keywords
      ? {
          pool: {
            types: opts.keywordTypes ? parseList<KeywordType>(opts.keywordTypes, KEYWORD_TYPES, '--keyword-types') : undefined,
            lexicon: opts.keywordLexicon ? readLexicon(opts.keywordLexicon) : undefined,
            minItems: opts.keywordMinItems ? parseInteger(opts.keywordMinItems, '--keyword-min-items', 1) : KEYWORD_DEFAULTS.minItems,
            maxShare: opts.keywordMaxShare ? parseFraction(opts.keywordMaxShare, '--keyword-max-share') : KEYWORD_DEFAULTS.maxShare,
          },
          weights: { embedding: 1 - w, keywords: w },
        }
      : null,
    cooccurrence: opts.cooccurrence ? { weight: parsePositive(opts.cooccurrence, '--cooccurrence'), fromLevel: fromLevel(opts) } : null,
  };
}

function fromLevel(opts: ConfigOptions): number {
  return opts.cooccurrenceFromLevel ? parseInteger(opts.cooccurrenceFromLevel, '--cooccurrence-from-level', 1) : 1;
}

function paths(ctx: CliContext, opts: ConfigOptions): { embeddings: string; queries: string | null } {
  const dir = encoderDir(ctx.home, opts.dataset);
  return {
    embeddings: opts.embeddings ?? join(dir, ITEM_EMBEDDINGS),
    queries: opts.queries === false ? null : typeof opts.queries === 'string' ? opts.queries : join(dir, QUERY_EMBEDDINGS),
  };
}

async function withStore<T>(ctx: CliContext, fn: (store: Store) => Promise<T> | T): Promise<T> {
  const store = ctx.openStore();
  try {
    return await fn(store);
  } finally {
    store.close();
  }
}

function describeConfig(c: SidConfig): string {
  const opq = c.opq ? `${c.opq.subspaces}x${c.opq.k}` : 'none';
  const cooc = c.cooccurrence ? `, co-occurrence weight ${c.cooccurrence.weight} from level ${c.cooccurrence.fromLevel ?? 1}` : '';
  return `levels ${c.levels.join('-')}, OPQ ${opq}, balanced levels [${c.balancedLevels.join(',')}], keywords ${c.keywords ? 'on' : 'off'}${cooc}, seed ${c.seed}`;
}

export function registerSids(program: Command): void {
  const sids = program.command('sids').description('semantic IDs (KHQE): keyword enhancement, RQ-KMeans, OPQ, SID table and trie');

  withConfigOptions(sids.command('build'))
    .description('build item and query SIDs from the encoder embeddings; store the table, save codebooks and report')
    .option('--name <build>', 'build name in the store and under <home>/<dataset>/sids/', DEFAULT_SID_BUILD)
    .option('--json', 'print the report as JSON')
    .action(async (opts: ConfigOptions & { name: string; json?: boolean }, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      const tf = await initTensorRuntime();
      await withStore(ctx, async (store) => {
        const p = paths(ctx, opts);
        const n = store.dataset(opts.dataset)?.items ?? 0;
        const config = configFrom(opts, n);
        const encoder = config.keywords ? await loadTextEncoder(encoderDir(ctx.home, opts.dataset)) : undefined;
        try {
          const r = buildDatasetSids(tf, store, { home: ctx.home, dataset: opts.dataset, name: opts.name, config, ...p, encoder });
          if (opts.json) {
            console.log(JSON.stringify({ report: r.build.report, stats: r.build.stats, queryAgreement: r.queryAgreement }, null, 1));
            return;
          }
          console.log(describeConfig(config));
          console.log(formatReport(r.build.report));
          console.log(formatBuildStats(r.build.stats, r.queryAgreement));
          console.log(`saved codebooks and report to ${r.modelPath}; SID table "${opts.name}" in the store`);
        } finally {
          encoder?.dispose();
        }
      });
    });

  sids
    .command('report')
    .description('print the report of a stored SID build')
    .option('--dataset <name>', 'dataset in the store', 'beauty')
    .option('--name <build>', 'build name', DEFAULT_SID_BUILD)
    .option('--json', 'print JSON')
    .action(async (opts: { dataset: string; name: string; json?: boolean }, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      await withStore(ctx, (store) => {
        const { info, index } = loadSids(store, ctx.home, opts.dataset, opts.name);
        if (opts.json) {
          console.log(JSON.stringify(info, null, 1));
          return;
        }
        const { report, config, stats, queryAgreement, builtAt } = info as {
          report: CodebookReport;
          config: SidConfig;
          stats: SidBuildResult['stats'];
          queryAgreement: QueryAgreement | null;
          builtAt: string;
        };
        console.log(`build "${opts.name}" of ${builtAt}: ${describeConfig(config)}`);
        console.log(formatReport(report));
        console.log(formatBuildStats(stats, queryAgreement));
        console.log(`in the store now: ${index.itemIds.length} item SIDs (${index.trie.sids} distinct), ${index.queries.size} query SIDs`);
      });
    });

  sids
    .command('assign')
    .description('give catalog items without a SID one from the saved codebooks (no rebuild)')
    .option('--dataset <name>', 'dataset in the store', 'beauty')
    .option('--name <build>', 'build name', DEFAULT_SID_BUILD)
    .action(async (opts: { dataset: string; name: string }, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      const tf = await initTensorRuntime();
      const encoder: TextEncoder = await loadTextEncoder(encoderDir(ctx.home, opts.dataset));
      try {
        await withStore(ctx, (store) => {
          const r = assignNewItems(tf, store, { home: ctx.home, dataset: opts.dataset, name: opts.name, encoder, itemText });
          console.log(
            r.assigned.length === 0
              ? 'every item already has a SID'
              : `assigned SIDs to ${r.assigned.length} new items (${r.collided} share a SID with an earlier item and got the next rank)`,
          );
        });
      } finally {
        encoder.dispose();
      }
    });

  withConfigOptions(sids.command('compare'))
    .description('build variants in memory (RQ only / RQ+OPQ / balanced levels / no keywords / sizes) and print one comparison table')
    .option('--sizes <list>', 'also compare RQ sizes, e.g. "32,32,32;128,128,128"')
    .option('--opq-sizes <list>', 'with --sizes: OPQ sizes to pair with each, e.g. 64,256')
    .option('--cooccurrence-weights <list>', 'also compare co-occurrence smoothing at these weights, e.g. 0.5,1,2')
    .option('--out <file>', 'also write the Markdown table to this file')
    .action(async (opts: ConfigOptions & { sizes?: string; opqSizes?: string; cooccurrenceWeights?: string; out?: string }, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      const tf = await initTensorRuntime();
      await withStore(ctx, async (store) => {
        const inputs = loadSidInputs(store, { dataset: opts.dataset, ...paths(ctx, opts) });
        const base = configFrom(opts, inputs.items.length);
        const variants = standardVariants(base);
        if (opts.sizes) {
          const levels = opts.sizes.split(';').map((s) => parseSizes(s, '--sizes'));
          const opq = opts.opqSizes ? parseSizes(opts.opqSizes, '--opq-sizes') : [base.opq?.k ?? 256];
          variants.push(...sizeVariants(base, levels, opq));
        }
        if (opts.cooccurrenceWeights) {
          const weights = opts.cooccurrenceWeights.split(',').map((w) => parsePositive(w.trim(), '--cooccurrence-weights'));
          variants.push(...cooccurrenceVariants(base, weights, fromLevel(opts)));
        }
        const encoder = base.keywords ? await loadTextEncoder(encoderDir(ctx.home, opts.dataset)) : undefined;
        try {
          const results = compareSidVariants(tf, inputs, variants, encoder, (r) =>
            console.error(`${r.name}: ICR ${(100 * r.report.icr).toFixed(2)}% in ${r.seconds.toFixed(1)} s`),
          );
          const table = comparisonTable(results);
          console.log(table);
          if (opts.out) writeFileSync(opts.out, `${table}\n`);
        } finally {
          encoder?.dispose();
        }
      });
    });
}
