import { decodeHTML } from 'entities';
import { badInput } from '../../errors.js';
import { tokenize } from '../../eval/query.js';
import type { ItemRecord } from '../../store/types.js';
import { WordAhoCorasick } from './aho-corasick.js';
import { DEFAULT_LEXICON, KEYWORD_TYPES, type KeywordType, type Lexicon } from './lexicon.js';

export interface KeywordPoolConfig {
  /** Types in the pool (default: all of KEYWORD_TYPES). */
  types?: readonly KeywordType[];
  /** Attribute words per type (default DEFAULT_LEXICON); brand and category come from the catalog. */
  lexicon?: Lexicon;
  /** Keep a keyword only if at least this many items contain it (default 2). */
  minItems?: number;
  /** Drop keywords found in more than this share of the items, e.g. "beauty" in every path (default 0.2). */
  maxShare?: number;
}

export interface Keyword {
  /** Normalised phrase: tokenizer words joined by single spaces. */
  phrase: string;
  type: KeywordType;
  /** Items of the catalog that contain it. */
  items: number;
}

export const KEYWORD_DEFAULTS = { minItems: 2, maxShare: 0.2 } as const;

/** Brand values that name no brand. */
const NO_BRAND: ReadonlySet<string> = new Set(['unknown', 'n a', 'na', 'none', 'null', 'generic']);
/** Category path segments are lists: "Creams, Gels & Lotions" -> creams / gels / lotions. */
const SEGMENT_SPLIT = /\s*(?:&|,|\/|\band\b|\bplus\b)\s*/i;

/**
 * The texts of an item that keywords are matched in: title, brand and each category path
 * segment, matched separately so no phrase spans two fields.
 */
export function keywordFields(item: ItemRecord): string[] {
  const out: string[] = [];
  if (item.title) out.push(decodeHTML(item.title));
  if (item.brand) out.push(decodeHTML(item.brand));
  for (const path of item.categories) out.push(...path);
  return out;
}

/**
 * A typed keyword pool matched with one word-level Aho-Corasick automaton. Built from the
 * catalog: brands, category terms (path segments split at "&" and ","), and attribute words
 * (colour, material, scent, function, size, audience) of the lexicon that occur in titles;
 * kept when they occur in at least `minItems` items and at most `maxShare` of them.
 */
export class KeywordPool {
  readonly keywords: readonly Keyword[];
  private readonly matcher: WordAhoCorasick<number>;

  constructor(keywords: readonly Keyword[]) {
    this.keywords = keywords;
    this.matcher = new WordAhoCorasick(keywords.map((k, i) => [k.phrase.split(' '), i] as const));
  }

  static build(items: readonly ItemRecord[], config: KeywordPoolConfig = {}): KeywordPool {
    const minItems = config.minItems ?? KEYWORD_DEFAULTS.minItems;
    const maxShare = config.maxShare ?? KEYWORD_DEFAULTS.maxShare;
    if (!(maxShare > 0 && maxShare <= 1)) throw badInput(`keyword maxShare must be in (0, 1]; got ${maxShare}`);
    const types = config.types ?? KEYWORD_TYPES;
    for (const t of types) {
      if (!KEYWORD_TYPES.includes(t)) throw badInput(`unknown keyword type "${t}"; expected one of ${KEYWORD_TYPES.join(', ')}`);
    }
    const lexicon = config.lexicon ?? DEFAULT_LEXICON;
    // Candidates in type order: a phrase claimed twice keeps its first type.
    const candidates = new Map<string, KeywordType>();
    const claim = (text: string, type: KeywordType) => {
      const phrase = tokenize(text).join(' ');
      if (phrase && !candidates.has(phrase)) candidates.set(phrase, type);
    };
    for (const type of KEYWORD_TYPES) {
      if (!types.includes(type)) continue;
      if (type === 'brand') {
        for (const it of items) {
          if (it.brand && !NO_BRAND.has(tokenize(decodeHTML(it.brand)).join(' '))) claim(decodeHTML(it.brand), type);
        }
      } else if (type === 'category') {
        for (const it of items) for (const path of it.categories) for (const seg of path) for (const part of seg.split(SEGMENT_SPLIT)) claim(part, type);
      } else {
        for (const word of lexicon[type] ?? []) claim(word, type);
      }
    }
    const all = new KeywordPool([...candidates].map(([phrase, type]) => ({ phrase, type, items: 0 })));
    const counts = new Int32Array(all.keywords.length);
    for (const it of items) for (const k of all.matchItem(it)) counts[k]++;
    const kept = all.keywords
      .map((k, i) => ({ ...k, items: counts[i] }))
      .filter((k) => k.items >= minItems && k.items <= maxShare * items.length);
    return new KeywordPool(kept);
  }

  /** Keyword ids found in a text (leftmost-longest matches), each once, in order of appearance. */
  match(text: string): number[] {
    return [...new Set(this.matcher.findLongest(tokenize(text)).map((m) => m.value))];
  }

  /** Keyword ids of an item, over its title, brand and category paths. */
  matchItem(item: ItemRecord): number[] {
    return [...new Set(keywordFields(item).flatMap((f) => this.match(f)))];
  }

  /** Keywords per type, for reports. */
  countByType(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const k of this.keywords) out[k.type] = (out[k.type] ?? 0) + 1;
    return out;
  }
}
