import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readS3Rec } from '../src/import/amazon-beauty.js';
import { sliceS3Rec } from '../src/import/demo-slice.js';
import { demoDataDir } from '../src/paths.js';
import { type DemoModelOptions, type DemoResult, runDemo } from '../src/pipeline/demo.js';

/** The main job's model steps at test size: a small encoder, 4x4 + OPQ SIDs, the tiny profile. */
export const TINY_MODEL: DemoModelOptions = {
  name: 'default',
  embed: { epochs: 1, dim: 16, wordVectors: false },
  sids: { levels: [4, 4], balancedLevels: [2], opq: { k: 4, subspaces: 2 }, keywords: null },
  recipe: { profile: 'tiny', epochs: '2', validCases: '30', textVocab: '100' },
  workers: 0,
};

/** A 40-item slice of the demo data written as an S3Rec folder under `home`. */
export function writeDemoSlice(home: string): { dir: string; users: string[] } {
  const dir = join(home, 'slice-data');
  mkdirSync(dir, { recursive: true });
  const slice = sliceS3Rec(readS3Rec(demoDataDir()), { items: 40, minInteractions: 5 });
  for (const [file, text] of Object.entries(slice.files)) writeFileSync(join(dir, file), text);
  const users = slice.files['sequences.txt'].trim().split('\n').map((line) => line.split(' ')[0]);
  return { dir, users };
}

/** Runs the main job (no report) on the slice with the tiny model under another name/seed, recipe settings added. */
export function runTinyDemo(home: string, dataDir: string, name = 'default', seed = 1, recipe: Record<string, string> = {}): Promise<DemoResult> {
  return runDemo({ home, dataDir, dataset: 'slice', report: false, model: { ...TINY_MODEL, name, recipe: { ...TINY_MODEL.recipe, seed: String(seed), ...recipe } } });
}
