import { join } from 'node:path';
import { baseline } from '../baselines/registry.js';
import { renderMarkdown } from '../eval/report.js';
import { runEvaluation, writeReport } from '../eval/run.js';
import { importAmazonBeauty } from '../import/amazon-beauty.js';
import { demoDataDir } from '../paths.js';
import { loadInteractions } from '../store/interactions.js';
import { SqliteStore } from '../store/sqlite.js';
import { fingerprint, isFresh, markDone } from './stamps.js';

export interface DemoOptions {
  /** Working folder: store, stamps, reports. */
  home: string;
  /** Folder in S3Rec format (items.jsonl + sequences.txt); default the bundled slice. */
  dataDir?: string;
  dataset?: string;
  /** Sign flips of the significance test (default 10,000; tests use fewer). */
  iterations?: number;
  /** Steps log here (the CLI passes console.log). */
  log?: (line: string) => void;
}

export interface DemoResult {
  dataset: string;
  imported: boolean;
  reportFiles: string[];
  markdown: string;
}

const BASELINE_SYSTEMS = ['popular', 'itemcf', 'bm25', 'bm25-personal'];

/**
 * The main job on the bundled demo data: import it (skipped while its files are unchanged),
 * then evaluate the baselines on both protocols and write the report.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const log = options.log ?? (() => {});
  const dataDir = options.dataDir ?? demoDataDir();
  const dataset = options.dataset ?? 'demo';
  const store = new SqliteStore(join(options.home, 'store.sqlite'));
  try {
    const importPrint = fingerprint([join(dataDir, 'items.jsonl'), join(dataDir, 'sequences.txt')], { dataset });
    let imported = false;
    if (store.dataset(dataset) && isFresh(options.home, `import-${dataset}`, importPrint)) {
      log(`import: ${dataset} is up to date`);
    } else {
      const counts = importAmazonBeauty(store, dataDir, { dataset, replace: true });
      markDone(options.home, `import-${dataset}`, importPrint);
      imported = true;
      log(`import: ${dataset} <- ${dataDir}: ${counts.items} items, ${counts.users} users, ${counts.events} events`);
    }
    const inter = loadInteractions(store, dataset);
    const systems = BASELINE_SYSTEMS.map((name) => {
      const spec = baseline(name);
      return { name: spec.name, create: () => spec.create({ ...spec.defaults }) };
    });
    log(`eval: ${systems.map((s) => s.name).join(', ')} on rec + search, test split`);
    const report = await runEvaluation(inter, {
      protocols: ['rec', 'search'],
      splits: ['test'],
      systems,
      reference: 'itemcf',
      iterations: options.iterations,
      command: 'npm start',
    });
    const dir = join(options.home, 'reports', `demo-${dataset}`);
    const reportFiles = writeReport(dir, report);
    return { dataset, imported, reportFiles, markdown: renderMarkdown(report) };
  } finally {
    store.close();
  }
}
