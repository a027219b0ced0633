// The dashboard page: wires the socket.io connection to the store and the panels.
import { render } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { html } from './html.js';
import { connect } from './connection.js';
import { Store } from './store.js';
import { Clients, Header } from './status.js';
import { Publish, Subscriptions } from './forms.js';
import { TopicTree } from './topic-tree.js';
import { Messages } from './messages.js';
import { Handlers } from './handlers.js';
import { RateChart, ValuesChart } from './charts.js';
import { TokenPrompt } from './token.js';

function App() {
  const store = useMemo(() => new Store(), []);
  const [, setVersion] = useState(0);
  const [connection, setConnection] = useState({ socket: 'connecting', error: undefined });
  const [snapshot, setSnapshot] = useState(undefined);
  const [subscriptions, setSubscriptions] = useState([]);
  const [selected, setSelected] = useState(undefined);
  const [chartPick, setChartPick] = useState(undefined);
  const [link, setLink] = useState(undefined);
  const [limits, setLimits] = useState(undefined);
  /** The page's filters as last known: a new socket (the server restarted, the network came back) subscribes them again. */
  const wanted = useRef([]);
  wanted.current = subscriptions;

  useEffect(() => {
    const unsubscribe = store.subscribe(() => setVersion((v) => v + 1));
    const onSnapshot = (next) => {
      setSnapshot(next);
      setSubscriptions(next.subscriptions ?? []);
      store.sampleRates(next);
    };
    const connection = connect({
      onState: setConnection,
      onHello: (hello) => {
        const lost = (hello.subscriptions ?? []).length === 0 ? wanted.current : [];
        setLimits(hello.limits);
        onSnapshot(hello);
        for (const { filter, qos } of lost) {
          void connection.request('subscribe', { filter, qos }).then((reply) => reply.ok && setSubscriptions(reply.subscriptions ?? []));
        }
      },
      onSnapshot,
      onMessages: (batch) => store.addBatch(batch),
    });
    setLink(connection);
    return unsubscribe;
  }, [store]);

  const request = (event, body) => (link ? link.request(event, body) : Promise.resolve({ ok: false, error: 'not connected yet' }));
  const clients = snapshot?.clients ?? [];
  const appSubscriptions = clients.flatMap((c) => c.description.subscriptions.map((s) => ({ ...s, client: c.description.client })));
  const mqtt5 = clients.some((c) => c.description.protocolVersion === 5);
  const select = (topic) => {
    setSelected(topic);
    if (topic && [...store.series.values()].some((s) => s.topic === topic)) setChartPick(`topic:${topic}`);
  };

  return html`
    <${Header} connection=${connection} snapshot=${snapshot} request=${request} />
    ${connection.socket === 'token' && html`<${TokenPrompt} error=${connection.error} onToken=${(token) => link?.useToken(token)} />`}
    <main class="grid">
      <${Clients} snapshot=${snapshot} />
      <${Subscriptions} request=${request} subscriptions=${subscriptions} appSubscriptions=${appSubscriptions} onChange=${setSubscriptions} />
      <${Publish} request=${request} mqtt5=${mqtt5} maxPayloadBytes=${limits?.maxPayloadBytes} />
      <${TopicTree} store=${store} selected=${selected} onSelect=${select} />
      <${Messages} store=${store} />
      <${ValuesChart} store=${store} pick=${chartPick} onPick=${setChartPick} />
      <${RateChart} store=${store} />
      <${Handlers} clients=${clients} />
    </main>
  `;
}

const root = document.getElementById('app');
root.textContent = ''; // the "Loading" line: render() adds to what is there
render(html`<${App} />`, root);
