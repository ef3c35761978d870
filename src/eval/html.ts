import { metricKeys, metricLabel } from './metrics.js';
import { type EvalReport, formatP, type RunRecord, sections, sectionTitle, stars } from './report.js';

const COLOURS = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f'];

const esc = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** A round step for axis ticks: 1, 2 or 5 times a power of ten, about `count` ticks. */
function tickStep(max: number, count = 4): number {
  const raw = max / count;
  const pow = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * pow).find((s) => s >= raw) ?? raw;
}

/** A grouped bar chart as inline SVG: one group per metric, one bar per system. */
export function barChart(title: string, groups: string[], systems: string[], values: number[][]): string {
  const width = 340;
  const height = 220;
  const left = 44;
  const bottom = 28;
  const top = 24;
  const plotW = width - left - 8;
  const plotH = height - top - bottom;
  const max = Math.max(1e-9, ...values.flat());
  const step = tickStep(max);
  const yMax = Math.ceil(max / step) * step;
  const y = (v: number) => top + plotH - (v / yMax) * plotH;
  const groupW = plotW / groups.length;
  const barW = Math.min(28, (groupW * 0.8) / systems.length);
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="${esc(title)}">`,
    `<text x="${width / 2}" y="14" text-anchor="middle" font-size="12" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let v = 0; v <= yMax + step / 2; v += step) {
    parts.push(
      `<line x1="${left}" x2="${width - 8}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`,
      `<text x="${left - 4}" y="${y(v) + 4}" text-anchor="end" font-size="10">${+v.toPrecision(3)}</text>`,
    );
  }
  groups.forEach((g, gi) => {
    const x0 = left + gi * groupW + (groupW - barW * systems.length) / 2;
    parts.push(
      `<text x="${left + (gi + 0.5) * groupW}" y="${height - 10}" text-anchor="middle" font-size="11">${esc(g)}</text>`,
    );
    systems.forEach((s, si) => {
      const v = values[si][gi];
      parts.push(
        `<rect x="${(x0 + si * barW).toFixed(1)}" y="${y(v).toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${(top + plotH - y(v)).toFixed(1)}" fill="${COLOURS[si % COLOURS.length]}"><title>${esc(s)} ${esc(g)} = ${v.toFixed(4)}</title></rect>`,
      );
    });
  });
  parts.push('</svg>');
  return parts.join('');
}

function table(report: EvalReport, runs: RunRecord[]): string {
  const keys = metricKeys(report.meta.ks);
  const head = `<tr><th>system</th><th>cases</th>${keys.map((k) => `<th>${metricLabel(k)}</th>`).join('')}</tr>`;
  const rows = runs.map((run) => {
    const cells = keys.map((k) => {
      const s = run.significance?.[k];
      const tip = s
        ? ` title="vs ${esc(report.meta.reference)}: Δ ${s.delta.toFixed(4)}, p(rand) ${formatP(s.pRandomization)}, p(t) ${formatP(s.pTTest)}, ${s.differing} cases differ"`
        : '';
      return `<td${tip}>${run.metrics[k].toFixed(4)}<sup>${stars(s)}</sup></td>`;
    });
    return `<tr><td>${esc(run.system)}</td><td>${run.nCases}</td>${cells.join('')}</tr>`;
  });
  return `<table><thead>${head}</thead><tbody>${rows.join('')}</tbody></table>`;
}

/** A self-contained page (inline SVG and CSS, no script, no network) comparing the systems. */
export function renderHtml(report: EvalReport): string {
  const { meta } = report;
  const body: string[] = [];
  for (const section of sections(report)) {
    const systems = section.runs.map((r) => r.system);
    const legend = systems
      .map((s, i) => `<span class="key"><i style="background:${COLOURS[i % COLOURS.length]}"></i>${esc(s)}</span>`)
      .join('');
    const charts = meta.ks.map((k) =>
      barChart(
        `@${k}`,
        ['Recall', 'NDCG', 'MRR'],
        systems,
        section.runs.map((r) => ['recall', 'ndcg', 'mrr'].map((m) => r.metrics[`${m}@${k}`])),
      ),
    );
    const byPopularity = section.runs.every((r) => r.byPopularity);
    if (byPopularity) {
      const labels = section.runs[0].byPopularity!.map((b) => b.label);
      const focus = `ndcg@${meta.ks.includes(10) ? 10 : meta.ks[0]}`;
      charts.push(barChart(`${metricLabel(focus)} by the target's training purchases`, labels, systems, section.runs.map((r) => r.byPopularity!.map((b) => b.metrics[focus]))));
    }
    body.push(
      `<h2>${esc(sectionTitle(section.runs[0]))}</h2>`,
      `<div class="legend">${legend}</div>`,
      `<div class="charts">${charts.join('')}</div>`,
      table(report, section.runs),
    );
  }
  const params = [...new Map(report.runs.map((r) => [r.system, r.params])).entries()]
    .map(([s, p]) => `<li><b>${esc(s)}</b>: <code>${esc(JSON.stringify(p))}</code></li>`)
    .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gensearch evaluation: ${esc(meta.dataset)}</title>
<style>
body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1450px}
table{border-collapse:collapse;margin:8px 0 24px}td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}
td:first-child,th:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:8px}
.legend{margin:4px 0}.key{margin-right:14px}.key i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
code{background:#f4f4f4;padding:1px 3px}
</style></head><body>
<h1>Evaluation on ${esc(meta.dataset)}</h1>
<p>Command: <code>${esc(meta.command)}</code><br>
Date ${esc(meta.date)}, commit ${esc(meta.gitCommit)}, seed ${meta.seed}, wall time ${meta.wallSeconds.toFixed(1)} s, Node ${esc(meta.node)}.<br>
${meta.nUsers} users, ${meta.nItems} items, full ranking over all items. Significance against <b>${esc(meta.reference)}</b>:
paired randomization test (${meta.iterations} sign flips), * p &lt; 0.05, ** p &lt; 0.01; hover a cell for Δ and both p-values (randomization, paired t).</p>
${body.join('\n')}
<h2>Systems</h2><ul>${params}</ul>
</body></html>
`;
}
