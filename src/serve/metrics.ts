import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** The server's Prometheus metrics, in a registry of its own (several servers may share a process). */
export interface ServeMetrics {
  registry: Registry;
  requests: Counter<'method' | 'route' | 'status'>;
  requestSeconds: Histogram<'method' | 'route'>;
  rankSeconds: Histogram<'system' | 'task'>;
  batchSize: Histogram;
  model: Gauge<'name' | 'version'>;
  swaps: Counter;
}

export function serveMetrics(): ServeMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'gensearch_' });
  const buckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
  return {
    registry,
    requests: new Counter({ name: 'gensearch_http_requests_total', help: 'HTTP requests by route and status', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    requestSeconds: new Histogram({ name: 'gensearch_http_request_seconds', help: 'HTTP request latency', labelNames: ['method', 'route'], buckets, registers: [registry] }),
    rankSeconds: new Histogram({ name: 'gensearch_rank_seconds', help: 'Ranking time by system and task (search, recommend, image)', labelNames: ['system', 'task'], buckets, registers: [registry] }),
    batchSize: new Histogram({ name: 'gensearch_decode_batch_size', help: 'Generative requests decoded together (dynamic batching)', buckets: [1, 2, 4, 8, 16, 32, 64], registers: [registry] }),
    model: new Gauge({ name: 'gensearch_model_info', help: 'The model being served (value 1)', labelNames: ['name', 'version'], registers: [registry] }),
    swaps: new Counter({ name: 'gensearch_model_swaps_total', help: 'Models swapped in since start', registers: [registry] }),
  };
}
