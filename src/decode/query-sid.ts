import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { encoderDir } from '../encoders/embed.js';
import { loadTextEncoder } from '../encoders/model.js';
import { codesToTokens } from '../sids/layout.js';
import { assignSids } from '../sids/model.js';
import { loadSidModel } from '../sids/model-file.js';
import { sidDir } from '../sids/pipeline.js';
import type { Tf } from '../tensor/runtime.js';

/**
 * SIDs for query texts the model never saw (a live search box): the dataset's text encoder
 * embeds the query, the SID build's codebooks quantize it (keyword enhancement included), the
 * codes become SID tokens. Undefined when the encoder or the codebooks are not on disk: the
 * prompt then carries the query text without its SID.
 */
export async function queryAssigner(tf: Tf, home: string, dataset: string, build: string): Promise<((text: string) => Int32Array) | undefined> {
  const encDir = encoderDir(home, dataset);
  const sDir = sidDir(home, dataset, build);
  if (!existsSync(join(encDir, 'encoder.json')) || !existsSync(join(sDir, 'model.json'))) return undefined;
  const encoder = await loadTextEncoder(encDir);
  const { model } = loadSidModel(sDir);
  if (model.dim !== encoder.dim) return undefined;
  return (text: string) => {
    const codes = assignSids(tf, model, { data: encoder.encode([text]), rows: 1, cols: encoder.dim }, [[text]]);
    return codesToTokens(model.layout, codes);
  };
}
