import type { Command } from 'commander';
import { compareToReference, labelReport, mergeReports, readReport, renderMarkdown } from '../../eval/report.js';
import { writeReport } from '../../eval/run.js';

interface ReportOptions {
  in: string;
  out?: string;
  reference?: string;
}

export function registerReport(program: Command): void {
  program
    .command('report')
    .description('re-render evaluation reports, merging several (e.g. a new model with stored baselines) and re-testing against a reference')
    .requiredOption('--in <dirs>', 'report folders written by `gensearch eval`, comma-separated; DIR=LABEL renames its systems to LABEL (to test two runs of one system against each other)')
    .option('--out <dir>', 'where to write the merged report (default: print Markdown only)')
    .option('--reference <system>', 'system the others are tested against (default: the first report\'s)')
    .action((opts: ReportOptions) => {
      const report = mergeReports(
        opts.in.split(',').map((entry) => {
          const [dir, label] = entry.trim().split('=');
          const read = readReport(dir);
          return label ? labelReport(read, label) : read;
        }),
      );
      compareToReference(report, opts.reference);
      if (opts.out) for (const path of writeReport(opts.out, report)) console.log(path);
      else process.stdout.write(renderMarkdown(report));
    });
}
