// The header (the socket's own state, the simulator toggle) and the MQTT clients' connection status.
import { useState } from 'preact/hooks';
import { html } from './html.js';
import { count, protocolName } from './format.js';

const SOCKET_LABELS = { connecting: 'connecting…', connected: 'live', disconnected: 'disconnected', token: 'token needed' };

export function Header({ connection, snapshot, request }) {
  const [error, setError] = useState(undefined);
  const [pending, setPending] = useState(false);
  const simulating = Boolean(snapshot?.simulate);

  async function toggle() {
    setPending(true);
    const reply = await request('simulate', { on: !simulating });
    setPending(false);
    setError(reply.ok ? undefined : reply.error);
  }

  return html`
    <header class="top">
      <h1>nestjs-mqtt <span>dashboard</span></h1>
      <span class="pill socket-${connection.socket}" data-testid="socket-status" data-state=${connection.socket} title=${connection.error ?? ''}>
        <span class="dot"></span>${SOCKET_LABELS[connection.socket] ?? connection.socket}
      </span>
      <span class="spacer"></span>
      <label class="switch" title="The simulated room sensors (home/<room>/temperature and humidity)">
        <input type="checkbox" data-testid="simulate-toggle" checked=${simulating} disabled=${pending || !snapshot} onChange=${toggle} />
        <span>simulated sensors</span>
      </label>
      ${error && html`<span class="error" data-testid="simulate-error">${error}</span>`}
      <a href="/metrics" target="_blank" rel="noopener">metrics</a>
    </header>
  `;
}

export function Clients({ snapshot }) {
  const clients = snapshot?.clients ?? [];
  return html`
    <section class="panel clients" data-testid="clients">
      <h2>Connection</h2>
      ${clients.length === 0 && html`<p class="muted">No client yet.</p>`}
      ${clients.map((client) => html`<${ClientCard} key=${client.description.client} client=${client} />`)}
    </section>
  `;
}

function ClientCard({ client }) {
  const { description, stats } = client;
  const messages = stats.messages;
  return html`
    <div class="client" data-testid="client" data-client=${description.client}>
      <div class="client-head">
        <span class="status status-${stats.status}" data-testid="client-status">${stats.status}</span>
        <strong>${description.client}</strong>
        <span class="muted">${protocolName(description.protocolVersion)}</span>
      </div>
      <dl class="facts">
        <dt>broker</dt>
        <dd data-testid="client-url">${description.url}</dd>
        <dt>client id</dt>
        <dd data-testid="client-id">${description.clientId}</dd>
        <dt>reconnects</dt>
        <dd data-testid="client-reconnects">${count(stats.reconnects)}</dd>
        <dt>received</dt>
        <dd>
          ${count(messages.received)} <span class="muted">(${count(messages.dropped.unrouted)} unrouted, ${count(messages.dropped.duplicate)} duplicates)</span>
        </dd>
        <dt>handled</dt>
        <dd>${count(messages.handled)} <span class=${messages.failed > 0 ? 'bad' : 'muted'}>${count(messages.failed)} failed</span></dd>
        <dt>published</dt>
        <dd>${count(messages.published)} <span class=${messages.publishFailed > 0 ? 'bad' : 'muted'}>${count(messages.publishFailed)} failed</span></dd>
        <dt>in flight</dt>
        <dd>
          ${count(stats.inflightWindow.used)}/${count(stats.inflightWindow.limit)} <span class="muted">· ${count(stats.offlineQueue)} queued offline</span>
        </dd>
      </dl>
    </div>
  `;
}
