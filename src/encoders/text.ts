import { decodeHTML } from 'entities';
import { badInput } from '../errors.js';
import { tokenize } from '../eval/query.js';
import type { ItemRecord } from '../store/types.js';

/** Brand values that say nothing about the item (Amazon uses "Unknown"). */
const EMPTY_BRANDS: ReadonlySet<string> = new Set(['unknown', 'n/a', 'na', 'none', 'null', 'generic']);
/** Attributes that hold references, not describing text. */
const NON_TEXT_ATTRIBUTE = /(image|img|url|path|file|photo|^id$|_id$)/i;

/**
 * How an item becomes text for the encoder: title, brand, every category path (coarse to
 * fine) and the string-valued attributes, in that order. HTML entities are decoded (Amazon
 * titles carry `&amp;`); numbers (price, sales rank) are left to other features.
 */
export function itemText(item: ItemRecord): string {
  const parts: string[] = [];
  if (item.title) parts.push(decodeHTML(item.title));
  if (item.brand && !EMPTY_BRANDS.has(item.brand.trim().toLowerCase())) parts.push(decodeHTML(item.brand));
  for (const path of item.categories) parts.push(path.join(' '));
  for (const [key, value] of Object.entries(item.attributes)) {
    if (typeof value !== 'string' || NON_TEXT_ATTRIBUTE.test(key) || /^[a-z]+:\/\//i.test(value)) continue;
    parts.push(decodeHTML(value));
  }
  return parts.join(' ; ');
}

/** The words of a text as the encoder sees them: the same tokenizer as the HEM queries. */
export function textWords(text: string, maxWords: number): string[] {
  const words = tokenize(text);
  return words.length > maxWords ? words.slice(0, maxWords) : words;
}

/** How words are split into hashed character n-grams (fastText style, with `<` `>` marks). */
export interface NgramConfig {
  /** N-gram lengths, e.g. [3, 4]. */
  sizes: number[];
  /** Hash buckets: n-grams share rows modulo this. */
  buckets: number;
  /** At most this many n-grams per word; longer words keep an evenly spaced subset. */
  maxPerWord: number;
}

export function checkNgramConfig(c: NgramConfig): void {
  if (!c.sizes.length || c.sizes.some((n) => !Number.isInteger(n) || n < 1 || n > 8)) {
    throw badInput(`n-gram sizes must be integers in 1..8, got [${c.sizes.join(', ')}]`);
  }
  if (!Number.isInteger(c.buckets) || c.buckets < 1) throw badInput(`n-gram buckets must be a positive integer, got ${c.buckets}`);
  if (!Number.isInteger(c.maxPerWord) || c.maxPerWord < 1) {
    throw badInput(`n-grams per word must be a positive integer, got ${c.maxPerWord}`);
  }
}

/** 32-bit FNV-1a over UTF-16 code units: fixed, fast, the same on every machine. */
export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** The character n-grams of `<word>`, shortest size first, left to right. */
export function charNgrams(word: string, sizes: readonly number[]): string[] {
  const marked = `<${word}>`;
  const chars = Array.from(marked); // code points, so surrogate pairs stay whole
  const out: string[] = [];
  for (const n of sizes) {
    for (let i = 0; i + n <= chars.length; i++) out.push(chars.slice(i, i + n).join(''));
  }
  // A word shorter than every size still gets one feature: itself, marked.
  if (out.length === 0) out.push(marked);
  return out;
}

/** Distinct hash buckets of a word's n-grams (sorted), at most `maxPerWord`. */
export function ngramBuckets(word: string, config: NgramConfig): Int32Array {
  const set = new Set<number>();
  for (const g of charNgrams(word, config.sizes)) set.add(fnv1a(g) % config.buckets);
  let rows = Int32Array.from(set).sort();
  if (rows.length > config.maxPerWord) {
    const step = rows.length / config.maxPerWord;
    rows = Int32Array.from({ length: config.maxPerWord }, (_, i) => rows[Math.floor(i * step)]);
  }
  return rows;
}
