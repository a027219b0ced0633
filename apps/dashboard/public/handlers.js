// The app's bound handlers: describe()'s handlers joined with stats()'s by `Class#method`, per client.
import { useState } from 'preact/hooks';
import { html } from './html.js';
import { clock, count, duration } from './format.js';

/** One row per client and `Class#method`: its filters, QoS and share groups, and its counts and durations. */
export function handlerRows(clients) {
  const rows = [];
  for (const { description, stats } of clients) {
    const byName = new Map();
    for (const handler of description.handlers) {
      let row = byName.get(handler.handler);
      if (!row) {
        row = { client: description.client, handler: handler.handler, filters: [], qos: new Set(), share: new Set(), stats: undefined };
        byName.set(handler.handler, row);
      }
      row.filters.push(handler.filter ?? '(any topic: @OnMessage)');
      if (handler.qos !== undefined && handler.qos !== null) row.qos.add(handler.qos);
      if (handler.share) row.share.add(handler.share);
    }
    for (const handlerStats of stats.handlers) {
      let row = byName.get(handlerStats.handler);
      if (!row) {
        const filters = handlerStats.filters.length > 0 ? [...handlerStats.filters] : ['(any topic: @OnMessage)'];
        row = { client: description.client, handler: handlerStats.handler, filters, qos: new Set(), share: new Set(), stats: undefined };
        byName.set(handlerStats.handler, row);
      }
      row.stats = handlerStats;
    }
    rows.push(...byName.values());
  }
  return rows;
}

export function Handlers({ clients }) {
  const [filter, setFilter] = useState('');
  const rows = handlerRows(clients);
  const needle = filter.trim().toLowerCase();
  const visible = needle ? rows.filter((row) => `${row.handler} ${row.filters.join(' ')} ${row.client}`.toLowerCase().includes(needle)) : rows;
  const manyClients = clients.length > 1;

  return html`
    <section class="panel handlers">
      <div class="subhead">
        <h2>Handlers <span class="muted">${count(visible.length)}${needle ? ` of ${count(rows.length)}` : ''}</span></h2>
        <input
          type="search"
          class="narrow"
          data-testid="handlers-filter"
          placeholder="filter handlers"
          value=${filter}
          onInput=${(e) => setFilter(e.currentTarget.value)}
        />
      </div>
      <div class="table-wrap">
        <table data-testid="handlers-table">
          <thead>
            <tr>
              ${manyClients && html`<th>client</th>`}
              <th>filter</th>
              <th>handler</th>
              <th class="num">QoS</th>
              <th>share</th>
              <th class="num">handled</th>
              <th class="num">failed</th>
              <th>last error</th>
              <th class="num">p50</th>
              <th class="num">p99</th>
            </tr>
          </thead>
          <tbody>
            ${
              visible.length === 0 &&
              html`<tr>
                <td colspan=${manyClients ? 10 : 9} class="muted">${rows.length === 0 ? 'No handler bound.' : 'No handler matches the filter.'}</td>
              </tr>`
            }
            ${visible.map((row) => {
              const stats = row.stats;
              const failed = stats?.failed ?? 0;
              return html`
                <tr key=${`${row.client} ${row.handler}`} data-testid="handler-row" data-handler=${row.handler} class=${failed > 0 ? 'failing' : ''}>
                  ${manyClients && html`<td>${row.client}</td>`}
                  <td data-testid="handler-filter">${row.filters.map((f) => html`<code class="filter">${f}</code>`)}</td>
                  <td data-testid="handler-name"><code>${row.handler}</code></td>
                  <td class="num">${row.qos.size > 0 ? [...row.qos].join(', ') : '–'}</td>
                  <td>${row.share.size > 0 ? [...row.share].join(', ') : ''}</td>
                  <td class="num" data-testid="handler-handled">${count(stats?.handled)}</td>
                  <td class=${`num${failed > 0 ? ' bad' : ''}`} data-testid="handler-failed">${count(stats?.failed)}</td>
                  <td class="last-error" data-testid="handler-last-error" title=${stats?.lastError ? `${stats.lastError.message} (${stats.lastError.at})` : ''}>
                    ${stats?.lastError && html`<span class="bad">${stats.lastError.message}</span> <span class="muted">${clock(stats.lastError.at)}</span>`}
                  </td>
                  <td class="num" data-testid="handler-p50">${stats?.durationMs.count ? duration(stats.durationMs.p50) : '–'}</td>
                  <td class="num" data-testid="handler-p99">${stats?.durationMs.count ? duration(stats.durationMs.p99) : '–'}</td>
                </tr>
              `;
            })}
          </tbody>
        </table>
      </div>
    </section>
  `;
}
