import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Argument, type Command, Option } from 'commander';
import { badInput, GensearchError, notFound } from '../../errors.js';
import { importAmazonBeauty } from '../../import/amazon-beauty.js';
import { COIL_CATALOGS, COIL_SETS, type CoilCatalog, type CoilSet, importCoil } from '../../import/coil.js';
import type { ImportOptions, ImportResult } from '../../import/common.js';
import { importGeneric } from '../../import/generic.js';
import { importImageCatalog } from '../../import/images.js';
import { importKuaiSearch } from '../../import/kuaisearch.js';
import { demoDataDir, sharedDataDir } from '../../paths.js';
import type { Store } from '../../store/types.js';
import { cliContext, type GlobalOptions } from '../context.js';

export const IMPORT_KINDS = ['beauty', 'demo', 'kuaisearch', 'coil', 'images', 'generic'] as const;
type Kind = (typeof IMPORT_KINDS)[number];

interface ImportCliOptions {
  dataset?: string;
  replace?: boolean;
  items?: string;
  events?: string;
  users?: string;
  json?: boolean;
  set?: CoilSet;
  catalog?: CoilCatalog;
}

/** The folder kinds: where their data lies by default and which importer reads it. */
type FolderImport = (store: Store, dir: string, options: ImportOptions, cli: ImportCliOptions) => ImportResult;
const FOLDER_KINDS: Record<Exclude<Kind, 'generic'>, { folder: () => string; run: FolderImport }> = {
  beauty: { folder: () => join(sharedDataDir(), 'amazon-beauty'), run: importAmazonBeauty },
  demo: { folder: demoDataDir, run: importAmazonBeauty },
  kuaisearch: { folder: () => join(sharedDataDir(), 'kuaisearch-demo'), run: importKuaiSearch },
  coil: { folder: () => join(sharedDataDir(), 'coil'), run: (store, dir, options, cli) => importCoil(store, dir, { ...options, set: cli.set ?? 'coil20', catalog: cli.catalog }) },
  images: {
    folder: () => {
      throw badInput('import images needs the folder of photos (one file or one sub-folder per item)');
    },
    run: importImageCatalog,
  },
};

function folderOf(kind: Exclude<Kind, 'generic'>, path: string | undefined): string {
  const dir = path ?? FOLDER_KINDS[kind].folder();
  if (existsSync(dir) && statSync(dir).isDirectory()) return dir;
  if (path !== undefined) throw notFound(`folder ${dir}`, `give the folder that holds the ${kind} files`);
  throw new GensearchError(
    'MISSING_DATA',
    `the ${kind} data folder ${dir} is missing; pass its path (gensearch import ${kind} <folder>) or set GENSEARCH_SHARED_DATA`,
  );
}

/** Runs the import the arguments name; each kind's default dataset is the kind's name. */
export function runImport(store: Store, kind: Kind, path: string | undefined, opts: ImportCliOptions): ImportResult {
  const options: ImportOptions = { dataset: opts.dataset ?? (kind === 'coil' ? (opts.set ?? 'coil20') : kind), replace: opts.replace };
  const files = { items: opts.items, events: opts.events, users: opts.users };
  const hasFiles = Object.values(files).some((f) => f !== undefined);
  if (kind === 'generic') {
    if (path !== undefined) throw badInput(`import generic takes --items, --events and --users files, not a path; got "${path}"`);
    if (!hasFiles) throw badInput('import generic needs --items FILE, --events FILE or --users FILE (see README, "Data import")');
    return importGeneric(store, files, options);
  }
  if (hasFiles) throw badInput(`--items, --events and --users belong to "import generic"; "import ${kind}" reads a folder`);
  if (kind === 'demo' && path !== undefined) throw badInput(`import demo reads the bundled data and takes no path; got "${path}"`);
  if ((opts.set || opts.catalog) && kind !== 'coil') throw badInput(`--set and --catalog belong to "import coil"`);
  return FOLDER_KINDS[kind].run(store, folderOf(kind, path), options, opts);
}

export function registerImport(program: Command): void {
  program
    .command('import')
    .description('import a catalog and behaviour into the store (all or nothing; re-importing adds only new events)')
    .addArgument(new Argument('<kind>', 'what to read').choices(IMPORT_KINDS))
    .argument('[path]', 'folder for beauty (default <shared>/amazon-beauty), kuaisearch (default <shared>/kuaisearch-demo), coil (default <shared>/coil), images (required)')
    .option('--dataset <name>', 'dataset to write (default: the kind, e.g. "beauty")')
    .option('--replace', 'drop the dataset first, in the same transaction')
    .option('--items <file>', 'generic: items as JSON Lines or .csv')
    .option('--events <file>', 'generic: events as JSON Lines')
    .option('--users <file>', 'generic: user profiles as JSON Lines')
    .addOption(new Option('--set <set>', 'coil: which set (default coil20; dataset defaults to its name)').choices(COIL_SETS))
    .addOption(new Option('--catalog <angles>', 'coil: catalog views at multiples of 30 or 90 degrees, or one view (default 30)').choices(COIL_CATALOGS))
    .option('--json', 'print the result as JSON')
    .action((kind: Kind, path: string | undefined, opts: ImportCliOptions, cmd: Command) => {
      const store = cliContext(cmd.optsWithGlobals<GlobalOptions>()).openStore();
      try {
        const started = Date.now();
        const result = runImport(store, kind, path, opts);
        const seconds = (Date.now() - started) / 1000;
        const info = store.dataset(result.dataset)!;
        for (const w of result.warnings) console.error(`warning: ${w}`);
        if (opts.json) {
          console.log(JSON.stringify({ ...result, seconds, stored: info }, null, 2));
          return;
        }
        console.log(`imported ${kind} into dataset "${result.dataset}" in ${seconds.toFixed(1)} s (${info.source})`);
        const stubs = result.placeholderItems ? ` (${result.placeholderItems} placeholders)` : '';
        console.log(`  written: items=${result.items}${stubs} users=${result.users} events=${result.events} new, ${result.duplicateEvents} already stored`);
        console.log(`  dataset now: items=${info.items} users=${info.users} events=${info.events}`);
      } finally {
        store.close();
      }
    });
}
