import { createHash } from 'node:crypto';
import { badInput } from '../errors.js';

/**
 * The shape of one transformer stack as plain data (nanoGPT style). An encoder-decoder uses
 * one of these per side; SASRec uses one causal stack.
 */
export interface TransformerConfig {
  /** Width of the residual stream. */
  dModel: number;
  nHeads: number;
  nLayers: number;
  /** Hidden width of the feed-forward block (4 * dModel in GPT/BART). */
  dFF: number;
  /** Longest sequence: the size of the learned position table. */
  maxLen: number;
  /** Dropout on embeddings, sublayer outputs and the FFN hidden layer. */
  dropout: number;
  /** Dropout on attention probabilities. */
  attnDropout: number;
  /** Std of the normal init of weight matrices and embeddings. */
  initStd: number;
  layerNormEps: number;
}

export type ProfileName = 'tiny' | 'small' | 'base';

/**
 * Size profiles. `tiny` is for tests; `small` is the SASRec size (the published SASRec uses
 * d=50..64, 2 layers); `base` is BART-base (d=768, 12 heads, 6 layers per side, FFN 3072).
 */
export const PROFILES: Readonly<Record<ProfileName, TransformerConfig>> = {
  tiny: { dModel: 16, nHeads: 2, nLayers: 1, dFF: 32, maxLen: 16, dropout: 0, attnDropout: 0, initStd: 0.02, layerNormEps: 1e-5 },
  small: { dModel: 64, nHeads: 2, nLayers: 2, dFF: 256, maxLen: 50, dropout: 0.2, attnDropout: 0.2, initStd: 0.02, layerNormEps: 1e-5 },
  base: { dModel: 768, nHeads: 12, nLayers: 6, dFF: 3072, maxLen: 512, dropout: 0.1, attnDropout: 0.1, initStd: 0.02, layerNormEps: 1e-5 },
};

/** A profile with some fields replaced, checked for consistency. */
export function transformerConfig(profile: ProfileName, overrides: Partial<TransformerConfig> = {}): TransformerConfig {
  const base = PROFILES[profile];
  if (!base) throw badInput(`unknown model profile "${profile}": expected one of ${Object.keys(PROFILES).join(', ')}`);
  const cfg = { ...base, ...overrides };
  validateTransformerConfig(cfg);
  return cfg;
}

export function validateTransformerConfig(cfg: TransformerConfig): void {
  for (const key of ['dModel', 'nHeads', 'nLayers', 'dFF', 'maxLen'] as const) {
    if (!Number.isInteger(cfg[key]) || cfg[key] < 1) throw badInput(`model config ${key} must be a positive integer; got ${cfg[key]}`);
  }
  if (cfg.dModel % cfg.nHeads !== 0) {
    throw badInput(`model config dModel (${cfg.dModel}) must be divisible by nHeads (${cfg.nHeads}); change one of them`);
  }
  for (const key of ['dropout', 'attnDropout'] as const) {
    if (!(cfg[key] >= 0 && cfg[key] < 1)) throw badInput(`model config ${key} must be in [0, 1); got ${cfg[key]}`);
  }
}

/** JSON with object keys sorted, so equal configs always serialise (and hash) the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** A short stable hash of any plain-data config: checkpoints refuse to resume under another. */
export function configHash(config: unknown): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 16);
}
