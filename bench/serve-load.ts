// Load on the HTTP server over loopback: `npm run bench:serve` (after `npm start -- --no-serve`
// built the demo model; `-- --home DIR --dataset NAME --duration S --concurrency 1,8,32`). The
// server runs as its own process (as in production) and autocannon drives it from this one.
// For each concurrency: GET /healthz (the framework's floor), search with the personal BM25
// baseline (the cascade's cost), and generative search at beam 20 and 100, first with dynamic
// batching (the default) and then on a second server decoding one request at a time
// (--max-batch 1). QPS, p50/p99 latency, errors (must be 0) and the server's RSS before and
// after; each row also as a ratio to the baselines of the same concurrency in the same run.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { defaultHome } from '../src/paths.js';
import { benchArg } from './args.js';

const home = benchArg('home', defaultHome());
const dataset = benchArg('dataset', 'demo');
const duration = Number(benchArg('duration', '10'));
const concurrencies = benchArg('concurrency', '1,8,32').split(',').map(Number);
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const QUERIES = ['nail polish', 'shampoo', 'face moisturizer', 'hair dryer', 'lipstick red', 'perfume for women', 'eye shadow palette', 'sunscreen spf 50'];

interface Server {
  base: string;
  stop(): void;
  rss(): Promise<number>;
}

async function startServe(extra: string[]): Promise<Server> {
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
  const base = `http://127.0.0.1:${port}`;
  const child = spawn(process.execPath, [CLI, '--home', home, 'serve', '--dataset', dataset, '--port', String(port), '--log-level', 'warn', ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, GENSEARCH_QUIET: '1' },
  });
  const stop = () => child.kill('SIGTERM');
  process.on('exit', stop);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk: Buffer) => (chunk.toString().includes('serving') ? resolve() : undefined));
    child.on('exit', (code) => reject(new Error(`the server exited with code ${code}: run \`npm start -- --no-serve\` first to build the demo model under ${home}`)));
  });
  const rss = async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    return Number(/^gensearch_process_resident_memory_bytes (\S+)$/m.exec(text)?.[1] ?? NaN) / 2 ** 20;
  };
  return { base, stop, rss };
}

interface Scenario {
  name: string;
  path: string;
  bodies: string[] | null;
}

interface Row {
  server: string;
  scenario: string;
  connections: number;
  requests: number;
  qps: number;
  p50: number;
  p99: number;
  errors: number;
}

async function load(server: Server, label: string, scenarios: Scenario[], rows: Row[]): Promise<{ before: number; after: number }> {
  // Warm-up: every body a few times (wasm kernels, JIT), so the first row is not the cold start.
  for (const s of scenarios) {
    for (const body of s.bodies ?? [null]) {
      for (let i = 0; i < 3; i++) await fetch(`${server.base}${s.path}`, body ? { method: 'POST', headers: { 'content-type': 'application/json' }, body } : {});
    }
  }
  const before = await server.rss();
  for (const connections of concurrencies) {
    for (const s of scenarios) {
      let n = 0;
      const result = await autocannon({
        url: `${server.base}${s.path}`,
        connections,
        duration,
        timeout: 120, // seconds: beam 100 at 32 connections queues long on one event loop; slow is not an error
        requests: [
          s.bodies
            ? { method: 'POST', headers: { 'content-type': 'application/json' }, setupRequest: (req) => ({ ...req, body: s.bodies![n++ % s.bodies!.length] }) }
            : { method: 'GET' },
        ],
      });
      const row: Row = {
        server: label,
        scenario: s.name,
        connections,
        requests: result.requests.total,
        qps: result.requests.average,
        p50: result.latency.p50,
        p99: result.latency.p99,
        errors: result.errors + result.non2xx + result.timeouts,
      };
      rows.push(row);
      console.error(`[${label}] ${s.name} c=${connections}: ${row.qps.toFixed(1)} req/s, p50 ${row.p50} ms, p99 ${row.p99} ms, errors ${row.errors}`);
    }
  }
  return { before, after: await server.rss() };
}

const rows: Row[] = [];
const batched = await startServe([]);
const { users } = (await (await fetch(`${batched.base}/v1/users?limit=16`)).json()) as { users: { id: string }[] };
const health = (await (await fetch(`${batched.base}/healthz`)).json()) as { model: { version: string } };
// Each request of a scenario takes the next (query, user) pair.
const bodies = (system: string, beam: number) => QUERIES.map((query, i) => JSON.stringify({ query, userId: users[i % users.length].id, k: 10, beam, system }));
const generative: Scenario[] = [
  { name: 'search generative beam 20', path: '/v1/search', bodies: bodies('generative', 20) },
  { name: 'search generative beam 100', path: '/v1/search', bodies: bodies('generative', 100) },
];
const memory: Record<string, { before: number; after: number }> = {};
memory.batched = await load(
  batched,
  'batched',
  [{ name: 'GET /healthz', path: '/healthz', bodies: null }, { name: 'search bm25-personal', path: '/v1/search', bodies: bodies('bm25-personal', 20) }, ...generative],
  rows,
);
batched.stop();
const single = await startServe(['--max-batch', '1']);
memory['one at a time'] = await load(single, 'one at a time', generative, rows);
single.stop();

const ratio = (a: number, b: number | undefined) => (b ? (a / b).toFixed(3) : '-');
const find = (server: string, scenario: string, connections: number) => rows.find((x) => x.server === server && x.scenario === scenario && x.connections === connections)?.qps;
const lines = [
  `Serving load, dataset ${dataset}, model ${health.model.version}, ${duration} s per row, k = 10, ${new Date().toISOString().slice(0, 10)} (npm run bench:serve)`,
  '',
  '| server | scenario | connections | requests | QPS | p50 ms | p99 ms | errors | QPS / healthz | QPS / bm25-personal | QPS / one at a time |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => {
    const alone = r.scenario.includes('generative') ? ratio(r.qps, find('one at a time', r.scenario, r.connections)) : '-';
    return `| ${r.server} | ${r.scenario} | ${r.connections} | ${r.requests} | ${r.qps.toFixed(1)} | ${r.p50} | ${r.p99} | ${r.errors} | ${ratio(r.qps, find('batched', 'GET /healthz', r.connections))} | ${ratio(r.qps, find('batched', 'search bm25-personal', r.connections))} | ${alone} |`;
  }),
  '',
  `Server RSS (MiB, before -> after the rows): ${Object.entries(memory).map(([k, m]) => `${k} ${m.before.toFixed(0)} -> ${m.after.toFixed(0)}`).join('; ')}. Errors in all: ${rows.reduce((a, r) => a + r.errors, 0)}.`,
];
const out = join('bench', 'out');
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'serve-load.md'), `${lines.join('\n')}\n`);
writeFileSync(join(out, 'serve-load.json'), JSON.stringify({ dataset, model: health.model.version, duration, memory, rows }, null, 1));
console.log(lines.join('\n'));
if (rows.some((r) => r.errors > 0)) process.exitCode = 1;
