import cliProgress from 'cli-progress';

export interface Progress {
  /** Advances by `n` (default 1); `info` replaces the trailing text, e.g. the current loss. */
  tick(n?: number, info?: string): void;
  stop(): void;
}

/**
 * A progress bar with rate and ETA on a terminal; on a pipe or in CI, a plain line every few
 * seconds so logs stay readable. Silent when GENSEARCH_QUIET is set (tests).
 */
export function progress(label: string, total: number, unit = 'it'): Progress {
  if (process.env.GENSEARCH_QUIET) return { tick() {}, stop() {} };
  let done = 0;
  let info = '';
  if (process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% {value}/{total} ${unit} | {rate} ${unit}/s | ETA {eta_formatted} {info}`,
        stream: process.stderr,
        hideCursor: true,
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    const start = Date.now();
    bar.start(total, 0, { rate: '0', info });
    return {
      tick(n = 1, text) {
        done += n;
        if (text !== undefined) info = text;
        const rate = done / Math.max(1e-3, (Date.now() - start) / 1000);
        bar.update(done, { rate: rate.toFixed(rate < 10 ? 2 : 0), info });
      },
      stop() {
        bar.stop();
      },
    };
  }
  const start = Date.now();
  let last = start;
  const line = () => {
    const secs = (Date.now() - start) / 1000;
    const rate = done / Math.max(1e-3, secs);
    const eta = rate > 0 ? (total - done) / rate : 0;
    process.stderr.write(
      `${label}: ${done}/${total} ${unit} (${((100 * done) / Math.max(1, total)).toFixed(0)}%) ${rate.toFixed(1)} ${unit}/s ETA ${eta.toFixed(0)}s ${info}\n`,
    );
  };
  return {
    tick(n = 1, text) {
      done += n;
      if (text !== undefined) info = text;
      if (Date.now() - last > 5000) {
        last = Date.now();
        line();
      }
    },
    stop() {
      line();
    },
  };
}
