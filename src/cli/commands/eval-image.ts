import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { photoModelDir } from '../../decode/photo-search.js';
import { BackbonePool } from '../../encoders/image-encoder.js';
import { badInput, GensearchError, notFound } from '../../errors.js';
import { loadCoilPhotos, type PhotoEvalResult, type PhotoTraining, reevalPhotoModel, runPhotoEval } from '../../eval/photo.js';
import { COIL_CATALOGS, COIL_SETS } from '../../import/coil.js';
import { sharedDataDir } from '../../paths.js';
import { initTensorRuntime } from '../../tensor/runtime.js';
import { cliContext, type GlobalOptions } from '../context.js';
import { parseInteger, parseList } from './eval.js';
import { type PhotoTrainingCliOptions, photoTrainingOptions, withPhotoTrainingOptions } from './train-image.js';

interface EvalImageOptions extends PhotoTrainingCliOptions {
  data?: string;
  sets: string;
  catalogs: string;
  beam: string;
  prune: string;
  reuse?: boolean;
  out?: string;
}

/** "off,2" -> [null, 2]: the pruning margins to decode with. */
function parseMargins(text: string): (number | null)[] {
  return text.split(',').map((m) => {
    if (m.trim() === 'off') return null;
    const x = Number(m);
    if (!(x >= 0)) throw badInput(`--prune expects margins in nats (>= 0) or "off", separated by commas; got "${text}"`);
    return x;
  });
}

const f4 = (x: number) => x.toFixed(4);

/** The results as the markdown table docs/RESULTS.md carries. */
export function photoTable(results: readonly PhotoEvalResult[]): string {
  const lines = [
    '| set | catalog | system | HR@1 | HR@5 | MRR | ms / photo |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const r of results) {
    const cat = r.catalog === 'one' ? 'one view (0°)' : `${r.catalog}° (${r.catalogPhotos / r.items} views)`;
    lines.push(`| ${r.set} | ${cat} | nearest view (exact) | ${f4(r.nearestView.hr1)} | ${f4(r.nearestView.hr5)} | ${f4(r.nearestView.mrr)} | ${r.nearestView.msPerPhoto.toFixed(1)} |`);
    for (const g of r.generative) {
      const prune = g.pruneMargin === null ? '' : `, pruning ${g.pruneMargin} nats`;
      const label = `generative (beam ${g.beam}${prune}; ${g.beamRowsPerPhoto.toFixed(1)} beam rows / photo)`;
      lines.push(`| ${r.set} | ${cat} | ${label} | ${f4(g.hr1)} | ${f4(g.hr5)} | ${f4(g.mrr)} | ${g.msPerPhoto.toFixed(1)} |`);
    }
  }
  lines.push('', '| set | catalog | VRQ levels | CUR_L1 | CUR_L1xL2 | ICR | query photos on own L1 | on own L1+L2 | catalog photos on own L1+L2 |', '|---|---|---|---|---|---|---|---|---|');
  const pct = (x: number) => `${(100 * x).toFixed(1)}%`;
  for (const r of results) {
    const v = r.vrq;
    lines.push(
      `| ${r.set} | ${r.catalog} | ${v.report.layout.levels.join('-')} | ${pct(v.report.curL1)} | ${pct(v.report.curL1xL2)} | ${pct(v.report.icr)} | ${pct(v.queryShare.level1)} | ${pct(v.queryShare.level12)} | ${pct(v.catalogShare.level12)} |`,
    );
  }
  return lines.join('\n');
}

export function registerEvalImage(program: Command): void {
  withPhotoTrainingOptions(program.command('eval-image'))
    .description('photo search on COIL: trains the image encoder on catalog photos, builds VRQ SIDs and the photo generative model, reports HR@1/5 and MRR against nearest view')
    .option('--data <dir>', 'COIL folder (default <shared>/coil)')
    .option('--sets <list>', `sets: ${COIL_SETS.join(', ')}`, COIL_SETS.join(','))
    .option('--catalogs <list>', `catalogs: ${COIL_CATALOGS.join(', ')} (30/90 = views at multiples of that angle; one = the 0° view)`, COIL_CATALOGS.join(','))
    .option('--beam <n>', 'beam width', '10')
    .option('--prune <list>', 'dynamic pruning margins to decode with, nats or "off"', 'off,2')
    .option('--reuse', 'evaluate the photo models an earlier eval-image left in the home (no training)')
    .option('--out <file>', 'also write the results as JSON')
    .action(async (opts: EvalImageOptions, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      const dir = opts.data ?? join(sharedDataDir(), 'coil');
      if (!existsSync(dir)) throw new GensearchError('MISSING_DATA', `the COIL folder ${dir} is missing; pass --data <dir> or set GENSEARCH_SHARED_DATA`);
      const tf = await initTensorRuntime();
      const results: PhotoEvalResult[] = [];
      // One pool per photo set: its backbone caches the features of that set's views.
      for (const set of parseList(opts.sets, COIL_SETS, '--sets')) {
        const pool = new BackbonePool();
        for (const catalog of parseList(opts.catalogs, COIL_CATALOGS, '--catalogs')) {
          const outDir = photoModelDir(ctx.home, set, catalog);
          const decoding = { beam: parseInteger(opts.beam, '--beam', 1), margins: parseMargins(opts.prune) };
          if (opts.reuse) {
            const path = join(outDir, 'eval.json');
            if (!existsSync(path)) throw notFound(`photo model evaluation ${path}`, 'run eval-image without --reuse first');
            const before = JSON.parse(readFileSync(path, 'utf8')) as PhotoTraining;
            const result = await reevalPhotoModel(outDir, loadCoilPhotos(dir, set, catalog), before, decoding, (m) => process.stderr.write(`${m}\n`), pool);
            writeFileSync(path, JSON.stringify(result, null, 2));
            results.push(result);
            continue;
          }
          const result = await runPhotoEval(tf, { dir, set, catalog, ...photoTrainingOptions(opts, outDir, pool), ...decoding });
          writeFileSync(join(outDir, 'eval.json'), JSON.stringify(result, null, 2));
          results.push(result);
        }
        await pool.dispose();
      }
      if (opts.out) writeFileSync(opts.out, JSON.stringify(results, null, 2));
      console.log(photoTable(results));
    });
}
