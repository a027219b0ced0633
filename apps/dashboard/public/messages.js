// The live message list: newest first, a text filter (topic or payload), pause, and the gateway's skipped count.
import { useState } from 'preact/hooks';
import { html } from './html.js';
import { bytes, clock, count, oneLine } from './format.js';

export function Messages({ store }) {
  const [filter, setFilter] = useState('');
  const [paused, setPaused] = useState(undefined);
  const [cleared, setCleared] = useState(0);

  // Paused: the list stays as it was (a copy); new arrivals are counted, not shown.
  const source = paused ? paused.messages : store.messages;
  const shown = source.filter((m) => m.seq > cleared);
  const needle = filter.trim().toLowerCase();
  const visible = needle ? shown.filter((m) => m.topic.toLowerCase().includes(needle) || m.payload.toLowerCase().includes(needle)) : shown;
  const waiting = paused ? store.received - paused.received : 0;
  const newest = store.messages.length > 0 ? store.messages[store.messages.length - 1].seq : 0;

  return html`
    <section class="panel messages">
      <div class="subhead">
        <h2>Messages <span class="muted" data-testid="messages-count">${count(visible.length)}${needle ? ` of ${count(shown.length)}` : ''}</span></h2>
        <span class="muted small-text" data-testid="messages-skipped" title="Messages the server did not forward to this page (its per-second limit)">
          ${store.skipped.total > 0 ? `${count(store.skipped.total)} skipped (last batch ${count(store.skipped.last)})` : '0 skipped'}
        </span>
      </div>
      <div class="row">
        <input
          class="grow"
          type="search"
          data-testid="messages-filter"
          placeholder="filter by topic or payload"
          value=${filter}
          onInput=${(e) => setFilter(e.currentTarget.value)}
          spellcheck="false"
        />
        <button
          type="button"
          data-testid="messages-pause"
          aria-pressed=${paused ? 'true' : 'false'}
          onClick=${() => setPaused(paused ? undefined : { messages: store.messages.slice(), received: store.received })}
        >
          ${paused ? `Resume${waiting > 0 ? ` (${count(waiting)} new)` : ''}` : 'Pause'}
        </button>
        <button type="button" data-testid="messages-clear" title="Clear the list" onClick=${() => setCleared(newest)}>Clear</button>
      </div>
      <ol class="message-list" data-testid="message-list">
        ${visible.length === 0 && html`<li class="muted empty">${needle ? 'No message matches the filter.' : 'No message yet.'}</li>`}
        ${visible
          .slice()
          .reverse()
          .map(
            (m) => html`
              <li key=${m.seq} data-testid="message-row" data-topic=${m.topic}>
                <span class="time">${clock(m.at)}</span>
                <code class="topic" data-testid="message-topic">${m.topic}</code>
                <span class="meta">
                  ${m.retain && html`<span class="badge" title="retained">R</span>`}
                  <span class="muted" title=${`QoS ${m.qos}, ${m.encoding}`}>q${m.qos} · ${bytes(m.size)}${m.truncated ? ' (cut)' : ''}</span>
                </span>
                <span class=${`payload enc-${m.encoding}`} data-testid="message-payload" title=${m.payload}>${oneLine(m.payload)}</span>
              </li>
            `,
          )}
      </ol>
    </section>
  `;
}
