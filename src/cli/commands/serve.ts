import type { Command } from 'commander';
import { type RunningServer, startServer } from '../../serve/server.js';
import { cliContext, type GlobalOptions } from '../context.js';
import { parseInteger } from './eval.js';

export interface ServeCliOptions {
  dataset: string;
  name: string;
  host: string;
  port: string;
  logLevel: string;
  maxBatch: string;
  photoDataset?: string;
  photoModel?: string;
  photoMaxMb: string;
}

/** Options shared by `serve` and `demo` (which serves at the end). */
export function withServeOptions(cmd: Command, dataset: string): Command {
  return cmd
    .option('--dataset <name>', 'dataset in the store', dataset)
    .option('--name <name>', 'trained model to serve (gensearch train --name)', 'default')
    .option('--host <host>', 'address to listen on (0.0.0.0 exposes the admin route too: put a proxy in front)', '127.0.0.1')
    .option('--port <n>', 'port (0 = any free port)', '8080')
    .option('--log-level <level>', 'structured log level (pino): fatal, error, warn, info, debug', 'info')
    .option('--max-batch <n>', 'most generative requests decoded together (dynamic batching; 1 = one at a time)', '16')
    .option('--photo-dataset <name>', 'photo catalog whose photo model answers POST /v1/search/image (default: the served dataset)')
    .option('--photo-model <name>', 'photo model to serve (gensearch train-image --name; default: "default" where it exists)')
    .option('--photo-max-mb <n>', 'largest uploaded photo in MiB', '5');
}

/** Serves until SIGINT / SIGTERM, then closes cleanly (in-flight requests finish). */
export async function serveUntilStopped(home: string, opts: ServeCliOptions): Promise<void> {
  const server: RunningServer = await startServer({
    home,
    dataset: opts.dataset,
    name: opts.name,
    host: opts.host,
    port: parseInteger(opts.port, '--port'),
    logger: { level: opts.logLevel },
    maxBatch: parseInteger(opts.maxBatch, '--max-batch', 1),
    photo: { dataset: opts.photoDataset, name: opts.photoModel },
    photoLimit: parseInteger(opts.photoMaxMb, '--photo-max-mb', 1) * 1024 * 1024,
  });
  console.log(`gensearch serving "${opts.dataset}" with model "${opts.name}" (version ${server.slot.serving.version}) at ${server.url}`);
  const photo = server.photo;
  console.log(photo ? `  photo search: model "${photo.name}" of "${photo.dataset}" (version ${photo.version})` : '  photo search: no photo model (see --photo-dataset)');
  console.log(`  page ${server.url}/   API docs ${server.url}/openapi.json   metrics ${server.url}/metrics`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void server.close().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

export function registerServe(program: Command): void {
  withServeOptions(program.command('serve'), 'demo')
    .description('serve a trained model over HTTP: search / recommend / items / users / events API, web page, metrics, OpenAPI')
    .action(async (opts: ServeCliOptions, cmd: Command) => {
      const ctx = cliContext(cmd.optsWithGlobals<GlobalOptions>());
      await serveUntilStopped(ctx.home, opts);
    });
}
