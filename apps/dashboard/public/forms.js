// Subscribe / unsubscribe / unsubscribe-all and publish. Each form shows the gateway's refusal next to itself
// (`{ ok: false, error }`: nothing reached the broker) and clears it on the next success.
import { useState } from 'preact/hooks';
import { html } from './html.js';
import { bytes } from './format.js';

const utf8 = new TextEncoder();

/** Runs one request at a time for a form: `{ pending, error, done, run }`. */
function useRequest(request) {
  const [state, setState] = useState({ pending: false, error: undefined, done: undefined });
  async function run(event, body, doneText) {
    setState({ pending: true, error: undefined, done: undefined });
    const reply = await request(event, body);
    setState({ pending: false, error: reply.ok ? undefined : String(reply.error), done: reply.ok ? doneText : undefined });
    return reply;
  }
  return { ...state, run };
}

function QosSelect({ value, onChange, testid }) {
  return html`
    <select data-testid=${testid} value=${String(value)} onChange=${(e) => onChange(Number(e.currentTarget.value))} title="QoS">
      <option value="0">QoS 0</option>
      <option value="1">QoS 1</option>
      <option value="2">QoS 2</option>
    </select>
  `;
}

function Feedback({ state, name }) {
  if (state.error) return html`<p class="error" role="alert" data-testid=${`${name}-error`}>${state.error}</p>`;
  if (state.done) return html`<p class="ok" data-testid=${`${name}-status`}>${state.done}</p>`;
  return null;
}

/**
 * The page's subscriptions: the form, one row per filter with its unsubscribe button, unsubscribe-all, and the
 * app's own (decorated) subscriptions for reference. `onChange(list)` reports the list after a successful request.
 */
export function Subscriptions({ request, subscriptions, appSubscriptions, onChange }) {
  const [filter, setFilter] = useState('');
  const [qos, setQos] = useState(0);
  const form = useRequest(request);
  const list = useRequest(request);

  async function subscribe(event) {
    event.preventDefault();
    const wanted = filter.trim();
    const reply = await form.run('subscribe', { filter: wanted, qos }, `subscribed to ${wanted}`);
    if (reply.ok) onChange(replyList(reply) ?? [...subscriptions.filter((s) => s.filter !== wanted), { filter: wanted, qos }]);
  }

  async function unsubscribe(target) {
    const reply = await list.run('unsubscribe', { filter: target }, `unsubscribed from ${target}`);
    if (reply.ok) onChange(replyList(reply) ?? subscriptions.filter((s) => s.filter !== target));
  }

  async function unsubscribeAll() {
    const reply = await list.run('unsubscribeAll', {}, 'unsubscribed from all');
    if (reply.ok) onChange(replyList(reply) ?? []);
  }

  return html`
    <section class="panel subscribe">
      <h2>Subscribe</h2>
      <form class="row" onSubmit=${subscribe} data-testid="subscribe-form">
        <input
          class="grow"
          data-testid="subscribe-filter"
          placeholder="filter, e.g. home/+/temperature or #"
          value=${filter}
          onInput=${(e) => setFilter(e.currentTarget.value)}
          spellcheck="false"
          autocomplete="off"
        />
        <${QosSelect} testid="subscribe-qos" value=${qos} onChange=${setQos} />
        <button type="submit" data-testid="subscribe-submit" disabled=${form.pending}>Subscribe</button>
      </form>
      <${Feedback} state=${form} name="subscribe" />
      <div class="subhead">
        <h3>This page's subscriptions</h3>
        <button type="button" class="small" data-testid="unsubscribe-all" disabled=${list.pending || subscriptions.length === 0} onClick=${unsubscribeAll}>
          Unsubscribe all
        </button>
      </div>
      <ul class="subs" data-testid="subscriptions">
        ${subscriptions.length === 0 && html`<li class="muted">None: subscribe to see messages.</li>`}
        ${subscriptions.map(
          (s) => html`
            <li key=${s.filter} data-testid="subscription" data-filter=${s.filter}>
              <code>${s.filter}</code><span class="muted">QoS ${s.qos}</span>
              <button
                type="button"
                class="small"
                data-testid="unsubscribe"
                data-filter=${s.filter}
                disabled=${list.pending}
                onClick=${() => unsubscribe(s.filter)}
              >
                Unsubscribe
              </button>
            </li>
          `,
        )}
      </ul>
      <${Feedback} state=${list} name="subscriptions" />
      ${
        appSubscriptions.length > 0 &&
        html`
          <details class="app-subs">
            <summary>The app's subscriptions (${appSubscriptions.length})</summary>
            <ul class="subs">
              ${appSubscriptions.map(
                (s) =>
                  html`<li key=${`${s.client} ${s.filter}`}>
                    <code>${s.filter}</code><span class="muted">QoS ${s.qos}${s.granted === undefined ? ', not granted yet' : `, granted ${s.granted}`}</span>
                  </li>`,
              )}
            </ul>
          </details>
        `
      }
    </section>
  `;
}

function replyList(reply) {
  return Array.isArray(reply.subscriptions) ? reply.subscriptions : undefined;
}

let nextRowId = 1;
const emptyRow = () => ({ id: nextRowId++, key: '', value: '' });

/** Publish: topic, payload (UTF-8 text), QoS, retain, MQTT 5 user properties as key/value rows. */
export function Publish({ request, mqtt5, maxPayloadBytes }) {
  const [topic, setTopic] = useState('');
  const [payload, setPayload] = useState('');
  const [qos, setQos] = useState(0);
  const [retain, setRetain] = useState(false);
  const [rows, setRows] = useState([]);
  const form = useRequest(request);
  const size = utf8.encode(payload).length;

  const setRow = (id, field, value) => setRows(rows.map((row) => (row.id === id ? { ...row, [field]: value } : row)));

  async function publish(event) {
    event.preventDefault();
    const body = { topic, payload, qos, retain };
    const properties = rows.filter((row) => row.key !== '' || row.value !== '');
    if (properties.length > 0) body.userProperties = Object.fromEntries(properties.map((row) => [row.key, row.value]));
    await form.run('publish', body, `published to ${topic}`);
  }

  return html`
    <section class="panel publish">
      <h2>Publish</h2>
      <form onSubmit=${publish} data-testid="publish-form">
        <div class="row">
          <input
            class="grow"
            data-testid="publish-topic"
            placeholder="topic, e.g. home/kitchen/light"
            value=${topic}
            onInput=${(e) => setTopic(e.currentTarget.value)}
            spellcheck="false"
            autocomplete="off"
          />
          <${QosSelect} testid="publish-qos" value=${qos} onChange=${setQos} />
          <label class="check"
            ><input type="checkbox" data-testid="publish-retain" checked=${retain} onChange=${(e) => setRetain(e.currentTarget.checked)} /> retain</label
          >
        </div>
        <textarea
          data-testid="publish-payload"
          rows="3"
          placeholder='payload (UTF-8 text), e.g. {"on": true}'
          value=${payload}
          onInput=${(e) => setPayload(e.currentTarget.value)}
          spellcheck="false"
        ></textarea>
        <div class="props" data-testid="publish-props">
          ${rows.map(
            (row) => html`
              <div class="row" key=${row.id} data-testid="publish-prop">
                <input data-testid="publish-prop-key" placeholder="key" value=${row.key} onInput=${(e) => setRow(row.id, 'key', e.currentTarget.value)} />
                <input
                  class="grow"
                  data-testid="publish-prop-value"
                  placeholder="value"
                  value=${row.value}
                  onInput=${(e) => setRow(row.id, 'value', e.currentTarget.value)}
                />
                <button
                  type="button"
                  class="small"
                  data-testid="publish-prop-remove"
                  title="Remove"
                  onClick=${() => setRows(rows.filter((r) => r.id !== row.id))}
                >
                  ✕
                </button>
              </div>
            `,
          )}
        </div>
        <div class="row">
          <button type="button" class="small" data-testid="publish-prop-add" onClick=${() => setRows([...rows, emptyRow()])}>+ user property</button>
          ${!mqtt5 && html`<span class="muted small-text" title="This client speaks MQTT 3.1.1">MQTT 5 only</span>`}
          <span class="spacer"></span>
          <span class=${`small-text ${maxPayloadBytes !== undefined && size > maxPayloadBytes ? 'bad' : 'muted'}`} data-testid="publish-size">
            ${bytes(size)}${maxPayloadBytes !== undefined ? ` / ${bytes(maxPayloadBytes)}` : ''}
          </span>
          <button type="submit" data-testid="publish-submit" disabled=${form.pending}>Publish</button>
        </div>
      </form>
      <${Feedback} state=${form} name="publish" />
    </section>
  `;
}
