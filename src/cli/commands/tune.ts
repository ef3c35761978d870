import type { Command } from 'commander';
import { writeFileSync } from 'node:fs';
import { baseline, parseSettings } from '../../baselines/registry.js';
import { tuneBaseline } from '../../baselines/tune.js';
import { loadAlignedEmbeddingsIfBuilt } from '../../cascade/embeddings.js';
import { DecodeWorkers } from '../../decode/decode-workers.js';
import { headPriorsFor } from '../../decode/ranker.js';
import { TUNED_HEAD_KNOBS, type TunedHeadKnob, tuneHeadKnobs } from '../../decode/tune-head.js';
import { badInput } from '../../errors.js';
import { type MetricKey, parseMetric } from '../../eval/metrics.js';
import { trainingCounts } from '../../eval/popularity.js';
import { buildEvalData } from '../../eval/protocol.js';
import { PROTOCOLS, type Protocol } from '../../eval/types.js';
import { disposeParams } from '../../model/params.js';
import { GENERATIVE_SYSTEM_DEFAULTS, generativeDir, loadGenerative } from '../../tasks/train.js';
import { initTensorRuntime } from '../../tensor/runtime.js';
import { type CliContext, cliContext, type GlobalOptions } from '../context.js';
import { collect, interactionsOf, parseInteger, parseList } from './eval.js';

interface TuneCliOptions {
  dataset: string;
  protocol: string;
  system: string;
  metric: string;
  excludeHistory: string;
  set: string[];
  passes: string;
  name: string;
  beam: string;
  proposals: string;
  workers: string;
  out?: string;
}

/** The eval knob (`--set generative.<knob>`) of each head knob the tuner weighs. */
const EVAL_KNOB: Record<TunedHeadKnob, keyof typeof GENERATIVE_SYSTEM_DEFAULTS> = {
  itemWeight: 'itemWeight',
  coPurchaseWeight: 'coPurchase',
  textMatchWeight: 'textMatch',
  queryCosineWeight: 'queryCosine',
  userCosineWeight: 'userCosine',
  historyCosineWeight: 'historyCosine',
};

/**
 * `tune --system generative`: the head's weight and its priors' weights for the protocol's
 * request kind, searched on validation candidates decoded once (`tuneHeadKnobs`).
 */
async function tuneGenerative(ctx: CliContext, opts: TuneCliOptions, protocol: Protocol, metric: MetricKey): Promise<void> {
  if (opts.excludeHistory !== 'yes') throw badInput('the generative tuner leaves the history out, as its decoding does (--exclude-history yes)');
  const given = parseSettings(opts.set);
  const settings = given.get('generative') ?? {};
  if ([...given.keys()].some((system) => system !== 'generative')) throw badInput('--set: the generative tuner starts from generative.<knob> settings only');
  const start: Partial<Record<TunedHeadKnob, number>> = {};
  for (const [knob, value] of Object.entries(settings)) {
    const head = TUNED_HEAD_KNOBS.find((k) => EVAL_KNOB[k] === knob);
    if (!head) throw badInput(`--set generative.${knob}: the tuner starts from ${TUNED_HEAD_KNOBS.map((k) => EVAL_KNOB[k]).join(', ')}`);
    start[head] = value;
  }
  await initTensorRuntime();
  const { model } = loadGenerative(generativeDir(ctx.home, opts.dataset, opts.name));
  const inter = interactionsOf(ctx, opts.dataset);
  const { train, cases } = buildEvalData(inter, protocol, 'valid');
  const priors = await headPriorsFor(model.cfg, train, {}, () => loadAlignedEmbeddingsIfBuilt(ctx.home, opts.dataset, train.items));
  const workers = await DecodeWorkers.start(model, parseInteger(opts.workers, '--workers', 1));
  try {
    const result = await tuneHeadKnobs(model, cases, priors, {
      beam: parseInteger(opts.beam, '--beam', 1),
      proposals: parseInteger(opts.proposals, '--proposals', 1),
      metric,
      passes: parseInteger(opts.passes, '--passes', 1),
      itemLogCounts: Float32Array.from(trainingCounts(train), (c) => Math.log1p(c)),
      start,
      workers,
      log: (line) => console.log(line),
    });
    console.log(`${result.kind}: ${metric} on valid ${result.start.score.toFixed(5)} at the start -> ${result.best.score.toFixed(5)}; targets among the candidates: ${result.candidateRecall.toFixed(4)}`);
    console.log(TUNED_HEAD_KNOBS.map((k) => `--set generative.${EVAL_KNOB[k]}=${result.best.knobs[k]}`).join(' '));
    console.log('(re-ranked candidates of one decoding; confirm with `gensearch eval --split valid` and these settings)');
    if (opts.out) writeFileSync(opts.out, JSON.stringify(result, null, 1) + '\n');
  } finally {
    await workers.close();
    disposeParams(model.params);
  }
}

export function registerTune(program: Command): void {
  program
    .command('tune')
    .description("tune a baseline's knobs by coordinate search on the VALIDATION split (never the test split)")
    .option('--dataset <name>', 'dataset in the store', 'beauty')
    .option('--protocol <name>', 'rec or search', 'rec')
    .requiredOption('--system <name>', 'baseline to tune: itemcf, bm25, bm25-personal; or generative: the item head\'s weights of a trained model (--name)')
    .option('--metric <key>', 'what to maximise', 'ndcg@10')
    .option('--exclude-history <yes|no>', 'select on the variant with history excluded (yes) or kept (no)', 'yes')
    .option('--set <system.knob=value>', 'starting value of a knob, repeatable (generative: itemWeight, coPurchase, textMatch, queryCosine, userCosine, historyCosine; default the model\'s defaults)', collect, [])
    .option('--passes <n>', 'rounds of coordinate search', '2')
    .option('--name <name>', 'generative: the trained model', 'default')
    .option('--beam <n>', 'generative: beam width of the one decoding', '20')
    .option('--proposals <n>', 'generative: head proposals in that decoding (the candidates every trial re-ranks)', '150')
    .option('--workers <n>', 'generative: decoding threads', '2')
    .option('--out <file>', 'write the result (best knobs and all trials) as JSON')
    .action(async (opts: TuneCliOptions, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      const [protocol] = parseList<Protocol>(opts.protocol, PROTOCOLS, '--protocol');
      const [exclude] = parseList(opts.excludeHistory, ['yes', 'no'] as const, '--exclude-history');
      if (opts.system === 'generative') return tuneGenerative(ctx, opts, protocol, parseMetric(opts.metric));
      const spec = baseline(opts.system);
      const inter = interactionsOf(ctx, opts.dataset);
      const result = await tuneBaseline(inter, spec, {
        protocol,
        metric: opts.metric,
        excludeHistory: exclude === 'yes',
        start: parseSettings(opts.set).get(spec.name),
        passes: parseInteger(opts.passes, '--passes', 1),
        log: (line) => console.log(line),
        context: { home: ctx.home },
      });
      console.log(`best ${result.metric} on valid = ${result.score.toFixed(5)}`);
      console.log(Object.entries(result.best).map(([k, v]) => `--set ${spec.name}.${k}=${v}`).join(' '));
      if (opts.out) writeFileSync(opts.out, JSON.stringify(result, null, 1) + '\n');
    });
}
