import type { TrainingSummary } from './train.js';

/**
 * The training report of a generative model: per phase, the loss curve (one point per logged
 * step) and the validation curves (one point per epoch), as inline SVG in one HTML page, plus
 * the summary table (samples, time, examples/s, GFLOP/s, MFU).
 */
export interface PhaseCurves {
  phase: string;
  lines: Record<string, unknown>[];
}

const PALETTE = ['#4e79a7', '#e15759', '#59a14f', '#f28e2b', '#b07aa1', '#76b7b2'];

function escapeHtml(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

interface Series {
  name: string;
  points: [number, number][];
}

/** A line chart of one or more series over a shared x axis, as inline SVG. */
export function lineChart(title: string, xLabel: string, series: readonly Series[]): string {
  const w = 420;
  const h = 240;
  const left = 52;
  const right = 10;
  const top = 26;
  const bottom = 34;
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) return `<p>${escapeHtml(title)}: no points logged.</p>`;
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const px = (x: number) => left + ((x - x0) / Math.max(1e-9, x1 - x0)) * (w - left - right);
  const py = (y: number) => top + (1 - (y - y0) / (y1 - y0)) * (h - top - bottom);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" role="img" aria-label="${escapeHtml(title)}">`,
    `<text x="${w / 2}" y="15" text-anchor="middle" font-size="12" font-weight="bold">${escapeHtml(title)}</text>`,
    `<text x="${(left + w - right) / 2}" y="${h - 4}" text-anchor="middle" font-size="10">${escapeHtml(xLabel)}</text>`,
  ];
  for (let i = 0; i <= 4; i++) {
    const v = y0 + ((y1 - y0) * i) / 4;
    parts.push(
      `<line x1="${left}" x2="${w - right}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#e5e5e5"/>`,
      `<text x="${left - 4}" y="${(py(v) + 3).toFixed(1)}" text-anchor="end" font-size="10">${+v.toPrecision(3)}</text>`,
    );
  }
  parts.push(
    `<text x="${left}" y="${h - bottom + 12}" font-size="10">${+x0.toPrecision(4)}</text>`,
    `<text x="${w - right}" y="${h - bottom + 12}" text-anchor="end" font-size="10">${+x1.toPrecision(4)}</text>`,
  );
  series.forEach((s, i) => {
    const colour = PALETTE[i % PALETTE.length];
    const d = s.points.map(([x, y], j) => `${j ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="1.5"/>`);
    for (const [x, y] of s.points.length <= 40 ? s.points : []) {
      parts.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="2.5" fill="${colour}"><title>${escapeHtml(s.name)} ${x}: ${y.toFixed(4)}</title></circle>`);
    }
    parts.push(`<text x="${left + 6}" y="${top + 12 + 12 * i}" font-size="10" fill="${colour}">${escapeHtml(s.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Loss per step and validation metrics per epoch of every phase, plus the summary, as HTML. */
export function trainingReportHtml(title: string, curves: readonly PhaseCurves[], summary: TrainingSummary | null): string {
  const sections = curves.map(({ phase, lines }) => {
    const steps = lines.filter((l) => l.type === 'step' && num(l.loss) !== null).map((l) => [num(l.step)!, num(l.loss)!] as [number, number]);
    const epochs = lines.filter((l) => l.type === 'epoch');
    const epochLoss = epochs.filter((l) => num(l.loss) !== null).map((l) => [num(l.step)!, num(l.loss)!] as [number, number]);
    const metricNames = [...new Set(epochs.flatMap((l) => Object.keys(l).filter((k) => k.includes('@') || k === 'score')))].sort();
    const metrics = metricNames.map((name) => ({
      name,
      points: epochs.filter((l) => num(l[name]) !== null).map((l) => [num(l.epoch)!, num(l[name])!] as [number, number]),
    }));
    return [
      `<h2>${escapeHtml(phase)}</h2>`,
      lineChart(`${phase}: training loss`, 'step', [
        { name: 'loss (logged steps)', points: steps },
        { name: 'loss (epoch mean)', points: epochLoss },
      ]),
      metrics.length ? lineChart(`${phase}: validation`, 'epoch', metrics) : '<p>No validation in this phase (fixed epochs).</p>',
    ].join('\n');
  });
  const table = summary
    ? [
        '<table><tr><th>phase</th><th>samples</th><th>epochs</th><th>steps</th><th>train s</th><th>examples/s</th><th>GFLOP/s</th><th>best</th></tr>',
        ...summary.phases.map(
          (p) =>
            `<tr><td>${escapeHtml(p.name)}</td><td>${p.samples}</td><td>${p.epochs}</td><td>${p.steps}</td><td>${p.trainSeconds.toFixed(0)}</td><td>${p.examplesPerSecond.toFixed(0)}</td><td>${p.gflops.toFixed(2)}</td><td>${escapeHtml(
              p.best ? Object.entries(p.best).map(([k, v]) => `${k} ${v.toFixed(4)}`).join(', ') : '',
            )}</td></tr>`,
        ),
        '</table>',
        `<p>${summary.parameters} parameters; matmul peak ${summary.matmulGflops.toFixed(1)} GFLOP/s per thread x ${summary.threads}; MFU ${(100 * summary.mfu).toFixed(1)}%.</p>`,
      ].join('\n')
    : '';
  return `<!doctype html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<style>body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}svg{margin:4px}</style>
</head><body><h1>${escapeHtml(title)}</h1>
${table}
${sections.join('\n')}
</body></html>
`;
}
