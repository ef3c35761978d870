import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { loadAlignedEmbeddingsIfBuilt } from '../../cascade/embeddings.js';
import { HEAD_DEFAULTS, type HeadKnobs } from '../../decode/generate.js';
import { queryAssigner } from '../../decode/query-sid.js';
import { headPriorsFor, rankRequest } from '../../decode/ranker.js';
import { openPhotoSearch, photoModelDir, searchPhoto } from '../../decode/photo-search.js';
import { badInput, notFound } from '../../errors.js';
import { knownBehaviour } from '../../eval/protocol.js';
import { disposeParams } from '../../model/params.js';
import { generativeDir, loadGenerative } from '../../tasks/train.js';
import { initTensorRuntime } from '../../tensor/runtime.js';
import { cliContext, type GlobalOptions } from '../context.js';
import { interactionsOf, parseInteger, parsePositive } from './eval.js';

export interface GenerateCliOptions {
  dataset: string;
  name: string;
  user?: string;
  k: string;
  beam: string;
  prune?: string;
  itemWeight?: string;
  headCandidates?: string;
  coPurchase?: string;
  textMatch?: string;
  queryCosine?: string;
  userCosine?: string;
  historyCosine?: string;
  excludeHistory?: boolean;
  json?: boolean;
}

/** A head knob's defaults by request kind, for the help (`HEAD_DEFAULTS`). */
function defaultsOf(knob: keyof HeadKnobs): string {
  const { search, rec } = { search: HEAD_DEFAULTS.search[knob], rec: HEAD_DEFAULTS.rec[knob] };
  if (search === rec) return `(default: ${search || 'off'})`;
  return `(default: ${[search > 0 ? `${search} for a search` : '', rec > 0 ? `${rec} for a recommendation` : ''].filter(Boolean).join(', ')})`;
}

/** Options `search` and `recommend` share. */
export function withGenerateOptions(cmd: Command): Command {
  return cmd
    .option('--dataset <name>', 'dataset in the store', 'beauty')
    .option('--name <name>', 'trained model (gensearch train --name)', 'default')
    .option('--k <n>', 'items to show', '10')
    .option('--beam <n>', 'beam width of the constrained beam search', '100')
    .option('--prune <nats>', 'dynamic pruning: drop beams this far below the best (default off)')
    .option('--item-weight <w>', `a text model with an item head: the head's weight in the ranking ${defaultsOf('itemWeight')}`)
    .option('--head-candidates <n>', `a text model with an item head: its best items the beam missed that join the list ${defaultsOf('headCandidates')}`)
    .option('--co-purchase <w>', `a text model with an item head: weight of the co-purchase prior (ItemCF on all imported behaviour) in the head's score; 0 = off ${defaultsOf('coPurchaseWeight')}`)
    .option('--text-match <w>', `a text model with an item head: weight of the text-match prior (BM25 of the query over the catalog) in the head's score; 0 = off ${defaultsOf('textMatchWeight')}`)
    .option('--query-cosine <w>', `a text model with an item head: weight of the query's cosine with each item (aligned embeddings of \`gensearch embed\`, where built) in the head's score; 0 = off ${defaultsOf('queryCosineWeight')}`)
    .option('--user-cosine <w>', `a text model with an item head: the same for the cosine of the user's history (user tower) with each item ${defaultsOf('userCosineWeight')}`)
    .option('--history-cosine <w>', `a text model with an item head: the same for each item's cosine with its nearest item among the user's last ones ${defaultsOf('historyCosineWeight')}`)
    .option('--exclude-history', "leave the user's own items out of the results (skipped during the beam search)")
    .option('--json', 'print JSON');
}

/**
 * `search` and `recommend`: the user's whole known history (all their events) and the query go
 * into the prompt; the model generates SIDs; the items are printed best first.
 */
export async function runGenerate(cmd: Command, opts: GenerateCliOptions, query: string | null): Promise<void> {
  const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
  const tf = await initTensorRuntime();
  const loaded = loadGenerative(generativeDir(ctx.home, opts.dataset, opts.name));
  const inter = interactionsOf(ctx, opts.dataset);
  let history: Int32Array = new Int32Array(0);
  if (opts.user !== undefined) {
    const u = inter.userIds.indexOf(opts.user);
    if (u < 0) throw notFound(`user "${opts.user}" in dataset "${opts.dataset}"`, 'pass an id from the imported events, or leave --user out');
    history = inter.sequences[u];
  }
  const model = loaded.model;
  const weight = (value: string | undefined, flag: string) => (value === undefined ? undefined : parsePositive(value, flag, true));
  const weights = {
    coPurchaseWeight: weight(opts.coPurchase, '--co-purchase'),
    textMatchWeight: weight(opts.textMatch, '--text-match'),
    queryCosineWeight: weight(opts.queryCosine, '--query-cosine'),
    userCosineWeight: weight(opts.userCosine, '--user-cosine'),
    historyCosineWeight: weight(opts.historyCosine, '--history-cosine'),
  };
  const priors = await headPriorsFor(model.cfg, knownBehaviour(opts.dataset, inter.items, inter.sequences), weights, () =>
    loadAlignedEmbeddingsIfBuilt(ctx.home, opts.dataset, inter.items),
  );
  if (query) model.assignQuery = await queryAssigner(tf, ctx.home, opts.dataset, loaded.sids.build);
  const { list, stats, seconds } = await rankRequest(model, history, query, {
    k: parseInteger(opts.k, '--k', 1),
    beam: parseInteger(opts.beam, '--beam', 1),
    pruneMargin: opts.prune === undefined ? undefined : Number(opts.prune),
    itemWeight: opts.itemWeight === undefined ? undefined : parsePositive(opts.itemWeight, '--item-weight', true),
    headCandidates: opts.headCandidates === undefined ? undefined : parseInteger(opts.headCandidates, '--head-candidates'),
    ...weights,
    priors,
    excludeHistory: opts.excludeHistory === true,
  });
  const rows = Array.from(list.items, (item, i) => ({
    rank: i + 1,
    id: inter.items[item].id,
    score: list.scores[i],
    title: inter.items[item].title,
    category: inter.items[item].categories[0]?.join(' > ') ?? '',
  }));
  if (opts.json) {
    console.log(JSON.stringify({ query, user: opts.user ?? null, historyLength: history.length, seconds, beamRowsScored: stats.beamRowsScored, items: rows }));
  } else {
    console.log(`${query ? `query "${query}"` : 'recommendation'} for ${opts.user ? `user ${opts.user} (${history.length} items of history)` : 'an anonymous user'}: ${seconds.toFixed(3)} s`);
    for (const r of rows) console.log(`${String(r.rank).padStart(3)}. ${r.id}  ${r.score.toFixed(3)}  ${r.title ?? '(no title)'}  [${r.category}]`);
  }
  disposeParams(model.params);
}

interface ImageCliOptions extends GenerateCliOptions {
  image?: string;
  method?: 'generative' | 'nearest';
}

/**
 * `search --image <file>`: the photo model of the dataset (`--name`; `eval-image` writes one per
 * COIL catalog: 30, 90, one) generates the SIDs of the items in the photo.
 */
async function runImageSearch(cmd: Command, opts: ImageCliOptions, image: string): Promise<void> {
  const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
  await initTensorRuntime();
  const model = await openPhotoSearch(photoModelDir(ctx.home, opts.dataset, opts.name));
  try {
    let history: Int32Array | undefined;
    if (opts.user !== undefined) {
      const inter = interactionsOf(ctx, opts.dataset);
      const u = inter.userIds.indexOf(opts.user);
      if (u < 0) throw notFound(`user "${opts.user}" in dataset "${opts.dataset}"`, 'pass an id from the imported events, or leave --user out');
      const index = new Map(model.itemIds.map((id, i) => [id, i]));
      history = Int32Array.from(Array.from(inter.sequences[u], (it) => index.get(inter.items[it].id) ?? -1).filter((i) => i >= 0));
    }
    let bytes: Buffer;
    try {
      bytes = readFileSync(image);
    } catch {
      throw notFound(`photo ${image}`);
    }
    const result = await searchPhoto(model, bytes, {
      k: parseInteger(opts.k, '--k', 1),
      beam: parseInteger(opts.beam, '--beam', 1),
      pruneMargin: opts.prune === undefined ? undefined : Number(opts.prune),
      method: opts.method,
      history,
    });
    if (opts.json) {
      console.log(JSON.stringify({ image, user: opts.user ?? null, ...result }));
      return;
    }
    console.log(`photo ${image} (${result.method}): ${result.seconds.toFixed(3)} s`);
    for (const r of result.items) console.log(`${String(r.rank).padStart(3)}. ${r.id}  ${r.score.toFixed(3)}  ${r.title ?? '(no title)'}`);
  } finally {
    model.dispose();
  }
}

export function registerSearch(program: Command): void {
  withGenerateOptions(
    program
      .command('search')
      .description('generative search: the trained model writes the SIDs of the items for a query or a photo (and the user\'s history)')
      .argument('[query]', 'search text (or give --image)')
      .option('--user <id>', 'user whose history personalises the results')
      .option('--image <file>', 'search by product photo (PNG or JPEG) with the photo model --name of --dataset')
      .addOption(new Option('--method <method>', 'photo search: generative (default) or nearest catalog photo').choices(['generative', 'nearest'])),
  ).action(async (query: string | undefined, opts: ImageCliOptions, cmd: Command) => {
    if (opts.image !== undefined) {
      if (query !== undefined) throw badInput('give a text query or --image, not both');
      return runImageSearch(cmd, opts, opts.image);
    }
    if (query === undefined) throw badInput('search needs a query text, or --image <file>');
    if (opts.method !== undefined) throw badInput('--method applies to --image searches');
    return runGenerate(cmd, opts, query);
  });
}
