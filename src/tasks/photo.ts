import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type GenerativeConfig, generativeConfig, type GenerativeParams, type Task } from '../model/generative.js';
import type { ProfileName, TransformerConfig } from '../model/config.js';
import { disposeParams } from '../model/params.js';
import type { ExampleSource } from '../tensor/batching.js';
import type { HostBatch } from '../tensor/objective.js';
import { TRAIN_DEFAULTS, train } from '../tensor/trainer.js';
import { type PackContext, packContext, packPrompts, packTargets, type Prompt } from './prompt.js';
import { type PhaseObjectiveConfig, phaseSpec } from './train.js';

/**
 * Training the generative retriever to answer a photo (OneVision): the prompt carries the
 * photo's image-encoder embedding as visual tokens (plus the user's history when there is one)
 * and the target is the item's VRQ SID. Two stages, as in the paper: SID <-> image alignment
 * (task item2sid, the catalog photos as shot and augmented) and then the photo-search task
 * itself (task personal, phone-like augmented views, the prompt a live request builds).
 */
export interface PhotoRecipe {
  profile: ProfileName;
  overrides: Partial<TransformerConfig>;
  /** Visual tokens per photo. */
  tokens: number;
  /** Optimizer steps of each stage (epochs follow from the number of samples). */
  alignSteps: number;
  searchSteps: number;
  batchSize: number;
  lr: number;
  seed: number;
  /**
   * Photo-search stage: as many noisy copies of the photo embeddings as there are photos, the
   * noise norm this share of the typical gap between an item's catalog views; 0 = none (and
   * none where no item has two catalog photos).
   */
  jitter: number;
}

export const PHOTO_RECIPE_DEFAULTS: PhotoRecipe = {
  profile: 'tiny',
  overrides: { dModel: 64, dFF: 128, nHeads: 2, nLayers: 1 },
  tokens: 4,
  alignSteps: 200,
  searchSteps: 400,
  batchSize: 64,
  lr: 3e-3,
  seed: 1,
  jitter: 0.5,
};

/** Photo embeddings with their items: `emb` is n x dim, row-major. */
export interface PhotoExamples {
  emb: Float32Array;
  item: Int32Array;
  dim: number;
}

/** Photo -> SID samples of one task as a trainer source. */
export class PhotoSidSamples implements ExampleSource {
  readonly size: number;

  constructor(
    private readonly photos: PhotoExamples,
    private readonly task: Task,
    private readonly pack: PackContext,
  ) {
    this.size = photos.item.length;
  }

  prompt(i: number): Prompt {
    return photoPrompt(this.photos.emb.subarray(i * this.photos.dim, (i + 1) * this.photos.dim), new Int32Array(0), this.task);
  }

  collate(ids: Int32Array): HostBatch {
    const w = this.pack.cfg.sidSizes.length;
    const prompts = Array.from(ids, (i) => this.prompt(i));
    const targets = Array.from(ids, (i) => ({ kind: 'sid' as const, tokens: this.pack.itemSids.subarray(this.photos.item[i] * w, (this.photos.item[i] + 1) * w) }));
    return { ...packPrompts(prompts, this.pack), ...packTargets(targets, this.pack) };
  }
}

const NONE = new Int32Array(0);

/** The prompt of a photo request: visual tokens, and the user's history when known. */
export function photoPrompt(embedding: Float32Array, history: Int32Array = NONE, task: Task = 'personal'): Prompt {
  return { task, text: NONE, sid: NONE, history, visual: embedding };
}

export function photoModelConfig(recipe: PhotoRecipe, sizes: { sidSizes: number[]; nItems: number; dim: number }): GenerativeConfig {
  return generativeConfig({
    profile: recipe.profile,
    overrides: recipe.overrides,
    textVocab: 1, // no text in photo prompts; the table keeps one piece so the layout stays valid
    sidSizes: sizes.sidSizes,
    nItems: sizes.nItems,
    maxPromptText: 1,
    maxTextTarget: 1,
    visual: { dim: sizes.dim, tokens: recipe.tokens },
  });
}

export interface TrainPhotoOptions {
  recipe: PhotoRecipe;
  cfg: GenerativeConfig;
  /** nItems x width SID tokens (0..sidVocab-1). */
  itemTokens: Int32Array;
  /** Stage 1: catalog photos (as shot and augmented). */
  align: PhotoExamples;
  /** Stage 2: phone-like views of catalog photos. */
  search: PhotoExamples;
  dir: string;
  resume?: boolean;
  log?: (message: string) => void;
}

export interface TrainedPhotoModel {
  params: GenerativeParams;
  cfg: GenerativeConfig;
  pack: PackContext;
  seconds: number;
  stages: { name: string; samples: number; steps: number; loss: number; seconds: number }[];
}

/** The two stages, each starting from the previous one's parameters (through the shared trainer). */
export async function trainPhotoGenerative(o: TrainPhotoOptions): Promise<TrainedPhotoModel> {
  mkdirSync(o.dir, { recursive: true });
  const pack = packContext(o.cfg, o.itemTokens);
  const stages = [
    { name: 'align', task: 'item2sid' as Task, photos: o.align, steps: o.recipe.alignSteps },
    { name: 'search', task: 'personal' as Task, photos: o.search, steps: o.recipe.searchSteps },
  ].filter((s) => s.steps > 0);
  let initFrom: string | null = null;
  let params: GenerativeParams | null = null;
  let seconds = 0;
  const done: TrainedPhotoModel['stages'] = [];
  for (const stage of stages) {
    const outDir = join(o.dir, stage.name);
    const phase: PhaseObjectiveConfig = { model: o.cfg, initFrom, sidRows: null };
    if (params) disposeParams(params);
    const result = await train({
      spec: phaseSpec(phase),
      data: new PhotoSidSamples(stage.photos, stage.task, pack),
      config: { ...TRAIN_DEFAULTS, epochs: Math.max(1, Math.ceil(stage.steps / Math.ceil(stage.photos.item.length / o.recipe.batchSize))), batchSize: o.recipe.batchSize, lr: o.recipe.lr, warmupSteps: 20, schedule: 'cosine', seed: o.recipe.seed, patience: 0, bucketByLength: false },
      outDir,
      resume: o.resume,
      identity: { stage: stage.name, samples: stage.photos.item.length, tokens: Array.from(o.itemTokens) },
      log: o.log,
    });
    params = result.params as GenerativeParams;
    seconds += result.seconds;
    done.push({ name: stage.name, samples: stage.photos.item.length, steps: result.state.step, loss: result.state.epochLossSum / Math.max(1, result.state.epochTerms), seconds: result.seconds });
    initFrom = outDir;
  }
  return { params: params!, cfg: o.cfg, pack, seconds, stages: done };
}
