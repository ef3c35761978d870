/**
 * Attribute types of the keyword pool: a subset of OneSearch's 18 that a catalog of titles,
 * brands and category paths can supply. `brand` and `category` come from the catalog's own
 * fields; the rest are words matched in titles, from the lexicon below (replaceable per shop).
 */
export const KEYWORD_TYPES = ['brand', 'category', 'colour', 'material', 'scent', 'function', 'size', 'audience'] as const;
export type KeywordType = (typeof KEYWORD_TYPES)[number];

export type Lexicon = Partial<Record<KeywordType, readonly string[]>>;

/**
 * The default attribute words, English, written for health & beauty and general retail. A
 * phrase claimed by two types keeps the first in KEYWORD_TYPES order ("rose" is a colour
 * here, since colour comes before scent). Shops replace or extend it with `--keyword-lexicon`.
 */
export const DEFAULT_LEXICON: Lexicon = {
  colour: [
    'black', 'white', 'red', 'pink', 'hot pink', 'blue', 'navy', 'green', 'yellow', 'orange', 'purple', 'violet',
    'lavender', 'lilac', 'brown', 'beige', 'nude', 'coral', 'peach', 'plum', 'berry', 'burgundy', 'wine', 'gold',
    'rose gold', 'silver', 'bronze', 'copper', 'grey', 'gray', 'ivory', 'cream', 'tan', 'taupe', 'mauve', 'fuchsia',
    'magenta', 'teal', 'turquoise', 'aqua', 'mint', 'cherry', 'ruby', 'scarlet', 'crimson', 'champagne', 'pearl',
    'chocolate', 'espresso', 'caramel', 'honey', 'blonde', 'brunette', 'auburn', 'platinum', 'ash', 'charcoal',
    'clear', 'transparent', 'neon', 'pastel', 'metallic', 'shimmer', 'glitter', 'matte', 'glossy', 'satin', 'frost',
    'light', 'medium', 'dark', 'deep', 'fair', 'natural', 'rose',
  ],
  material: [
    'cotton', 'silk', 'satin', 'velvet', 'bamboo', 'wood', 'wooden', 'boar bristle', 'nylon', 'synthetic',
    'ceramic', 'tourmaline', 'titanium', 'stainless steel', 'steel', 'metal', 'glass', 'crystal', 'plastic',
    'silicone', 'rubber', 'leather', 'faux leather', 'mink', 'human hair', 'remy', 'microfiber', 'sponge', 'foam',
    'argan oil', 'coconut oil', 'jojoba', 'jojoba oil', 'shea butter', 'cocoa butter', 'aloe', 'aloe vera',
    'keratin', 'collagen', 'hyaluronic acid', 'retinol', 'vitamin c', 'vitamin e', 'niacinamide', 'salicylic acid',
    'glycolic acid', 'tea tree', 'tea tree oil', 'charcoal', 'clay', 'kaolin', 'bentonite', 'mineral', 'minerals',
    'mica', 'zinc', 'zinc oxide', 'titanium dioxide', 'snail', 'honey', 'beeswax', 'lanolin', 'glycerin',
    'peptide', 'peptides', 'ceramide', 'ceramides', 'caffeine', 'green tea', 'rosehip', 'marula', 'biotin',
    'sulfate free', 'paraben free', 'organic', 'vegan', 'natural',
  ],
  scent: [
    'lavender', 'vanilla', 'rose', 'jasmine', 'citrus', 'lemon', 'lime', 'orange', 'grapefruit', 'bergamot',
    'coconut', 'mint', 'peppermint', 'spearmint', 'eucalyptus', 'sandalwood', 'musk', 'amber', 'patchouli',
    'cedar', 'cedarwood', 'vetiver', 'oud', 'almond', 'cherry blossom', 'strawberry', 'raspberry', 'apple',
    'peach', 'mango', 'pomegranate', 'cucumber', 'melon', 'watermelon', 'gardenia', 'lily', 'orchid', 'violet',
    'freesia', 'magnolia', 'neroli', 'ylang ylang', 'chamomile', 'ginger', 'cinnamon', 'chocolate', 'coffee',
    'unscented', 'fragrance free', 'fresh', 'floral', 'fruity', 'woody', 'spicy', 'powdery', 'oriental', 'aquatic',
    'eau de parfum', 'eau de toilette', 'cologne', 'perfume', 'body mist',
  ],
  function: [
    'moisturizing', 'moisturising', 'hydrating', 'nourishing', 'anti aging', 'anti wrinkle', 'firming', 'lifting',
    'brightening', 'whitening', 'lightening', 'exfoliating', 'clarifying', 'purifying', 'detox', 'soothing',
    'calming', 'repairing', 'repair', 'restoring', 'strengthening', 'smoothing', 'volumizing', 'volume',
    'thickening', 'lengthening', 'curling', 'straightening', 'defining', 'frizz', 'anti frizz', 'shine',
    'color protect', 'colour protect', 'heat protectant', 'uv', 'spf', 'sunscreen', 'sun protection',
    'waterproof', 'water resistant', 'long lasting', 'long wear', 'smudge proof', 'oil free', 'oil control',
    'acne', 'blemish', 'pore', 'pores', 'dark circles', 'puffiness', 'anti dandruff', 'dandruff', 'hair loss',
    'hair growth', 'regrowth', 'sensitive skin', 'dry skin', 'oily skin', 'hypoallergenic', 'non comedogenic',
    'cleansing', 'deep cleansing', 'toning', 'priming', 'setting', 'concealing', 'contouring', 'highlighting',
    'tinted', 'plumping', 'cooling', 'warming', 'massage', 'deodorant', 'antiperspirant',
    'quick dry', 'fast drying', 'gel', 'professional', 'salon',
  ],
  size: [
    'travel size', 'mini', 'minis', 'jumbo', 'full size', 'value size', 'large', 'small', 'xl', 'trial size',
    'sample', 'samples', 'refill', 'set', 'kit', 'gift set', 'value pack', 'pack', 'bundle', 'duo', 'trio',
    'combo', 'collection', 'palette',
  ],
  audience: [
    'men', 'mens', 'man', 'women', 'womens', 'woman', 'unisex', 'kids', 'children', 'baby', 'babies', 'teen',
    'girls', 'boys', 'him', 'her',
  ],
};
