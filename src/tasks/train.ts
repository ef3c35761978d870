import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { trainingFingerprint } from '../baselines/sasrec.js';
import { loadAlignedEmbeddingsIfBuilt } from '../cascade/embeddings.js';
import type { GenerativeModel } from '../decode/ranker.js';
import { itemWeightOf } from '../decode/generate.js';
import { trainingCounts } from '../eval/popularity.js';
import { GenerativeRanker } from '../decode/ranker.js';
import { encoderDir, ITEM_EMBEDDINGS } from '../encoders/embed.js';
import { readEmbeddings, readJsonFile, writeJsonFile } from '../encoders/embfile.js';
import { itemText } from '../encoders/text.js';
import { badInput, GensearchError } from '../errors.js';
import { evaluateSystem } from '../eval/evaluate.js';
import { buildEvalData } from '../eval/protocol.js';
import type { EvalCase, TrainData } from '../eval/types.js';
import { canonicalJson, configHash, type ProfileName, type TransformerConfig } from '../model/config.js';
import { type GenerativeConfig, type GenerativeParams, generativeConfig, generativeObjective, initGenerative } from '../model/generative.js';
import { type PreferenceConfig, preferenceObjective } from '../model/preference.js';
import type { ExampleSource } from '../tensor/batching.js';
import { countParams, disposeParams, type Params } from '../model/params.js';
import { type BpeData, BpeTokenizer } from '../model/tokenizer.js';
import type { SidLayout } from '../sids/layout.js';
import { type SidModel, tokenVectors } from '../sids/model.js';
import type { Matrix } from '../sids/matrix.js';
import { alignRows, loadSids } from '../sids/pipeline.js';
import { SidTrie } from '../sids/trie.js';
import type { Store } from '../store/types.js';
import type { Interactions } from '../store/interactions.js';
import { ADAM_DEFAULTS } from '../tensor/adam.js';
import type { Objective, ObjectiveSpec } from '../tensor/objective.js';
import type { Rng } from '../tensor/rng.js';
import { measureMatmulGflops, type TensorBackend } from '../tensor/runtime.js';
import { type LrSchedule, loadTrainedParams, readMetrics, type TrainResult, train as runTrainer } from '../tensor/trainer.js';
import { trainingReportHtml } from './curves.js';
import { buildSamples, queryList, SAMPLE_KINDS, type SampleKind, type SampleMix, STAGES } from './examples.js';
import { preferenceSamples } from './preference.js';
import { packContext } from './prompt.js';

/**
 * Training the generative retriever on a dataset: tokenizer, stage samples, the shared trainer
 * (checkpoints, resume, validation with early stopping, data-parallel workers), and the model
 * folder that `loadGenerative` reads back. Everything that defines a run is the recipe (plain
 * data); the folder refuses to resume under another recipe.
 */
export interface GenerativeRecipe {
  profile: ProfileName;
  /** Overrides of the profile (0 or absent = the profile's value). */
  dModel: number;
  nLayers: number;
  decoderLayers: number;
  nHeads: number;
  dropout: number;
  /** Add a learned per-item vector to each history item's SID-sum vector. */
  itemEmbedding: boolean;
  /** Weight of the item head's loss (`GenerativeConfig.itemHead`; 0 = no head; needs itemEmbedding). */
  itemHead: number;
  /** The head scores items against their SID rows plus their own row (`GenerativeConfig.headSidRows`). */
  headSidRows: boolean;
  maxHistory: number;
  /** Target size of the BPE vocabulary. */
  textVocab: number;
  /** SID build in the store (`gensearch sids build --name`). */
  sids: string;
  useQuerySid: boolean;
  useHistory: boolean;
  /**
   * Start the SID token embeddings from the SID codebooks times this (0 = random init). On
   * Beauty it quadruples search recall after the same training (docs/RESULTS.md); it needs a
   * model as wide as the codebooks, and is dropped (with a log line) when the widths differ.
   */
  sidInit: number;
  /**
   * Start each item's own vector (`itemEmbedding`) at this times its aligned embedding minus
   * the sum of its warm-started SID rows, so the item's history vector starts as its aligned
   * embedding (0 = random init). Those embeddings keep the co-purchase neighbourhoods that the
   * quantized SIDs blur (docs/RESULTS.md). Needs sidInit > 0 and itemEmbedding.
   */
  itemInit: number;
  /** 'mixed': one run over every stage's samples; 'sequential': stage 1, then 2, then 3. */
  schedule: 'mixed' | 'sequential';
  /** Share of each sample kind used (see src/tasks/examples.ts); kinds added later (item2cf) are absent by default, so older recipes hash and resume as before. */
  mix: SampleMix;
  /** Sequential: epochs of stage 1 and stage 2. */
  stageEpochs: [number, number];
  /** Most epochs of the validated run (mixed: the whole run; sequential: stage 3). */
  epochs: number;
  patience: number;
  batchSize: number;
  lr: number;
  lrSchedule: LrSchedule;
  warmupSteps: number;
  weightDecay: number;
  seed: number;
  /** Validation cases per protocol (evenly spaced over the validation users), and their beam. */
  validCases: number;
  validBeam: number;
  /**
   * Preference alignment after the SFT phases (list-wise DPO, src/model/preference.ts): its
   * epochs (0 = none), the shares of stage-3 search and rec samples mined, the share of rec
   * samples kept as likelihood-only anchors (`PreferenceOptions.recSft`), rejected SIDs per
   * prompt, DPO beta, the margin per unit of reward gap, the weight of the preferred SID's NLL,
   * and its learning rate.
   */
  dpoEpochs: number;
  dpoSearch: number;
  dpoRec: number;
  dpoRecSft: number;
  dpoNegatives: number;
  dpoBeta: number;
  dpoMargin: number;
  dpoSft: number;
  dpoLr: number;
}

export const GENERATIVE_DEFAULTS: GenerativeRecipe = {
  profile: 'small',
  dModel: 0,
  nLayers: 0,
  decoderLayers: 0,
  nHeads: 0,
  dropout: -1,
  itemEmbedding: false,
  itemHead: 0,
  headSidRows: false,
  maxHistory: 20,
  textVocab: 2000,
  sids: 'default',
  useQuerySid: true,
  useHistory: true,
  sidInit: 1,
  itemInit: 0,
  schedule: 'mixed',
  mix: { item2sid: 1, sid2cat: 1, query2qsid: 1, query2item: 1, item2query: 0, item2next: 0.25, search: 1, rec: 1 },
  stageEpochs: [2, 2],
  epochs: 20,
  patience: 3,
  batchSize: 128,
  lr: 2e-3,
  lrSchedule: 'constant',
  warmupSteps: 100,
  weightDecay: 0,
  seed: 1,
  validCases: 1000,
  validBeam: 20,
  dpoEpochs: 0,
  dpoSearch: 0.1,
  dpoRec: 0,
  dpoRecSft: 0,
  dpoNegatives: 7,
  dpoBeta: 1,
  dpoMargin: 0.5,
  dpoSft: 1,
  dpoLr: 5e-4,
};

/** Folder of a trained generative model: <home>/<dataset>/generative/<name>. */
export function generativeDir(home: string, dataset: string, name = 'default'): string {
  return join(home, dataset, 'generative', name);
}

/** A SID table in the dataset's dense item order, as training and decoding read it. */
export interface DenseSids {
  /** SID build it came from. */
  build: string;
  layout: SidLayout;
  /** nItems x W global SID tokens (codes + position offsets), row = dense item index. */
  itemTokens: Int32Array;
  /** Query text -> SID tokens. */
  queries: Map<string, Int32Array>;
}

/** The SID sizes of each position: RQ levels, then the OPQ sub-codebooks. */
export function sidSizes(layout: SidLayout): number[] {
  return [...layout.levels, ...Array<number>(layout.opq?.subspaces ?? 0).fill(layout.opq?.k ?? 0)];
}

/** Reorders a SID table keyed by item id into the dense order of `itemIds`. */
export function denseSids(
  build: string,
  layout: SidLayout,
  table: { rowOf: ReadonlyMap<string, number>; tokens: Int32Array; queries: Map<string, Int32Array> },
  itemIds: readonly string[],
): DenseSids {
  const w = sidSizes(layout).length;
  const itemTokens = new Int32Array(itemIds.length * w);
  const missing: string[] = [];
  itemIds.forEach((id, i) => {
    const row = table.rowOf.get(id);
    if (row === undefined) missing.push(id);
    else itemTokens.set(table.tokens.subarray(row * w, (row + 1) * w), i * w);
  });
  if (missing.length > 0) {
    throw badInput(
      `SID build "${build}" has no SID for ${missing.length} items (e.g. "${missing.slice(0, 3).join('", "')}"); run \`gensearch sids assign\` or rebuild the SIDs`,
    );
  }
  return { build, layout, itemTokens, queries: table.queries };
}

/** A recipe from the defaults and `key=value` settings (numbers, booleans, mix.<kind>, names). */
export function generativeRecipe(settings: Readonly<Record<string, string>> = {}): GenerativeRecipe {
  const r: GenerativeRecipe = { ...GENERATIVE_DEFAULTS, mix: { ...GENERATIVE_DEFAULTS.mix }, stageEpochs: [...GENERATIVE_DEFAULTS.stageEpochs] };
  for (const [key, text] of Object.entries(settings)) {
    if (key.startsWith('mix.')) {
      const kind = key.slice(4) as SampleKind;
      if (!SAMPLE_KINDS.includes(kind)) throw badInput(`unknown sample kind "${kind}" in ${key}; kinds: ${SAMPLE_KINDS.join(', ')}`);
      r.mix[kind] = share(text, key);
      continue;
    }
    if (!(key in r)) throw badInput(`unknown generative setting "${key}"; settings: ${Object.keys(r).join(', ')}, mix.<kind>`);
    const current = (r as unknown as Record<string, unknown>)[key];
    let value: unknown;
    if (key === 'stageEpochs') {
      const parts = text.split(',').map((s) => Number(s));
      if (parts.length !== 2 || parts.some((n) => !Number.isInteger(n) || n < 0)) throw badInput(`stageEpochs expects two integers "e1,e2"; got "${text}"`);
      value = parts;
    } else if (typeof current === 'number') {
      value = Number(text);
      if (!Number.isFinite(value as number)) throw badInput(`${key} expects a number; got "${text}"`);
    } else if (typeof current === 'boolean') {
      if (text !== 'true' && text !== 'false') throw badInput(`${key} expects true or false; got "${text}"`);
      value = text === 'true';
    } else {
      value = text;
    }
    (r as unknown as Record<string, unknown>)[key] = value;
  }
  if (!['tiny', 'small', 'base'].includes(r.profile)) throw badInput(`profile expects tiny, small or base; got "${r.profile}"`);
  if (r.schedule !== 'mixed' && r.schedule !== 'sequential') throw badInput(`schedule expects mixed or sequential; got "${r.schedule}"`);
  if (!['constant', 'linear', 'cosine'].includes(r.lrSchedule)) throw badInput(`lrSchedule expects constant, linear or cosine; got "${r.lrSchedule}"`);
  return r;
}

function share(text: string, key: string): number {
  const x = Number(text);
  if (!(x >= 0 && x <= 1)) throw badInput(`${key} expects a share in [0, 1]; got "${text}"`);
  return x;
}

/** The model config a recipe gives on data of these sizes. */
export function recipeConfig(recipe: GenerativeRecipe, sizes: { textVocab: number; sidSizes: number[]; nItems: number }): GenerativeConfig {
  const overrides: Partial<TransformerConfig> = {};
  if (recipe.dModel > 0) overrides.dModel = recipe.dModel;
  if (recipe.nLayers > 0) overrides.nLayers = recipe.nLayers;
  if (recipe.nHeads > 0) overrides.nHeads = recipe.nHeads;
  if (recipe.dModel > 0) overrides.dFF = 4 * recipe.dModel;
  if (recipe.dropout >= 0) {
    overrides.dropout = recipe.dropout;
    overrides.attnDropout = recipe.dropout;
  }
  return generativeConfig({
    profile: recipe.profile,
    overrides,
    decoderLayers: recipe.decoderLayers > 0 ? recipe.decoderLayers : undefined,
    textVocab: sizes.textVocab,
    sidSizes: sizes.sidSizes,
    nItems: sizes.nItems,
    itemEmbedding: recipe.itemEmbedding,
    itemHead: recipe.itemHead,
    headSidRows: recipe.headSidRows,
    maxHistory: recipe.maxHistory,
  });
}

/** Objective of one training phase: the model's, starting from an earlier phase's parameters. */
export interface PhaseObjectiveConfig {
  model: GenerativeConfig;
  /** Trainer folder whose "best" checkpoint initialises this phase; null = fresh init. */
  initFrom: string | null;
  /** Fresh init only: SID token rows [sidVocab, d] to start from (see `sidInitRows`). */
  sidRows: number[] | null;
  /** Fresh init only: per-item rows [nItems, d] to start from (see `itemInitRows`); absent = random. */
  itemRows?: number[];
  /** A preference phase: the list-wise DPO loss instead of next-token cross-entropy. */
  preference?: Omit<PreferenceConfig, 'model'>;
}

export function generativePhaseObjective(config: PhaseObjectiveConfig): Objective<GenerativeParams> {
  const base = config.preference ? preferenceObjective({ model: config.model, ...config.preference }) : generativeObjective(config.model);
  return {
    ...base,
    init: (rng: Rng) =>
      config.initFrom
        ? (loadTrainedParams(base as Objective, config.initFrom).params as GenerativeParams)
        : initGenerative(config.model, rng, config.sidRows ? Float32Array.from(config.sidRows) : undefined, config.itemRows && Float32Array.from(config.itemRows)),
  };
}

/**
 * Warm start of the SID token embeddings from the SID build's codebooks: the row of RQ level l,
 * code c is that centroid; the row of OPQ sub-code c in subspace m is that sub-centroid rotated
 * back into the embedding space (x = y R^T). The sum of an item's SID rows is then its quantized
 * (keyword-enhanced, aligned) embedding, times `scale`. A model wider than the codebooks gets
 * them in its first dimensions and zeros after (an isometry: every dot product is kept). Null
 * when the model is narrower than the codebooks.
 */
export function sidInitRows(model: SidModel, d: number, scale: number): Float32Array | null {
  const k = model.dim;
  if (k > d) return null;
  const tokens = tokenVectors(model);
  const rows = new Float32Array(tokens.rows * d);
  for (let t = 0; t < tokens.rows; t++) {
    for (let j = 0; j < k; j++) rows[t * d + j] = tokens.data[t * k + j] * scale;
  }
  return rows;
}

/**
 * Warm start of the per-item vectors: row i = scale x (item i's aligned embedding, zero-padded to
 * d) - (the sum of its SID rows in `sidRows`), so that the history vector of an item (SID rows +
 * its own row) starts as its aligned embedding rather than its quantization.
 */
export function itemInitRows(embeddings: Matrix, itemTokens: Int32Array, sidRows: Float32Array, d: number, scale: number): Float32Array {
  const w = itemTokens.length / embeddings.rows;
  if (embeddings.cols > d) throw badInput(`item embeddings are ${embeddings.cols}-d, the model is ${d} wide: itemInit needs dModel >= ${embeddings.cols}`);
  const rows = new Float32Array(embeddings.rows * d);
  for (let i = 0; i < embeddings.rows; i++) {
    const row = rows.subarray(i * d, (i + 1) * d);
    for (let j = 0; j < embeddings.cols; j++) row[j] = scale * embeddings.data[i * embeddings.cols + j];
    for (let p = 0; p < w; p++) {
      const t = itemTokens[i * w + p];
      for (let j = 0; j < d; j++) row[j] -= sidRows[t * d + j];
    }
  }
  return rows;
}

export function phaseSpec(config: PhaseObjectiveConfig): ObjectiveSpec {
  return { module: import.meta.url, factory: 'generativePhaseObjective', config };
}

/** What a training run reads from the store besides the interactions. */
export interface GenerativeTrainingSids {
  sids: DenseSids;
  /** Warm-start rows of the SID tokens, or null (random init). */
  sidRows: Float32Array | null;
  /** Warm-start rows of the per-item vectors (`itemInit`), or null (random init). */
  itemRows: Float32Array | null;
  /** The recipe as it will run: `sidInit` is 0 when the codebooks cannot warm-start this model. */
  recipe: GenerativeRecipe;
}

/**
 * The SID build a recipe names, in the dense order of `itemIds`, with the warm start of its SID
 * tokens. `strictInit`: a width mismatch is an error (the user asked for the warm start) rather
 * than a fallback to random init.
 */
export function generativeTrainingSids(
  store: Store,
  home: string,
  dataset: string,
  recipe: GenerativeRecipe,
  itemIds: readonly string[],
  options: { strictInit?: boolean; log?: (line: string) => void } = {},
): GenerativeTrainingSids {
  const { index, model } = loadSids(store, home, dataset, recipe.sids);
  const sids = denseSids(recipe.sids, index.layout, index, itemIds);
  if (recipe.itemInit > 0 && (recipe.sidInit <= 0 || !recipe.itemEmbedding)) throw badInput('itemInit needs sidInit > 0 and itemEmbedding=true');
  if (recipe.sidInit <= 0) return { sids, sidRows: null, itemRows: null, recipe };
  const d = recipeConfig(recipe, { textVocab: 2, sidSizes: sidSizes(index.layout), nItems: itemIds.length }).encoder.dModel;
  const sidRows = sidInitRows(model, d, recipe.sidInit);
  if (sidRows) {
    if (recipe.itemInit <= 0) return { sids, sidRows, itemRows: null, recipe };
    const source = join(encoderDir(home, dataset), ITEM_EMBEDDINGS);
    const read = readEmbeddings(source);
    if (model.encoderVersion && read.modelVersion !== model.encoderVersion) {
      throw new GensearchError('CONFLICT', `itemInit: ${source} comes from encoder ${read.modelVersion}, SID build "${recipe.sids}" from ${model.encoderVersion}; rebuild the SIDs`);
    }
    const embeddings = alignRows(read, itemIds, source);
    return { sids, sidRows, itemRows: itemInitRows(embeddings, sids.itemTokens, sidRows, d, recipe.itemInit), recipe };
  }
  const why = `SID build "${recipe.sids}" has ${model.dim}-d codebooks, the model is ${d} wide`;
  if (options.strictInit || recipe.itemInit > 0) throw badInput(`sidInit needs SID codebooks no wider than the model: ${why} (set dModel >= ${model.dim} or sidInit=0)`);
  options.log?.(`SID tokens start from random init: ${why}`);
  return { sids, sidRows: null, itemRows: null, recipe: { ...recipe, sidInit: 0 } };
}

/** What one training phase did, for the summary and docs/RESULTS.md. */
export interface PhaseSummary {
  name: string;
  kinds: Partial<Record<SampleKind, number>>;
  samples: number;
  epochs: number;
  steps: number;
  stoppedEarly: boolean;
  /** Seconds of training (all runs of this phase, resumed ones included) and of this process. */
  trainSeconds: number;
  seconds: number;
  examplesPerSecond: number;
  /** Matmul FLOPs per second of forward + backward (3x the forward pass). */
  gflops: number;
  best: Record<string, number> | null;
}

export interface TrainingSummary {
  dataset: string;
  recipe: GenerativeRecipe;
  config: GenerativeConfig;
  parameters: number;
  phases: PhaseSummary[];
  /** Single-thread wasm matmul rate (512^3), GFLOP/s: the better of before and after training. */
  matmulGflops: number;
  /** Threads that computed gradients (workers, or 1). */
  threads: number;
  /** Achieved GFLOP/s over the peak of those threads. */
  mfu: number;
  trainSeconds: number;
  finishedAt: string;
}

export interface TrainGenerativeOptions {
  dir: string;
  recipe: GenerativeRecipe;
  resume?: boolean;
  workers?: number;
  backend?: TensorBackend;
  log?: (message: string) => void;
  /** Tests: checkpoint inside epochs and stop after this many steps per phase. */
  checkpointEverySteps?: number;
  maxSteps?: number;
  /** SID token rows to start from (`sidInitRows`), when the recipe asks for a warm start. */
  sidRows?: Float32Array | null;
  /** Per-item rows to start from (`itemInitRows`), when the recipe asks for it (`itemInit`). */
  itemRows?: Float32Array | null;
  /**
   * Continued training: a trained model folder whose parameters start this run instead of a
   * fresh init (e.g. more steps under another sample mix). It must have the same model config,
   * SIDs and tokenizer; the SID warm start is then unused.
   */
  initFrom?: string;
  /** Called after every optimizer step (tests slow a run down with it to kill it mid-way). */
  onStep?: () => void | Promise<void>;
}

const BUNDLE = 'generative.json';
const TOKENIZER = 'tokenizer.json';
const SID_TABLE = 'sid-table.json';
const FORMAT = 'gensearch-generative';
/** Loss and validation curves of every phase (HTML with inline SVG). */
export const TRAINING_REPORT = 'training.html';

interface BundleFile {
  format: typeof FORMAT;
  dataset: string;
  recipe: GenerativeRecipe;
  config: GenerativeConfig;
  sids: { build: string; layout: SidLayout };
  /** Trainer folders in order; the last one's "best" checkpoint is the model. */
  phases: string[];
  /** The model folder this run continued from (`TrainGenerativeOptions.initFrom`). */
  initFrom?: string;
  /** Per item: its purchases in the training view (the head's popularity correction); absent in older folders. */
  itemCounts?: number[];
  summary?: TrainingSummary;
}

interface SidTableFile {
  width: number;
  itemTokens: number[];
  queries: [string, number[]][];
}

/**
 * Trains the generative retriever on the training view of `inter` (each user's sequence minus
 * its last two items) with SIDs `sids`, validating on the 'valid' split of both protocols.
 * Returns the trained model and the summary (also written into the folder).
 */
export async function trainGenerative(
  inter: Interactions,
  sids: DenseSids,
  options: TrainGenerativeOptions,
): Promise<{ model: GenerativeModel; summary: TrainingSummary }> {
  const { recipe, dir } = options;
  if (recipe.sidInit > 0 && !options.sidRows && !options.initFrom) {
    throw badInput(`the recipe asks for a warm start of the SID tokens (sidInit ${recipe.sidInit}) but no rows were given: use generativeTrainingSids, or set sidInit=0`);
  }
  if (recipe.itemInit > 0 && !options.itemRows && !options.initFrom) {
    throw badInput(`the recipe asks for a warm start of the item vectors (itemInit ${recipe.itemInit}) but no rows were given: use generativeTrainingSids, or set itemInit=0`);
  }
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const { train, cases: recCases } = buildEvalData(inter, 'rec', 'valid');
  const searchCases = buildEvalData(inter, 'search', 'valid').cases;
  const queries = queryList(train);
  const tokenizer = BpeTokenizer.train([...train.items.map(itemText), ...queries], { vocabSize: recipe.textVocab });
  const cfg = recipeConfig(recipe, { textVocab: tokenizer.size, sidSizes: sidSizes(sids.layout), nItems: train.nItems });
  const phases = trainingPhases(recipe);
  const bundle: BundleFile = {
    format: FORMAT,
    dataset: inter.dataset,
    recipe,
    config: cfg,
    sids: { build: sids.build, layout: sids.layout },
    phases: phases.map((p) => p.name),
    ...(options.initFrom ? { initFrom: options.initFrom } : {}),
    itemCounts: Array.from(trainingCounts(train)),
  };
  const continued = options.initFrom ? continuedPhaseDir(options.initFrom, bundle, tokenizer, sids) : null;
  mkdirSync(dir, { recursive: true });
  const bundlePath = join(dir, BUNDLE);
  let previous: TrainingSummary | undefined;
  if (options.resume && existsSync(bundlePath)) {
    const old = readJsonFile(bundlePath, 'generative model') as BundleFile;
    // Settings added since that run read as their defaults.
    const oldRecipe = { ...GENERATIVE_DEFAULTS, ...old.recipe };
    if (configHash(oldRecipe) !== configHash(recipe) || configHash(old.config) !== configHash(cfg) || old.initFrom !== bundle.initFrom) {
      throw new GensearchError('CONFLICT', `${dir} holds a model trained with another recipe or start; resume with the same settings, or train into another --name`);
    }
    previous = old.summary;
  }
  // A resume keeps the finished run's summary until it writes a new one: a resume that fails
  // (e.g. refused for other settings) must not strip it from the folder.
  writeJsonFile(bundlePath, previous ? { ...bundle, summary: previous } : bundle);
  writeJsonFile(join(dir, TOKENIZER), tokenizer.data);
  writeSidTable(join(dir, SID_TABLE), sids);

  const pack = packContext(cfg, sids.itemTokens);
  const trie = new SidTrie(sids.itemTokens, cfg.sidSizes.length);
  const modelOf = (params: GenerativeParams): GenerativeModel => ({
    params,
    cfg,
    tokenizer,
    pack,
    trie,
    querySids: sids.queries,
    useQuerySid: recipe.useQuerySid,
    useHistory: recipe.useHistory,
  });
  const validRec = spaced(recCases, recipe.validCases);
  const validSearch = spaced(searchCases, recipe.validCases);
  const validate = (params: Params) => validationMetrics(modelOf(params as GenerativeParams), train, validRec, validSearch, recipe.validBeam);
  const identity = {
    dataset: inter.dataset,
    fingerprint: trainingFingerprint(train),
    sids: createHash('sha256').update(new Uint8Array(sids.itemTokens.buffer, sids.itemTokens.byteOffset, sids.itemTokens.byteLength)).digest('hex').slice(0, 16),
  };

  const matmulAtStart = await measureMatmulGflops();
  const summaries: PhaseSummary[] = [];
  let stepSeconds = 0;
  let initFrom: string | null = continued;
  let result: TrainResult | undefined;
  const sampleInputs = { train, itemSids: sids.itemTokens, querySids: sids.queries, tokenizer, pack, useQuerySid: recipe.useQuerySid, useHistory: recipe.useHistory };
  for (const phase of phases) {
    const outDir = join(dir, phase.name);
    if (result) disposeParams(result.params);
    // A model with an item head is aligned on the score decoding ranks by (only then in the identity: older runs still resume).
    const itemWeight = itemWeightOf(cfg);
    const preference = phase.preference ? { beta: recipe.dpoBeta, margin: recipe.dpoMargin, sft: recipe.dpoSft, ...(itemWeight > 0 ? { itemWeight } : {}) } : undefined;
    let data: ExampleSource & { counts: Record<SampleKind, number> };
    if (phase.preference) {
      if (initFrom === null) throw badInput('preference alignment (dpoEpochs > 0) needs a trained model to start from: give SFT epochs too, or --init-from a trained model');
      const { params: reference, state } = loadTrainedParams(generativeObjective(cfg) as Objective, initFrom);
      const mining = { search: recipe.dpoSearch, rec: recipe.dpoRec, negatives: recipe.dpoNegatives, seed: recipe.seed };
      mkdirSync(outDir, { recursive: true });
      try {
        const cache = { path: join(outDir, 'pairs.bin'), key: configHash({ reference: initFrom, step: state.step, ...mining }) };
        const pairs = await preferenceSamples(modelOf(reference as GenerativeParams), sampleInputs, { ...mining, recSft: recipe.dpoRecSft, cache, workers: options.workers, backend: options.backend });
        log(`${phase.name}: ${pairs.size - pairs.anchors} prompts x (1 preferred + ${recipe.dpoNegatives} rejected ${itemWeight > 0 ? 'items' : 'SIDs'}), ${pairs.anchors} likelihood-only rec prompts`);
        data = pairs;
      } finally {
        disposeParams(reference);
      }
    } else {
      data = buildSamples(sampleInputs, phase.mix, recipe.seed);
      log(`${phase.name}: ${data.size} samples (${Object.entries(data.counts).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')})`);
    }
    const fresh = initFrom === null;
    const phaseConfig: PhaseObjectiveConfig = {
      model: cfg,
      initFrom,
      sidRows: fresh && options.sidRows ? Array.from(options.sidRows) : null,
      // Only when set: the objective config is part of the checkpoint identity, and older runs must still resume.
      ...(fresh && options.itemRows ? { itemRows: Array.from(options.itemRows) } : {}),
      preference,
    };
    result = await runTrainer({
      spec: phaseSpec(phaseConfig),
      data,
      config: {
        epochs: phase.epochs,
        batchSize: recipe.batchSize,
        lr: phase.preference ? recipe.dpoLr : recipe.lr,
        warmupSteps: recipe.warmupSteps,
        schedule: recipe.lrSchedule,
        adam: { ...ADAM_DEFAULTS, weightDecay: recipe.weightDecay },
        seed: recipe.seed,
        patience: phase.validated ? recipe.patience : 0,
        bucketByLength: true,
      },
      outDir,
      resume: options.resume,
      validate: phase.validated ? validate : undefined,
      monitor: phase.validated ? 'score' : undefined,
      workers: options.workers,
      backend: options.backend,
      // Settings added later enter the identity only when set, so older runs still resume.
      identity: { ...identity, phase: phase.name, mix: phase.mix, ...(preference ? { preference, search: recipe.dpoSearch, rec: recipe.dpoRec, negatives: recipe.dpoNegatives, ...(recipe.dpoRecSft > 0 ? { recSft: recipe.dpoRecSft } : {}) } : {}) },
      checkpointEverySteps: options.checkpointEverySteps,
      maxSteps: options.maxSteps,
      onStep: options.onStep,
      log,
    });
    const flopsPerExample = sampleFlops(data, generativePhaseObjective({ ...phaseConfig, initFrom: null, sidRows: null, itemRows: undefined }), recipe.batchSize);
    // A phase this process trained no step of (a resume to evaluate) keeps the throughput its run measured.
    const before = result.stepSeconds > 0 ? undefined : previous?.phases.find((p) => p.name === phase.name);
    stepSeconds += result.stepSeconds;
    summaries.push({
      name: phase.name,
      kinds: Object.fromEntries(Object.entries(data.counts).filter(([, n]) => n > 0)),
      samples: data.size,
      epochs: result.state.epoch,
      steps: result.state.step,
      stoppedEarly: result.stoppedEarly,
      trainSeconds: result.state.trainSeconds,
      seconds: result.seconds,
      // Throughput over the optimizer steps alone: validation and checkpoints are not training work.
      examplesPerSecond: result.stepSeconds > 0 ? result.examples / result.stepSeconds : (before?.examplesPerSecond ?? 0),
      gflops: result.stepSeconds > 0 ? (3 * flopsPerExample * result.examples) / result.stepSeconds / 1e9 : (before?.gflops ?? 0),
      best: result.state.best?.metrics ?? null,
    });
    initFrom = outDir;
  }
  const params = result!.params as GenerativeParams;
  const threads = Math.max(1, options.workers ?? 0);
  const timed = summaries.filter((s) => s.seconds > 0);
  const gflops = timed.length ? timed.reduce((a, s) => a + s.gflops * s.seconds, 0) / timed.reduce((a, s) => a + s.seconds, 0) : 0;
  // The peak is the better of two measurements, before and after training: one taken while
  // another job holds the cores reads low (15.6 instead of ~30 GFLOP/s once, MFU "98%").
  const matmulGflops = Math.max(matmulAtStart, await measureMatmulGflops());
  const rate = stepSeconds === 0 && previous ? previous : { matmulGflops, threads, mfu: gflops / (matmulGflops * threads) };
  const summary: TrainingSummary = {
    dataset: inter.dataset,
    recipe,
    config: cfg,
    parameters: countParams(params),
    phases: summaries,
    matmulGflops: rate.matmulGflops,
    threads: rate.threads,
    mfu: rate.mfu,
    trainSeconds: summaries.reduce((a, s) => a + s.trainSeconds, 0),
    finishedAt: new Date().toISOString(),
  };
  writeJsonFile(bundlePath, { ...bundle, summary });
  writeFileSync(join(dir, TRAINING_REPORT), trainingReportHtml(`generative retriever on ${inter.dataset}`, trainingCurves(dir), summary));
  return { model: modelOf(params), summary };
}

interface Phase {
  name: string;
  mix: SampleMix;
  epochs: number;
  validated: boolean;
  /** The list-wise DPO phase (its samples are mined, not read from the mix). */
  preference?: boolean;
}

/**
 * Mixed: one validated run over every kind; sequential: stage 1, stage 2 (fixed epochs), stage 3
 * (validated); then, with `dpoEpochs`, the validated preference phase. Empty stages are skipped.
 */
export function trainingPhases(recipe: GenerativeRecipe): Phase[] {
  const only = (stage: 1 | 2 | 3): SampleMix => Object.fromEntries(STAGES[stage].filter((k) => k in recipe.mix).map((k) => [k, recipe.mix[k]]));
  const used = (mix: SampleMix) => Object.values(mix).some((x) => (x ?? 0) > 0);
  const sft: Phase[] =
    recipe.schedule === 'mixed'
      ? [{ name: 'mixed', mix: recipe.mix, epochs: recipe.epochs, validated: true }]
      : [
          { name: 'stage-1', mix: only(1), epochs: recipe.stageEpochs[0], validated: false },
          { name: 'stage-2', mix: only(2), epochs: recipe.stageEpochs[1], validated: false },
          { name: 'stage-3', mix: only(3), epochs: recipe.epochs, validated: true },
        ];
  const phases = sft.filter((p) => used(p.mix) && p.epochs > 0);
  if (recipe.dpoEpochs > 0) phases.push({ name: 'preference', mix: {}, epochs: recipe.dpoEpochs, validated: true, preference: true });
  if (phases.length === 0) throw badInput('the recipe trains nothing: every phase has 0 epochs or an empty sample mix');
  return phases;
}

/** Up to n cases evenly spaced over the list (a fixed, deterministic validation sample). */
export function spaced<T>(list: readonly T[], n: number): T[] {
  if (list.length <= n) return [...list];
  return Array.from({ length: n }, (_, i) => list[Math.floor((i * list.length) / n)]);
}

/**
 * Validation during training: Recall@10 and NDCG@10 (history kept) on the rec and search
 * samples, and their mean NDCG@10 as `score` (the monitored metric).
 */
async function validationMetrics(
  model: GenerativeModel,
  train: TrainData,
  rec: readonly EvalCase[],
  search: readonly EvalCase[],
  beam: number,
): Promise<Record<string, number>> {
  const ranker = new GenerativeRanker(() => model, { beam });
  await ranker.fit(train);
  const out: Record<string, number> = {};
  const scores: number[] = [];
  for (const [protocol, cases] of [
    ['rec', rec],
    ['search', search],
  ] as const) {
    if (cases.length === 0) continue;
    const r = await evaluateSystem(ranker, cases, { nItems: train.nItems, ks: [10], excludeHistory: 'no', label: `validate ${protocol}` });
    const m = r.variants[0].means;
    out[`${protocol}:recall@10`] = m['recall@10'];
    out[`${protocol}:ndcg@10`] = m['ndcg@10'];
    scores.push(m['ndcg@10']);
  }
  out.score = scores.reduce((a, b) => a + b, 0) / Math.max(1, scores.length);
  return out;
}

/** Mean training-forward FLOPs per sample over a few batches of `data`. */
function sampleFlops(data: ExampleSource, objective: Objective<GenerativeParams>, batchSize: number): number {
  let flops = 0;
  let n = 0;
  const stride = Math.max(1, Math.floor(data.size / (8 * batchSize)));
  for (let b = 0; b < 8 && b * batchSize * stride < data.size; b++) {
    const ids = Int32Array.from({ length: Math.min(batchSize, data.size) }, (_, i) => (b * batchSize * stride + i * stride) % data.size);
    flops += objective.forwardFlops!(data.collate(ids));
    n += ids.length;
  }
  return n > 0 ? flops / n : 0;
}

function writeSidTable(path: string, sids: DenseSids): void {
  const file: SidTableFile = {
    width: sidSizes(sids.layout).length,
    itemTokens: Array.from(sids.itemTokens),
    queries: [...sids.queries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([q, t]) => [q, Array.from(t)]),
  };
  writeJsonFile(path, file);
}

/**
 * The trainer folder whose best checkpoint starts a continued run from the model folder `from`,
 * after checking that its parameters mean the same thing here: same dataset, model config, SID
 * table and tokenizer (token ids index the embedding rows).
 */
function continuedPhaseDir(from: string, bundle: BundleFile, tokenizer: BpeTokenizer, sids: DenseSids): string {
  if (!existsSync(join(from, BUNDLE))) throw new GensearchError('NOT_FOUND', `cannot continue from ${from}: no trained generative model there (${BUNDLE} is missing)`);
  const source = readJsonFile(join(from, BUNDLE), 'generative model') as BundleFile;
  if (source?.format !== FORMAT) throw badInput(`${join(from, BUNDLE)} is not a generative model folder (expected "format": "${FORMAT}")`);
  const table = readJsonFile(join(from, SID_TABLE), 'SID table') as SidTableFile;
  const mismatch =
    source.dataset !== bundle.dataset
      ? `it was trained on dataset "${source.dataset}", not "${bundle.dataset}"`
      : configHash(parameterShape(source.config)) !== configHash(parameterShape(bundle.config))
        ? `its model config differs (${configDiff(parameterShape(source.config), parameterShape(bundle.config)).join('; ')})`
        : configHash(table.itemTokens) !== configHash(Array.from(sids.itemTokens))
          ? `its SID table differs (build "${source.sids.build}" vs "${sids.build}")`
          : configHash(readJsonFile(join(from, TOKENIZER), 'tokenizer')) !== configHash(tokenizer.data)
            ? 'its tokenizer differs (another training view or textVocab)'
            : null;
  if (mismatch) throw new GensearchError('CONFLICT', `cannot continue from ${from}: ${mismatch}`);
  return join(from, source.phases[source.phases.length - 1]);
}

/**
 * A config without its dropout rates and item-head settings: what decides the parameters' shapes
 * and meaning (a head adds no parameters, so a model without one can be continued with one).
 */
function parameterShape(cfg: GenerativeConfig): GenerativeConfig {
  const side = (t: TransformerConfig): TransformerConfig => ({ ...t, dropout: 0, attnDropout: 0 });
  const { itemHead: _, headSidRows: __, ...rest } = cfg;
  return { ...rest, encoder: side(cfg.encoder), decoder: side(cfg.decoder) };
}

/** The fields of two plain-data configs that differ, as "path a -> b" (for error messages). */
function configDiff(a: unknown, b: unknown, path = ''): string[] {
  const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (isObject(a) && isObject(b)) {
    return Object.keys({ ...a, ...b }).flatMap((k) => configDiff(a[k], b[k], path ? `${path}.${k}` : k));
  }
  return canonicalJson(a) === canonicalJson(b) ? [] : [`${path} ${canonicalJson(a)} -> ${canonicalJson(b)}`];
}

/** What `loadGenerative` returns: the model plus what it was trained with. */
export interface LoadedGenerative {
  model: GenerativeModel;
  dataset: string;
  recipe: GenerativeRecipe;
  sids: { build: string; layout: SidLayout };
  summary: TrainingSummary | null;
  /** Trainer folder of the final phase (metrics.jsonl: loss and validation curves). */
  finalPhaseDir: string;
}

/** Reads a trained model folder (its final phase's best checkpoint). */
export function loadGenerative(dir: string): LoadedGenerative {
  const bundle = readJsonFile(join(dir, BUNDLE), 'generative model') as BundleFile;
  if (bundle?.format !== FORMAT) throw badInput(`${join(dir, BUNDLE)} is not a generative model folder (expected "format": "${FORMAT}")`);
  const tokenizer = new BpeTokenizer(readJsonFile(join(dir, TOKENIZER), 'tokenizer') as BpeData);
  const table = readJsonFile(join(dir, SID_TABLE), 'SID table') as SidTableFile;
  const cfg = bundle.config;
  const itemTokens = Int32Array.from(table.itemTokens);
  if (itemTokens.length !== cfg.nItems * cfg.sidSizes.length) {
    throw badInput(`${join(dir, SID_TABLE)} holds ${itemTokens.length} tokens; the model expects ${cfg.nItems} items x ${cfg.sidSizes.length}`);
  }
  const finalPhaseDir = join(dir, bundle.phases[bundle.phases.length - 1]);
  const { params } = loadTrainedParams(generativeObjective(cfg) as Objective, finalPhaseDir);
  return {
    model: {
      params: params as GenerativeParams,
      cfg,
      tokenizer,
      pack: packContext(cfg, itemTokens),
      trie: new SidTrie(itemTokens, cfg.sidSizes.length),
      querySids: new Map(table.queries.map(([q, t]) => [q, Int32Array.from(t)])),
      useQuerySid: bundle.recipe.useQuerySid,
      useHistory: bundle.recipe.useHistory,
      ...(bundle.itemCounts ? { itemLogCounts: Float32Array.from(bundle.itemCounts, (c) => Math.log1p(c)) } : {}),
    },
    dataset: bundle.dataset,
    recipe: bundle.recipe,
    sids: bundle.sids,
    summary: bundle.summary ?? null,
    finalPhaseDir,
  };
}

/** The loss / validation curves of every phase, for reports. */
export function trainingCurves(dir: string): { phase: string; lines: Record<string, unknown>[] }[] {
  const bundle = readJsonFile(join(dir, BUNDLE), 'generative model') as BundleFile;
  return bundle.phases.map((phase) => ({ phase, lines: readMetrics(join(dir, phase)) }));
}

/**
 * Knobs of the generative system in the eval registry (`--set generative.beam=100`);
 * itemWeight (the item head's weight) and headCandidates (items it proposes beyond the beam):
 * -1 = the default of the request's kind (`HEAD_DEFAULTS` in src/decode/generate.ts);
 * popularityPenalty: the head's popularity correction (`GenerateOptions.popularityPenalty`; -1 =
 * its default); coPurchase: the weight of the head's co-purchase prior (`GenerateOptions.coPurchaseWeight`;
 * -1 = by request kind, 0 = off); textMatch, queryCosine, userCosine and historyCosine: the same
 * for the text-match prior and the query's, the user tower's and the nearest history item's
 * cosines (`textMatchWeight`, `queryCosineWeight`, `userCosineWeight`, `historyCosineWeight`;
 * the cosines where `gensearch embed` has run).
 */
export const GENERATIVE_SYSTEM_DEFAULTS = { beam: 20, pruneMargin: Number.POSITIVE_INFINITY, decodeExclude: 1, workers: 2, itemWeight: -1, headCandidates: -1, popularityPenalty: -1, coPurchase: -1, textMatch: -1, queryCosine: -1, userCosine: -1, historyCosine: -1 };

/**
 * The generative retriever for `gensearch eval`: it ranks with the model `gensearch train`
 * saved for the dataset (name "default", or `folder`) and checks that it was trained on the
 * same dataset.
 */
export function generativeSystem(home: string, knobs: Partial<typeof GENERATIVE_SYSTEM_DEFAULTS> = {}, name = 'default', folder?: string): GenerativeRanker {
  const k = { ...GENERATIVE_SYSTEM_DEFAULTS, ...knobs };
  return new GenerativeRanker(
    (train) => {
      const dir = folder ?? generativeDir(home, train.dataset, name);
      if (!existsSync(join(dir, BUNDLE))) {
        throw new GensearchError('NOT_FOUND', `no generative model "${name}" for dataset "${train.dataset}" in ${dir}: run \`gensearch train --dataset ${train.dataset}\` first`);
      }
      const loaded = loadGenerative(dir);
      const trained = loaded.dataset;
      if (trained !== train.dataset) throw new GensearchError('CONFLICT', `${dir} holds a model of dataset "${trained}", not "${train.dataset}"`);
      return loaded.model;
    },
    {
      beam: k.beam,
      pruneMargin: k.pruneMargin,
      decodeExclude: k.decodeExclude !== 0,
      workers: k.workers,
      ...(k.popularityPenalty >= 0 ? { popularityPenalty: k.popularityPenalty } : {}),
      ...(k.coPurchase >= 0 ? { coPurchaseWeight: k.coPurchase } : {}),
      ...(k.textMatch >= 0 ? { textMatchWeight: k.textMatch } : {}),
      ...(k.queryCosine >= 0 ? { queryCosineWeight: k.queryCosine } : {}),
      ...(k.userCosine >= 0 ? { userCosineWeight: k.userCosine } : {}),
      ...(k.historyCosine >= 0 ? { historyCosineWeight: k.historyCosine } : {}),
      ...(k.itemWeight >= 0 ? { itemWeight: k.itemWeight } : {}),
      ...(k.headCandidates >= 0 ? { headCandidates: k.headCandidates } : {}),
    },
    'generative',
    (train) => loadAlignedEmbeddingsIfBuilt(home, train.dataset, train.items),
  );
}
