// uPlot charts: the numeric values per topic (MessageView.numbers) and the message rate.
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import { html } from './html.js';

const COLORS = ['#4fc3f7', '#ffb74d', '#81c784', '#e57373', '#ba68c8', '#fff176', '#4db6ac', '#f06292'];
/** Without a topic picked, the values chart shows this many of the most recently updated series. */
const RECENT_SERIES = 4;
const AXIS = { stroke: '#8b949e', grid: { stroke: '#262c36', width: 1 }, ticks: { stroke: '#262c36', width: 1 } };

/** A uPlot chart kept across renders: rebuilt when its series change, otherwise only given new data. */
function Plot({ labels, data, height, testid, empty }) {
  const box = useRef(null);
  const plot = useRef(null);
  const signature = labels.join('\n');

  useEffect(() => {
    const element = box.current;
    const width = Math.max(element.clientWidth, 200);
    if (plot.current && plot.current.signature === signature) {
      plot.current.chart.setData(data);
      return;
    }
    plot.current?.chart.destroy();
    const options = {
      width,
      height,
      scales: { x: { time: true } },
      axes: [AXIS, { ...AXIS, size: 52 }],
      cursor: { drag: { x: false, y: false } },
      series: [{}, ...labels.map((label, i) => ({ label, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true, points: { show: false } }))],
    };
    plot.current = { signature, chart: new uPlot(options, data, element) };
  });

  useEffect(() => {
    const element = box.current;
    const observer = new ResizeObserver(() => plot.current?.chart.setSize({ width: Math.max(element.clientWidth, 200), height }));
    observer.observe(element);
    return () => {
      observer.disconnect();
      plot.current?.chart.destroy();
      plot.current = null;
    };
  }, []);

  return html`<div class="plot" data-testid=${testid} data-series=${labels.length} data-points=${data[0].length}>
    <div ref=${box}></div>
    ${labels.length === 0 && html`<p class="muted plot-empty">${empty}</p>`}
  </div>`;
}

/** Series with their own timestamps -> uPlot's aligned columns (one x column; null where a series has no point). */
export function align(seriesList) {
  const xs = [...new Set(seriesList.flatMap((s) => s.xs))].sort((a, b) => a - b);
  const index = new Map(xs.map((x, i) => [x, i]));
  const columns = seriesList.map((s) => {
    const column = new Array(xs.length).fill(null);
    s.xs.forEach((x, i) => (column[index.get(x)] = s.ys[i]));
    return column;
  });
  return [xs, ...columns];
}

/**
 * `pick`: undefined for the most recent series, `topic:<topic>` for one topic's fields, `field:<name>` for one field
 * across topics (every room's `celsius`, say).
 */
export function ValuesChart({ store, pick, onPick }) {
  const all = [...store.series.values()];
  const topics = [...new Set(all.map((s) => s.topic))].sort();
  const topicsByField = new Map();
  for (const s of all) if (s.field) topicsByField.set(s.field, (topicsByField.get(s.field) ?? 0) + 1);
  const fields = [...topicsByField]
    .filter(([, n]) => n > 1)
    .map(([field]) => field)
    .sort();

  let picked = all.slice(-RECENT_SERIES);
  let labels = picked.map((s) => s.key);
  let value = '';
  if (pick?.startsWith('topic:') && topics.includes(pick.slice(6))) {
    picked = all.filter((s) => s.topic === pick.slice(6));
    labels = picked.map((s) => s.field || s.topic);
    value = pick;
  } else if (pick?.startsWith('field:') && fields.includes(pick.slice(6))) {
    picked = all.filter((s) => s.field === pick.slice(6)).sort((a, b) => (a.topic < b.topic ? -1 : 1));
    labels = picked.map((s) => s.topic);
    value = pick;
  }
  return html`
    <section class="panel chart values-panel">
      <div class="subhead">
        <h2>Values</h2>
        <select data-testid="chart-topic" value=${value} onChange=${(e) => onPick(e.currentTarget.value || undefined)}>
          <option value="">latest ${RECENT_SERIES} series</option>
          ${
            fields.length > 0 && html`<optgroup label="a field, every topic">${fields.map((f) => html`<option value=${`field:${f}`}>${f}</option>`)}</optgroup>`
          }
          ${topics.length > 0 && html`<optgroup label="a topic">${topics.map((t) => html`<option value=${`topic:${t}`}>${t}</option>`)}</optgroup>`}
        </select>
      </div>
      <${Plot}
        labels=${labels}
        data=${align(picked)}
        height=${200}
        testid="chart-values"
        empty="Numeric payloads (a number, or JSON with numeric fields) are plotted here."
      />
    </section>
  `;
}

export function RateChart({ store }) {
  const clients = [...store.rates.clients.entries()];
  const labels = ['page (messages/s)', ...clients.map(([name]) => `app ${name} (received/s)`)];
  const data = [store.rates.xs, store.rates.page, ...clients.map(([, values]) => values)];
  return html`
    <section class="panel chart rate-panel">
      <div class="subhead"><h2>Message rate</h2></div>
      <${Plot} labels=${labels} data=${data} height=${200} testid="chart-rate" empty="" />
    </section>
  `;
}
