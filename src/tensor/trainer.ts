import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs';
import { GensearchError } from '../errors.js';
import { configHash } from '../model/config.js';
import { disposeParams, flattenParams, type Params, unpackParams } from '../model/params.js';
import { progress } from '../progress.js';
import { ADAM_DEFAULTS, type AdamConfig, type AdamState, AdamW } from './adam.js';
import { epochBatches, type ExampleSource, shardBatch } from './batching.js';
import { type Checkpoint, latestCheckpoint, loadCheckpoint, type NamedArray, pruneCheckpoints, saveCheckpoint, stepCheckpointName, writeFileAtomic } from './checkpoint.js';
import { loadObjective, lossAndGrads, type Objective, type ObjectiveSpec } from './objective.js';
import { GradientWorkers } from './parallel.js';
import { Rng, type RngState } from './rng.js';
import type { TensorBackend } from './runtime.js';

export type LrSchedule = 'constant' | 'linear' | 'cosine';

export interface TrainConfig {
  epochs: number;
  batchSize: number;
  lr: number;
  /** Linear warm-up from 0 over this many steps. */
  warmupSteps: number;
  /** After warm-up: constant, or decay to 0 over all epochs (linear / cosine). */
  schedule: LrSchedule;
  adam: AdamConfig;
  seed: number;
  /** Stop after this many epochs without a better validation metric; 0 = never stop early. */
  patience: number;
  /** Group examples of similar length into batches (needs `ExampleSource.length`). */
  bucketByLength: boolean;
}

export const TRAIN_DEFAULTS: TrainConfig = {
  epochs: 10,
  batchSize: 128,
  lr: 1e-3,
  warmupSteps: 100,
  schedule: 'constant',
  adam: ADAM_DEFAULTS,
  seed: 1,
  patience: 5,
  bucketByLength: true,
};

export interface TrainOptions {
  spec: ObjectiveSpec;
  data: ExampleSource;
  config: TrainConfig;
  /** Checkpoints (`ckpt-*.json/.bin`, `best.json`) and `metrics.jsonl` go here. */
  outDir: string;
  /** Continue from the newest checkpoint in `outDir` (a fresh start when there is none). */
  resume?: boolean;
  /**
   * Validation after each epoch: metric name -> value. With `monitor`, the best epoch is kept as
   * the "best" checkpoint and early stopping watches it (higher is better).
   */
  validate?: (params: Params) => Promise<Record<string, number>> | Record<string, number>;
  monitor?: string;
  /** Data-parallel worker threads; 0 computes on the main thread. */
  workers?: number;
  backend?: TensorBackend;
  /** Also checkpoint every this many steps inside an epoch (0 = only at epoch ends). */
  checkpointEverySteps?: number;
  /** Step checkpoints to keep besides the best. */
  keepLast?: number;
  /** Stop (with a checkpoint) after this many steps in total: benchmarks and tests. */
  maxSteps?: number;
  /** Mixed into the config hash: whatever else defines the run (dataset, model config). */
  identity?: unknown;
  /** Write a step line to metrics.jsonl every this many steps. */
  logEverySteps?: number;
  log?: (message: string) => void;
  /** Called after every optimizer step (after any checkpoint of that step). */
  onStep?: (state: Readonly<TrainState>, step: StepInfo) => void | Promise<void>;
}

/** What a checkpoint's manifest carries besides the tensors. */
export interface TrainState {
  configHash: string;
  /** Completed optimizer steps. */
  step: number;
  epoch: number;
  /** Batches of `epoch` already done; 0 at an epoch boundary. */
  batchInEpoch: number;
  epochSeed: number;
  rng: RngState;
  epochLossSum: number;
  epochTerms: number;
  best: { epoch: number; step: number; value: number; metrics: Record<string, number> } | null;
  badEpochs: number;
  adamStep: number;
  trainSeconds: number;
  /** Set when training finished (epochs done or stopped early): resuming does nothing more. */
  finished: boolean;
}

/** What one optimizer step did. */
export interface StepInfo {
  /** Mean loss per term of the batch. */
  loss: number;
  examples: number;
  terms: number;
  /** Matmul FLOPs of forward + backward (3x the objective's forward count; 0 if it has none). */
  flops: number;
}

export interface TrainResult {
  /** The best epoch's parameters when validating with a monitor, else the last. */
  params: Params;
  state: TrainState;
  /** The step this run started from (0 for a fresh run). */
  resumedFromStep: number;
  /** Steps, examples and loss terms this process ran (not counting resumed history). */
  steps: number;
  examples: number;
  terms: number;
  /** Matmul FLOPs this process ran (forward + backward), when the objective counts them. */
  flops: number;
  /** Wall time of this process's optimizer steps alone (no validation, no checkpoints). */
  stepSeconds: number;
  /** Wall time of the whole call. */
  seconds: number;
  stoppedEarly: boolean;
}

/** The learning rate at `step` (0-based). */
export function learningRate(config: Pick<TrainConfig, 'lr' | 'warmupSteps' | 'schedule'>, step: number, totalSteps: number): number {
  const { lr, warmupSteps, schedule } = config;
  if (step < warmupSteps) return (lr * (step + 1)) / warmupSteps;
  if (schedule === 'constant') return lr;
  const progressDone = Math.min(1, (step - warmupSteps) / Math.max(1, totalSteps - warmupSteps));
  return schedule === 'linear' ? lr * (1 - progressDone) : lr * 0.5 * (1 + Math.cos(Math.PI * progressDone));
}

const METRICS_FILE = 'metrics.jsonl';

/**
 * The training loop every model here uses: seeded shuffled (length-bucketed) batches, AdamW,
 * optional data-parallel workers, validation each epoch with best-checkpoint keeping and early
 * stopping, a progress bar with loss and examples/s, a metrics log (JSON lines: one `step` line
 * every few steps, one `epoch` line per epoch), and atomic checkpoints that `resume` continues
 * from exactly: a resumed run produces the same parameters as an uninterrupted one.
 */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const { config, data, outDir } = options;
  const log = options.log ?? ((m: string) => process.stderr.write(`${m}\n`));
  const keepLast = options.keepLast ?? 2;
  const logEvery = options.logEverySteps ?? 20;
  const hash = configHash({ train: config, objective: options.spec.config, factory: options.spec.factory, identity: options.identity ?? null });
  mkdirSync(outDir, { recursive: true });
  const objective = await loadObjective(options.spec);

  let params: Params;
  let adam: AdamW;
  let state: TrainState;
  const resumed = options.resume ? latestCheckpoint<TrainState>(outDir, log) : undefined;
  if (resumed) {
    state = resumed.manifest.meta;
    if (state.configHash !== hash) {
      throw new GensearchError(
        'CONFLICT',
        `checkpoints in ${outDir} were written by a run with config hash ${state.configHash}; this run's is ${hash}. Resume with the same settings, or train into another folder without --resume`,
      );
    }
    ({ params, adam } = restore(objective, config.adam, resumed));
    truncateMetrics(outDir, state.step);
    log(`resuming from step ${state.step} (epoch ${state.epoch + 1}, batch ${state.batchInEpoch}) in ${outDir}`);
  } else {
    const rng = new Rng(config.seed);
    params = objective.init(rng);
    adam = new AdamW(config.adam, params);
    state = {
      configHash: hash,
      step: 0,
      epoch: 0,
      batchInEpoch: 0,
      epochSeed: 0,
      rng: rng.state(),
      epochLossSum: 0,
      epochTerms: 0,
      best: null,
      badEpochs: 0,
      adamStep: 0,
      trainSeconds: 0,
      finished: false,
    };
    writeFileAtomic(join(outDir, METRICS_FILE), '');
  }
  const resumedFromStep = state.step;
  const rng = new Rng(state.rng);
  const workers = options.workers ? await GradientWorkers.start(options.spec, params, options.workers, options.backend) : undefined;
  const batchesPerEpoch = Math.ceil(data.size / config.batchSize);
  const totalSteps = batchesPerEpoch * config.epochs;
  const length = config.bucketByLength && data.length ? (i: number) => data.length!(i) : undefined;
  const started = performance.now();
  let ranSteps = 0;
  let ranExamples = 0;
  let ranTerms = 0;
  let ranFlops = 0;
  let stepSeconds = 0;
  let stoppedEarly = false;

  const checkpoint = async (alsoBest: boolean) => {
    state.rng = rng.state();
    state.adamStep = adam.steps;
    state.trainSeconds += (performance.now() - lastClock) / 1000;
    lastClock = performance.now();
    saveCheckpoint(outDir, stepCheckpointName(state.step), await checkpointArrays(params, await adam.state()), state, alsoBest ? ['best'] : []);
    pruneCheckpoints(outDir, keepLast);
  };
  let lastClock = performance.now();

  try {
    while (!state.finished && state.epoch < config.epochs) {
      if (state.batchInEpoch === 0) {
        state.epochSeed = rng.seed();
        state.epochLossSum = 0;
        state.epochTerms = 0;
      }
      const batches = epochBatches(data.size, config.batchSize, new Rng(state.epochSeed), length);
      const bar = progress(`epoch ${state.epoch + 1}/${config.epochs}`, data.size, 'ex');
      bar.tick(batches.slice(0, state.batchInEpoch).reduce((n, b) => n + b.length, 0));
      const epochStart = performance.now();
      let epochExamples = 0;
      while (state.batchInEpoch < batches.length) {
        const ids = batches[state.batchInEpoch];
        const lr = learningRate(config, state.step, totalSteps);
        const seed = rng.seed();
        const stepStart = performance.now();
        const { lossSum, terms, gradNorm, flops } = await step(ids, seed, lr);
        stepSeconds += (performance.now() - stepStart) / 1000;
        state.step++;
        state.batchInEpoch++;
        state.epochLossSum += lossSum;
        state.epochTerms += terms;
        ranSteps++;
        ranExamples += ids.length;
        ranTerms += terms;
        ranFlops += flops;
        epochExamples += ids.length;
        const rate = epochExamples / ((performance.now() - epochStart) / 1000);
        bar.tick(ids.length, `loss ${(state.epochLossSum / state.epochTerms).toFixed(4)} | ${rate.toFixed(0)} ex/s`);
        if (state.step % logEvery === 0) {
          appendMetrics(outDir, { type: 'step', step: state.step, epoch: state.epoch + 1, loss: lossSum / terms, lr, gradNorm, examplesPerSecond: rate });
        }
        const every = options.checkpointEverySteps ?? 0;
        const atLimit = options.maxSteps !== undefined && ranSteps >= options.maxSteps;
        if ((every > 0 && state.step % every === 0) || atLimit) await checkpoint(false);
        await options.onStep?.(state, { loss: lossSum / terms, examples: ids.length, terms, flops });
        if (atLimit) {
          bar.stop();
          return finish();
        }
      }
      bar.stop();
      const epochSeconds = (performance.now() - epochStart) / 1000;
      const metrics = options.validate ? await options.validate(params) : {};
      const line: Record<string, unknown> = {
        type: 'epoch',
        step: state.step,
        epoch: state.epoch + 1,
        loss: state.epochLossSum / Math.max(1, state.epochTerms),
        seconds: epochSeconds,
        examplesPerSecond: epochExamples / epochSeconds,
        ...metrics,
      };
      let improved = false;
      if (options.monitor) {
        const value = metrics[options.monitor];
        if (value === undefined) {
          throw new GensearchError('INTERNAL', `validation returned no "${options.monitor}" (got ${Object.keys(metrics).join(', ') || 'nothing'})`);
        }
        improved = state.best === null || value > state.best.value;
        if (improved) {
          state.best = { epoch: state.epoch + 1, step: state.step, value, metrics };
          state.badEpochs = 0;
        } else {
          state.badEpochs++;
        }
        line.best = state.best?.value;
      }
      appendMetrics(outDir, line);
      log(
        `epoch ${state.epoch + 1}: loss ${(line.loss as number).toFixed(4)}, ${(line.examplesPerSecond as number).toFixed(0)} ex/s, ${epochSeconds.toFixed(1)} s` +
          (Object.keys(metrics).length ? ` | ${Object.entries(metrics).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(' ')}` : '') +
          (options.monitor ? (improved ? ' (best)' : ` (no gain ${state.badEpochs}/${config.patience})`) : ''),
      );
      state.epoch++;
      state.batchInEpoch = 0;
      if (options.monitor && config.patience > 0 && state.badEpochs >= config.patience) {
        stoppedEarly = true;
        state.finished = true;
      }
      if (state.epoch >= config.epochs) state.finished = true;
      await checkpoint(improved || !options.monitor);
    }
    return finish();
  } finally {
    await workers?.close();
  }

  async function step(ids: Int32Array, seed: number, lr: number): Promise<{ lossSum: number; terms: number; gradNorm: number; flops: number }> {
    let result: { lossSum: number; grads: tf.Tensor[] };
    const shards = workers ? shardBatch(ids, workers.size).map((s) => data.collate(s)) : [data.collate(ids)];
    const terms = shards.reduce((n, b) => n + objective.terms(b), 0);
    const flops = shards.reduce((n, b) => n + 3 * (objective.forwardFlops?.(b) ?? 0), 0);
    if (workers) {
      const shardRng = new Rng(seed);
      result = await workers.compute(params, shards, terms, shards.map(() => shardRng.seed()));
    } else {
      result = await lossAndGrads(objective, params, shards[0], terms, new Rng(seed).seed());
    }
    const applied = await adam.apply(params, result.grads, lr);
    for (const g of result.grads) g.dispose();
    params = applied.params;
    return { lossSum: result.lossSum, terms, gradNorm: applied.gradNorm, flops };
  }

  function finish(): TrainResult {
    const seconds = (performance.now() - started) / 1000;
    let out = params;
    if (options.monitor && state.best && state.finished && existsSync(join(outDir, 'best.json'))) {
      out = restore(objective, config.adam, loadCheckpoint<TrainState>(outDir, 'best'), false).params;
      disposeParams(params);
    }
    adam.dispose();
    return { params: out, state, resumedFromStep, steps: ranSteps, examples: ranExamples, terms: ranTerms, flops: ranFlops, stepSeconds, seconds, stoppedEarly };
  }
}

/** Tensor names in a checkpoint: `param/<name>`, `adam.m/<name>`, `adam.v/<name>`. */
async function checkpointArrays(params: Params, adam: AdamState): Promise<NamedArray[]> {
  const leaves = flattenParams(params);
  const out: NamedArray[] = await Promise.all(leaves.map(async ([name, t]) => ({ name: `param/${name}`, shape: t.shape, data: await t.data<'float32'>() })));
  leaves.forEach(([name, t], i) => {
    out.push({ name: `adam.m/${name}`, shape: t.shape, data: adam.m[i] });
    out.push({ name: `adam.v/${name}`, shape: t.shape, data: adam.v[i] });
  });
  return out;
}

/** Parameters (and optionally the optimizer) from a checkpoint, shaped by the objective's init. */
function restore(objective: Objective, adamConfig: AdamConfig, ckpt: Checkpoint<TrainState>, withAdam = true): { params: Params; adam: AdamW } {
  const state = ckpt.manifest.meta;
  const template = objective.init(new Rng(0));
  const leaves = flattenParams(template);
  const get = (name: string, shape: number[]): Float32Array => {
    const a = ckpt.tensors.get(name);
    if (!a || a.shape.join(',') !== shape.join(',')) {
      throw new GensearchError('CONFLICT', `checkpoint has ${a ? `shape [${a.shape}]` : 'no tensor'} for ${name}; the model expects [${shape}]`);
    }
    return a.data;
  };
  const packed = new Float32Array(leaves.reduce((n, [, t]) => n + t.size, 0));
  let offset = 0;
  for (const [name, t] of leaves) {
    packed.set(get(`param/${name}`, t.shape), offset);
    offset += t.size;
  }
  const params = unpackParams(template, packed);
  const adamState: AdamState | undefined = withAdam
    ? { step: state.adamStep, m: leaves.map(([n, t]) => get(`adam.m/${n}`, t.shape)), v: leaves.map(([n, t]) => get(`adam.v/${n}`, t.shape)) }
    : undefined;
  const adam = new AdamW(adamConfig, template, adamState);
  disposeParams(template);
  return { params, adam };
}

/** Parameters of a training run's best (or a named) checkpoint, for inference. */
export function loadTrainedParams(objective: Objective, outDir: string, name = 'best'): { params: Params; state: TrainState } {
  const ckpt = loadCheckpoint<TrainState>(outDir, name);
  const { params, adam } = restore(objective, ADAM_DEFAULTS, ckpt, false);
  adam.dispose();
  return { params, state: ckpt.manifest.meta };
}

function appendMetrics(outDir: string, line: Record<string, unknown>): void {
  appendFileSync(join(outDir, METRICS_FILE), `${JSON.stringify({ time: new Date().toISOString(), ...line })}\n`);
}

/** On resume, drops log lines written after the checkpoint (the resumed run writes them again). */
function truncateMetrics(outDir: string, step: number): void {
  const path = join(outDir, METRICS_FILE);
  if (!existsSync(path)) return;
  const kept = readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim() && (JSON.parse(l) as { step: number }).step <= step);
  writeFileAtomic(path, kept.map((l) => `${l}\n`).join(''));
}

/** Reads a metrics log: for reports (loss and metric curves). */
export function readMetrics(outDir: string): Record<string, unknown>[] {
  const path = join(outDir, METRICS_FILE);
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}
