/** The evaluation harness: what other parts call. */
export { evaluateSystem, type EvaluateOptions, type HistoryMode, historyLabel, type SystemEvaluation } from './evaluate.js';
export { DEFAULT_KS, metricKeys, type CaseRanks, type MetricKey, type PerCaseMetrics, perCaseMetrics } from './metrics.js';
export { buildEvalData, type EvalData, searchTrainingPairs, type SearchPair } from './protocol.js';
export { hemQuery, STOPWORDS, tokenize, uniqueTerms } from './query.js';
export { compareToReference, type EvalReport, mergeReports, readReport, renderMarkdown, type RunRecord } from './report.js';
export { renderHtml } from './html.js';
export { runEvaluation, type RunOptions, type SystemEntry, writeReport } from './run.js';
export { pairedRandomizationTest, pairedTest, pairedTTest, type PairedTest } from './significance.js';
export { TopKSelector } from './topk.js';
export type { DenseScorer, EvalCase, Protocol, RankedList, RankingSystem, Split, TopKRanker, TrainData } from './types.js';
