#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { exitCodeFor, GensearchError } from '../errors.js';
import { registerDatasets } from './commands/datasets.js';
import { registerDemo } from './commands/demo.js';
import { registerEmbed } from './commands/embed.js';
import { registerEval } from './commands/eval.js';
import { registerEvalImage } from './commands/eval-image.js';
import { registerImport } from './commands/import.js';
import { registerRecommend } from './commands/recommend.js';
import { registerReport } from './commands/report.js';
import { registerSearch } from './commands/search.js';
import { registerServe } from './commands/serve.js';
import { registerSids } from './commands/sids.js';
import { registerTrain } from './commands/train.js';
import { registerTrainBaseline } from './commands/train-baseline.js';
import { registerTrainImage } from './commands/train-image.js';
import { registerTune } from './commands/tune.js';

/** The CLI is a thin layer: each command parses options and calls one library function. */
export function buildProgram(): Command {
  const program = new Command('gensearch')
    .description('generative e-commerce search: import, build semantic IDs, train, evaluate, serve')
    .option('--home <dir>', 'working folder for the store and built artifacts (default .gensearch or $GENSEARCH_HOME)')
    .showHelpAfterError()
    .exitOverride();
  registerDatasets(program);
  registerDemo(program);
  registerEmbed(program);
  registerImport(program);
  registerEval(program);
  registerEvalImage(program);
  registerRecommend(program);
  registerReport(program);
  registerSearch(program);
  registerServe(program);
  registerSids(program);
  registerTrain(program);
  registerTrainBaseline(program);
  registerTrainImage(program);
  registerTune(program);
  return program;
}

async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version exit 0; usage errors exit 64 (EX_USAGE).
      process.exitCode = error.exitCode === 0 ? 0 : 64;
      return;
    }
    const prefix = error instanceof GensearchError ? `error [${error.code}]` : 'internal error';
    console.error(`${prefix}: ${error instanceof Error ? error.message : String(error)}`);
    if (!(error instanceof GensearchError) && error instanceof Error && error.stack) console.error(error.stack);
    process.exitCode = exitCodeFor(error);
  }
}

await main(process.argv);
