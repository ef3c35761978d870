import type { ItemRecord } from '../store/types.js';

/**
 * English stopwords dropped from HEM queries and BM25 text: function words only, so every
 * content word of a category path survives (including "beauty", which every Beauty path starts
 * with and which therefore carries no signal, but the protocol keeps it).
 */
export const STOPWORDS: ReadonlySet<string> = new Set(
  (
    'a an and are as at be but by for from has have in into is it its of on or over ' +
    's so than that the their then there these this those to under was were what when where ' +
    'which while who whom why will with without'
  ).split(' '),
);

const WORD = /[\p{L}\p{N}]+/gu;
// Possessive and inner apostrophes join the word ("Men's" -> "mens"), so no stray "s" token.
const APOSTROPHE = /['\u2019]/g;

/**
 * Lower-cases (NFKC) and splits text into letter/digit runs; "&", commas, hyphens and other
 * punctuation separate words ("Self-Tanners & Bronzers" -> self, tanners, bronzers).
 * Stopwords are kept here; callers drop them where they want to.
 */
export function tokenize(text: string): string[] {
  return text.normalize('NFKC').toLowerCase().replace(APOSTROPHE, '').match(WORD) ?? [];
}

/** Tokens without stopwords, each kept once at its first position. */
export function uniqueTerms(text: string): string[] {
  const seen = new Set<string>();
  for (const t of tokenize(text)) if (!STOPWORDS.has(t)) seen.add(t);
  return [...seen];
}

/**
 * The HEM query (Ai et al., SIGIR 2017) for an item: the words of all its category paths,
 * coarse to fine, tokenised as `tokenize`, stopwords and repeated words dropped, joined by
 * single spaces. No stemming ("nails" and "nail" are different words).
 * ["Beauty","Makeup","Nails","Nail Polish"] -> "beauty makeup nails nail polish".
 */
export function hemQuery(item: Pick<ItemRecord, 'categories'>): string {
  return uniqueTerms(item.categories.map((path) => path.join(' ')).join(' ')).join(' ');
}
