/** Public surface of the aligned query/item text encoder. */
export { type Embeddings, type ReadEmbeddings, readEmbeddings, writeEmbeddings } from './embfile.js';
export { type EncoderConfig, loadTextEncoder, type Pooling, POOLINGS, type TextEncoder } from './model.js';
export { type EncoderTrainData, LOSS_TYPES, type LossType } from './pairs.js';
export { EmbeddingScorer, type EmbeddingScorerOptions } from './scorer.js';
export { itemText } from './text.js';
export {
  ENCODER_DEFAULTS,
  type TrainEncoderOptions,
  type TrainEncoderResult,
  type TrainReport,
  trainTextEncoder,
  type WordVectorSource,
} from './train.js';
export { loadWordVectors, type WordVectorOptions } from './wink.js';
