import { join } from 'node:path';
import { baseline } from '../baselines/registry.js';
import { embedDataset, encoderDir, ITEM_EMBEDDINGS, QUERY_EMBEDDINGS } from '../encoders/embed.js';
import { loadTextEncoder, type TextEncoder } from '../encoders/model.js';
import { loadWordVectors } from '../encoders/wink.js';
import { renderMarkdown } from '../eval/report.js';
import { runEvaluation, writeReport } from '../eval/run.js';
import { importAmazonBeauty } from '../import/amazon-beauty.js';
import { disposeParams } from '../model/params.js';
import { demoDataDir } from '../paths.js';
import type { SidConfig } from '../sids/build.js';
import { buildDatasetSids, sidDir } from '../sids/pipeline.js';
import { loadInteractions } from '../store/interactions.js';
import { SqliteStore } from '../store/sqlite.js';
import { generativeDir, generativeRecipe, generativeTrainingSids, type TrainingSummary, trainGenerative } from '../tasks/train.js';
import { initTensorRuntime } from '../tensor/runtime.js';
import { chained, fingerprint, isBuilt, isFresh, markDone } from './stamps.js';

/** How the main job builds its generative model: plain data, part of every stamp. */
export interface DemoModelOptions {
  /** Model name (`gensearch serve --name`). */
  name: string;
  embed: { epochs: number; dim?: number; wordVectors: boolean };
  /** Overrides of the catalog-sized SID defaults. */
  sids: Partial<SidConfig>;
  /** Recipe settings, as `gensearch train --set key=value`. */
  recipe: Record<string, string>;
  /** Data-parallel training threads. */
  workers: number;
}

/**
 * The demo model: the small profile, bounded to a few minutes on 2 cores. One epoch of the
 * full mix is about 117k samples (20 min at ~100 samples/s here), so the personalised and
 * next-item samples are subsampled to a tenth (20k samples: about 3 minutes per epoch) and it
 * trains one epoch; the encoder trains one epoch too (its default 3 take ~100 s more). The
 * whole first start takes about 6 minutes here (docs/RESULTS.md, "Serving").
 */
export const DEMO_MODEL: DemoModelOptions = {
  name: 'default',
  embed: { epochs: 1, wordVectors: true },
  sids: {},
  recipe: { profile: 'small', epochs: '1', validCases: '200', 'mix.search': '0.1', 'mix.rec': '0.1', 'mix.item2next': '0.1' },
  workers: 2,
};

export interface DemoOptions {
  /** Working folder: store, stamps, reports. */
  home: string;
  /** Folder in S3Rec format (items.jsonl + sequences.txt); default the bundled slice. */
  dataDir?: string;
  dataset?: string;
  /** Evaluate the baselines and write their report (default true). */
  report?: boolean;
  /** The generative model to build (default DEMO_MODEL); null builds none. */
  model?: DemoModelOptions | null;
  /** Sign flips of the significance test (default 10,000; tests use fewer). */
  iterations?: number;
  /** Steps log here (the CLI passes console.log). */
  log?: (line: string) => void;
}

/** What each step did: 'built' or 'reused' (its stamp matched and its outputs exist). */
export type StepOutcome = 'built' | 'reused';

export interface DemoResult {
  dataset: string;
  imported: boolean;
  steps: Record<string, StepOutcome>;
  reportFiles: string[];
  markdown: string;
  /** Model folder, when one was built or reused. */
  modelDir: string | null;
  training: TrainingSummary | null;
}

const BASELINE_SYSTEMS = ['popular', 'itemcf', 'bm25', 'bm25-personal'];

/**
 * The main job on the bundled demo data: import it, then build the model (encoder embeddings,
 * SIDs, generative training) and evaluate the baselines. Every step is stamped with a
 * fingerprint of its inputs (the previous step's fingerprint plus its own settings) and
 * skipped on a later run while that is unchanged and its outputs exist.
 */
export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const log = options.log ?? (() => {});
  const dataDir = options.dataDir ?? demoDataDir();
  const dataset = options.dataset ?? 'demo';
  const spec = options.model === undefined ? DEMO_MODEL : options.model;
  const steps: Record<string, StepOutcome> = {};
  const store = new SqliteStore(join(options.home, 'store.sqlite'));
  try {
    const importPrint = fingerprint([join(dataDir, 'items.jsonl'), join(dataDir, 'sequences.txt')], { dataset });
    if (store.dataset(dataset) && isFresh(options.home, `import-${dataset}`, importPrint)) {
      log(`import: ${dataset} is up to date`);
      steps.import = 'reused';
    } else {
      const counts = importAmazonBeauty(store, dataDir, { dataset, replace: true });
      markDone(options.home, `import-${dataset}`, importPrint);
      steps.import = 'built';
      log(`import: ${dataset} <- ${dataDir}: ${counts.items} items, ${counts.users} users, ${counts.events} events`);
    }
    const inter = loadInteractions(store, dataset);
    let modelDir: string | null = null;
    let training: TrainingSummary | null = null;
    if (spec) {
      const tf = await initTensorRuntime();
      const encDir = encoderDir(options.home, dataset);
      const embedPrint = chained(importPrint, spec.embed);
      let encoder: TextEncoder | undefined;
      if (isBuilt(options.home, `embed-${dataset}`, embedPrint, [join(encDir, 'encoder.json'), join(encDir, ITEM_EMBEDDINGS)])) {
        log(`embed: ${dataset} encoder is up to date`);
        steps.embed = 'reused';
      } else {
        log(`embed: training the aligned text encoder on ${dataset} (${spec.embed.epochs} epoch(s))`);
        const cacheDir = join(options.home, 'cache');
        const result = await embedDataset(inter, {
          dir: encDir,
          epochs: spec.embed.epochs,
          ...(spec.embed.dim ? { dim: spec.embed.dim } : {}),
          wordVectors: spec.embed.wordVectors ? (words) => loadWordVectors(words, { cacheDir }) : undefined,
        });
        encoder = result.encoder;
        markDone(options.home, `embed-${dataset}`, embedPrint);
        steps.embed = 'built';
      }
      const sidsPrint = chained(embedPrint, spec.sids);
      const sidsBuild = generativeRecipe(spec.recipe).sids;
      if (isBuilt(options.home, `sids-${dataset}-${sidsBuild}`, sidsPrint, [join(sidDir(options.home, dataset, sidsBuild), 'model.json')]) && store.sidVersions(dataset).includes(sidsBuild)) {
        log(`sids: build "${sidsBuild}" is up to date`);
        steps.sids = 'reused';
      } else {
        encoder ??= await loadTextEncoder(encDir);
        const keywords = spec.sids.keywords !== null;
        buildDatasetSids(tf, store, {
          home: options.home,
          dataset,
          name: sidsBuild,
          config: spec.sids,
          embeddings: join(encDir, ITEM_EMBEDDINGS),
          queries: join(encDir, QUERY_EMBEDDINGS),
          encoder: keywords ? encoder : undefined,
        });
        markDone(options.home, `sids-${dataset}-${sidsBuild}`, sidsPrint);
        steps.sids = 'built';
        log(`sids: built "${sidsBuild}"`);
      }
      encoder?.dispose();
      modelDir = generativeDir(options.home, dataset, spec.name);
      // The resolved recipe, so a change of the defaults retrains too.
      const trainPrint = chained(sidsPrint, { recipe: generativeRecipe(spec.recipe), workers: spec.workers });
      if (isBuilt(options.home, `train-${dataset}-${spec.name}`, trainPrint, [join(modelDir, 'generative.json')])) {
        log(`train: model "${spec.name}" is up to date (${modelDir})`);
        steps.train = 'reused';
      } else {
        const { sids, sidRows, itemRows, recipe } = generativeTrainingSids(store, options.home, dataset, generativeRecipe(spec.recipe), inter.items.map((it) => it.id), { log });
        log(`train: generative retriever, profile ${recipe.profile}, ${recipe.epochs} epoch(s), into ${modelDir}`);
        const result = await trainGenerative(inter, sids, { dir: modelDir, recipe, sidRows, itemRows, workers: spec.workers, log });
        disposeParams(result.model.params);
        training = result.summary;
        markDone(options.home, `train-${dataset}-${spec.name}`, trainPrint);
        steps.train = 'built';
      }
    }
    let reportFiles: string[] = [];
    let markdown = '';
    if (options.report ?? true) {
      const systems = BASELINE_SYSTEMS.map((name) => {
        const b = baseline(name);
        return { name: b.name, create: () => b.create({ ...b.defaults }) };
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
      reportFiles = writeReport(join(options.home, 'reports', `demo-${dataset}`), report);
      markdown = renderMarkdown(report);
    }
    return { dataset, imported: steps.import === 'built', steps, reportFiles, markdown, modelDir, training };
  } finally {
    store.close();
  }
}
