import type { Command } from 'commander';
import { type GenerateCliOptions, runGenerate, withGenerateOptions } from './search.js';

export function registerRecommend(program: Command): void {
  withGenerateOptions(
    program
      .command('recommend')
      .description('generative recommendation: the model writes the SIDs of the next items for a user (an empty query)')
      .requiredOption('--user <id>', 'user to recommend for'),
  ).action(async (opts: GenerateCliOptions, cmd: Command) => runGenerate(cmd, opts, null));
}
